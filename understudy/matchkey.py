"""Canonical request keys, shared by the world builder and the replayer so both agree.

The replayer matches an incoming request to recorded exchanges by named parts (method, host,
route and path, normalized query, canonical body). Both sides compute those parts with these
functions, after the same redaction, so a redacted field or a reordered query still matches.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode

__all__ = ["MatchKey", "body_key", "normalize_query"]


def normalize_query(query: str) -> str:
    """Sort query parameters by key (stable for repeated keys); keep blank values.

    >>> normalize_query("b=2&a=1&b=1")
    'a=1&b=2&b=1'
    >>> normalize_query("")
    ''
    """
    if not query:
        return ""
    try:
        pairs = parse_qsl(query, keep_blank_values=True)
    except ValueError:
        return query
    return urlencode(sorted(pairs, key=lambda kv: kv[0]))


def body_key(body: bytes | None, content_type: str | None = None) -> str:
    """A short hash of a request body; JSON is canonicalised (key order, whitespace).

    >>> body_key(b'{"b": 1, "a": 2}') == body_key(b'{"a":2,"b":1}')
    True
    >>> body_key(b"")
    ''
    """
    if not body:
        return ""
    data = body
    ctype = (content_type or "").lower()
    if "json" in ctype or body.lstrip()[:1] in (b"{", b"["):
        try:
            data = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
        except (ValueError, RecursionError, UnicodeEncodeError):
            data = body
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class MatchKey:
    """The named parts an exact match compares; hashable, so indexes are plain dicts."""

    method: str
    host: str
    path: str
    query: str
    body: str
