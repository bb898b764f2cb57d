"""The session report: what was asked, how it was matched, what was limited, refused, injected.

The JSON schema is documented in ``docs/session-report.md`` and versioned like every other
format (``schema_version``). :func:`summary_rows` gives the short table printed on exit.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from replayer.session.log import Session
from understudy.errors import ConfigError

__all__ = [
    "REPORT_FORMAT",
    "REPORT_SCHEMA_VERSION",
    "build_report",
    "quantiles",
    "summary_rows",
    "write_report",
]

REPORT_FORMAT: Final = "understudy-session-report"
REPORT_SCHEMA_VERSION: Final = 1
KINDS: Final = ("exact", "route", "miss", "limited", "refused", "fault")


def quantiles(samples: Sequence[float]) -> dict[str, float | int | None]:
    """``{n, p50, p90, p99, max}`` in milliseconds (nearest rank), None when empty.

    >>> quantiles([1.0, 2.0, 3.0, 4.0])["p50"]
    2.0
    """
    if not samples:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None}
    data = sorted(samples)
    n = len(data)

    def rank(q: float) -> float:
        return round(data[min(n - 1, max(0, int(q * n + 0.999999) - 1))], 3)

    return {"n": n, "p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99),
            "max": round(data[-1], 3)}  # fmt: skip


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


def _tally(session: Session) -> tuple[dict[Any, Counter[str]], dict[Any, Counter[int]],
                                       Counter[str], Counter[str]]:  # fmt: skip
    by_route: dict[Any, Counter[str]] = defaultdict(Counter)
    statuses: dict[Any, Counter[int]] = defaultdict(Counter)
    kinds: Counter[str] = Counter()
    outcomes: Counter[str] = Counter()
    for outcome, per in session.counts.items():
        for (rkey, kind, status), n in per.items():
            by_route[rkey][kind] += n
            kinds[kind] += n
            outcomes[outcome] += n
            if status is not None:
                statuses[rkey][status] += n
    return by_route, statuses, kinds, outcomes


def build_report(session: Session, settings: Mapping[str, Any]) -> dict[str, Any]:
    """The report document of ``session``; ``settings`` are echoed (mode, seed, world...)."""
    by_route, statuses, kinds, outcomes = _tally(session)
    routes = []
    for rkey, per in sorted(by_route.items(), key=lambda kv: (kv[0][0], kv[0][2] or "",
                                                              kv[0][1])):  # fmt: skip
        host, method, route = rkey
        routes.append({
            "host": host, "method": method, "route": route,
            "requests": sum(per.values()),
            "matched": {k: per.get(k, 0) for k in KINDS},
            "statuses": {str(s): n for s, n in sorted(statuses[rkey].items())},
            "served_latency_ms": quantiles(session.latencies.get(rkey, [])),
        })  # fmt: skip
    misses = sorted(session.misses.values(), key=lambda m: (-m["count"], m["path"]))
    limited = [
        {"host": h, "limit_route": lr, "identity_class": c, "route": r, "count": n,
         "limit": session.limits_seen.get((h, lr, c, r), {})}
        for (h, lr, c, r), n in sorted(session.limited.items())
    ]  # fmt: skip
    refusals = [
        {"host": h, "method": m, "route": r, "identity_class": c, "status": s, "count": n}
        for (h, m, r, c, s), n in sorted(session.refused.items())
    ]
    faults = [
        {"host": h, "method": m, "route": r, "fault": f, "count": n}
        for (h, m, r, f), n in sorted(session.faults.items())
    ]
    unknown = [
        {"identity": ident, "count": n, "class_used": session.unknown_class.get(ident)}
        for ident, n in sorted(session.unknown.items(), key=lambda kv: (-kv[1], kv[0] or ""))
    ]
    ended = session.ended_wall
    return {
        "format": REPORT_FORMAT,
        "schema_version": REPORT_SCHEMA_VERSION,
        "started": _iso(session.started_wall),
        "ended": _iso(ended),
        "duration_s": None if ended is None else round(ended - session.started_wall, 3),
        "settings": dict(settings),
        "totals": {
            "requests": sum(kinds.values()),
            **{k: kinds.get(k, 0) for k in KINDS},
            "outcomes": dict(sorted(outcomes.items())),
        },
        "routes": routes,
        "misses": misses,
        "misses_not_listed": session.misses_dropped,
        "limited": limited,
        "refusals": refusals,
        "faults": faults,
        "unknown_identities": unknown,
    }


def summary_rows(report: Mapping[str, Any]) -> list[list[Any]]:
    """One row per route: requests, exact, route, miss, limited, refused, fault, p50, p99."""
    rows = []
    for r in report["routes"]:
        m = r["matched"]
        lat = r["served_latency_ms"]
        rows.append([
            f"{r['method']} {r['host']}{r['route'] or ' (no route)'}", r["requests"],
            *(m[k] for k in KINDS), lat["p50"], lat["p99"],
        ])  # fmt: skip
    return rows


def write_report(path: Path, report: Mapping[str, Any]) -> None:
    """Write the report atomically (0600); a failure is a :class:`ConfigError` line."""
    path = path.expanduser()
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, default=str)
            f.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ConfigError(f"--report {path}: cannot write ({exc.strerror or exc})") from exc
