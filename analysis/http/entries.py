"""Assemble world.json entries (``routes``, ``identity_classes``) from mined statistics."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from analysis.http.identities import class_summary
from analysis.http.latency import latency_stats
from analysis.http.outcomes import outcome_stats

__all__ = ["add_route_rates", "class_entries", "route_entries"]

_ROUTE = ("host", "method", "route")


def _differs(a: Mapping[str, Any], b: Mapping[str, Any], ratio: float) -> bool:
    return any(
        a[q] > 0 and b[q] > 0 and abs(math.log(a[q] / b[q])) > math.log(ratio)
        for q in ("p50", "p90")
    )


def route_entries(
    ex: pl.LazyFrame, *, class_ratio: float = 1.25, class_min_samples: int = 50
) -> list[dict[str, Any]]:
    """``routes`` entries, sorted by host, route, method.

    An entry gets ``latency_ms_by_class`` (class -> latency object) when some identity class
    with at least ``class_min_samples`` answers has a p50 or p90 off by more than
    ``class_ratio`` from the route's.

    Examples
    --------
    >>> ex = pl.LazyFrame({"host": "h", "method": "GET", "route": "/x", "status": 200,
    ...                    "error": None, "limited": False, "duration_ms": [5.0, 7.0],
    ...                    "response_body_size": 10, "identity_class": "class-1"},
    ...                   schema_overrides={"error": pl.String})
    >>> (e,) = route_entries(ex)
    >>> e["count"], e["status_counts"], e["latency_ms"]["p50"]
    (2, {'200': 2}, 6.0)
    """
    # one compact copy read by every statistic: keys as categoricals (few distinct values)
    ex = (
        ex.select(
            pl.col(*_ROUTE, "identity_class").cast(pl.Categorical),
            "status",
            "error",
            "limited",
            "duration_ms",
            "response_body_size",
        )
        .collect()
        .lazy()
    )
    outcomes = outcome_stats(ex, _ROUTE)
    latency = latency_stats(ex, _ROUTE)
    by_class = latency_stats(
        ex.filter(pl.col("identity_class").is_not_null()), [*_ROUTE, "identity_class"]
    )
    entries = []
    for key in sorted(outcomes, key=lambda k: (k[0], k[2], k[1])):
        lat = latency.get(key)
        entry: dict[str, Any] = {
            "host": key[0],
            "method": key[1],
            "route": key[2],
            **outcomes[key],
            "latency_ms": lat,
        }
        if lat is not None:
            classes = {
                k[3]: v
                for k, v in sorted(by_class.items())
                if k[:3] == key and v["n"] >= class_min_samples
            }
            if any(_differs(v, lat, class_ratio) for v in classes.values()):
                entry["latency_ms_by_class"] = classes
        entries.append(entry)
    return entries


def add_route_rates(routes: list[dict[str, Any]], ex: pl.LazyFrame) -> None:
    """``per_identity_second`` on each of ``routes``: requests one identity sent to it within
    one clock second ({seconds, p50, p90, max}; anonymous requests as one identity), the
    judge's baseline for excess calls (:func:`analysis.judge.rates.per_second_stats`).

    Examples
    --------
    >>> from datetime import datetime
    >>> ex = pl.LazyFrame({"host": "h", "method": "GET", "route": "/x", "identity": None,
    ...                    "ts_start": [datetime(2024, 1, 1)] * 2})
    >>> routes = [{"host": "h", "method": "GET", "route": "/x"}]
    >>> add_route_rates(routes, ex)
    >>> routes[0]["per_identity_second"]
    {'seconds': 1, 'p50': 2.0, 'p90': 2.0, 'max': 2}
    """
    from analysis.judge.rates import per_second_stats, quantile_summary

    lf = ex.select(
        pl.col(*_ROUTE).cast(pl.Categorical),
        pl.col("identity").fill_null("").cast(pl.Categorical),
        "ts_start",
    )
    stats = per_second_stats(lf, list(_ROUTE), "identity")
    by_route = {
        (r["host"], r["method"], r["route"]): quantile_summary(r, "seconds")
        for r in stats.iter_rows(named=True)
    }
    for route in routes:
        found = by_route.get((route.get("host"), route.get("method"), route.get("route")))
        if found is not None:
            route["per_identity_second"] = found


def class_entries(
    mapping: Mapping[str, str],
    rate_limits: Sequence[Mapping[str, Any]],
    permissions: Sequence[Mapping[str, Any]],
    peaks: Mapping[str, float],
) -> list[dict[str, Any]]:
    """``identity_classes`` entries: name, member identities (sorted) and a summary.

    ``peaks``: class -> highest one-second request count of any of its identities.

    Examples
    --------
    >>> (entry,) = class_entries({"u2": "class-1", "u1": "class-1"}, [], [], {"class-1": 3.0})
    >>> entry["name"], entry["identities"], entry["summary"]
    ('class-1', ['u1', 'u2'], 'no limit observed (peak 3 req/s); refused: none')
    """
    members: dict[str, list[str]] = {}
    for identity, name in mapping.items():
        members.setdefault(name, []).append(identity)
    hosts = {e["host"] for e in [*rate_limits, *permissions]}
    out = []
    for name in sorted(members, key=lambda n: int(n.rsplit("-", 1)[1])):
        limits = [e for e in rate_limits if e.get("identity_class") == name]
        refused = [p for p in permissions if p["identity_class"] == name and not p["allowed"]]
        summary = class_summary(limits, refused, peaks.get(name), many_hosts=len(hosts) > 1)
        out.append({"name": name, "identities": sorted(members[name]), "summary": summary})
    return out
