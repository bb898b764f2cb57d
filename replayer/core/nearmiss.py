"""Near-miss reports: the recorded requests closest to one that matched nothing.

Candidates come from small buckets built at load (same host, method and route; same host and
first path segment), never from a scan of every exchange. They are ranked by how many key
parts agree, then by the edit distance between paths; each names the parts that differed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from understudy.matchkey import MatchKey

__all__ = ["KEY_PARTS", "edit_distance", "nearest"]

KEY_PARTS: Final = ("method", "host", "path", "query", "body")
_MAX_PATH: Final = 256


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (inputs capped at 256 characters).

    >>> edit_distance("/items/1", "/items/12"), edit_distance("", "abc")
    (1, 3)
    """
    a, b = a[:_MAX_PATH], b[:_MAX_PATH]
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def nearest(key: MatchKey, candidates: Iterable[MatchKey], limit: int = 3) -> list[dict[str, Any]]:
    """Up to ``limit`` candidates as ``{method, host, path, query, body_key, differs}``."""
    scored = []
    seen: set[MatchKey] = set()
    for c in candidates:
        if c in seen:
            continue
        seen.add(c)
        differs = [p for p in KEY_PARTS if getattr(c, p) != getattr(key, p)]
        scored.append((len(differs), edit_distance(key.path, c.path), c, differs))
    scored.sort(key=lambda t: (t[0], t[1], t[2].path, t[2].query, t[2].method))
    return [
        {
            "method": c.method,
            "host": c.host,
            "path": c.path,
            "query": c.query,
            "body_key": c.body,
            "differs": ["body_key" if p == "body" else p for p in differs],
        }
        for _, _, c, differs in scored[:limit]
    ]
