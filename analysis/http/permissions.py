"""Permissions: which identities (or identity classes) a route refuses, and with what status.

A group (one identity, or one class) is *refused* on ``(host, method, route)`` when at least
``threshold`` of its answers there are 401/403 (the status is the more frequent of the two),
or 404 while the other groups get mostly 2xx/3xx on the same route (a hidden resource, not a
missing one). Limited answers and failed exchanges say nothing about permissions and are left
out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

__all__ = ["permission_counts", "permission_entries", "refusals"]

_ROUTE = ["host", "method", "route"]


def permission_counts(ex: pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    """Per ``by`` + route: answers ``n``, successes ``n_ok`` (2xx/3xx), and 401/403/404s.

    Examples
    --------
    >>> ex = pl.LazyFrame({"host": "h", "method": "GET", "route": "/x", "who": "a",
    ...                    "status": [200, 403, None], "limited": False})
    >>> permission_counts(ex, ["who"]).collect().select("n", "n_ok", "n_403").rows()
    [(2, 1, 1)]
    """
    st = pl.col("status")
    return (
        ex.filter(st.is_not_null() & ~pl.col("limited"))
        .group_by(*by, *_ROUTE)
        .agg(
            n=pl.len(),
            n_ok=((st >= 200) & (st < 400)).sum(),
            n_401=(st == 401).sum(),
            n_403=(st == 403).sum(),
            n_404=(st == 404).sum(),
        )
    )


def refusals(counts: pl.LazyFrame, *, threshold: float = 0.9, min_404: int = 3) -> pl.LazyFrame:
    """Add ``refused_status`` (401, 403, 404 or null) to :func:`permission_counts` rows.

    Examples
    --------
    >>> counts = pl.LazyFrame({"host": "h", "method": "GET", "route": "/x",
    ...                        "who": ["a", "b", "c"], "n": [10, 10, 5], "n_ok": [0, 10, 0],
    ...                        "n_401": 0, "n_403": [10, 0, 0], "n_404": [0, 0, 5]})
    >>> refusals(counts).sort("who").collect()["refused_status"].to_list()
    [403, None, 404]
    """
    n = pl.col("n")
    denied = pl.col("n_401") + pl.col("n_403")
    others_ok = (pl.col("n_ok").sum().over(_ROUTE) - pl.col("n_ok")) / (n.sum().over(_ROUTE) - n)
    hidden = (pl.col("n_404") >= threshold * n) & (n >= min_404) & (others_ok >= 0.5)
    return counts.with_columns(
        refused_status=pl.when(denied >= threshold * n)
        .then(pl.when(pl.col("n_401") > pl.col("n_403")).then(401).otherwise(403))
        .when(hidden.fill_null(False))
        .then(404)
        .otherwise(None)
        .cast(pl.Int32)
    )


def permission_entries(ex: pl.LazyFrame, *, threshold: float = 0.9) -> list[dict[str, Any]]:
    """``permissions`` entries of world.json: one per route and identity class that used it.

    ``ex`` needs ``identity_class`` (null for anonymous requests: their own entries).

    Examples
    --------
    >>> ex = pl.LazyFrame({"host": "h", "method": "GET", "route": "/x",
    ...                    "identity_class": ["class-1", "class-2"], "status": [403, 200],
    ...                    "limited": False})
    >>> [(e["identity_class"], e["allowed"], e["status"]) for e in permission_entries(ex)]
    [('class-1', False, 403), ('class-2', True, None)]
    """
    rows = (
        refusals(permission_counts(ex, ["identity_class"]), threshold=threshold)
        .sort(*_ROUTE, "identity_class", nulls_last=True)
        .collect()
    )
    return [
        {
            "host": r["host"],
            "method": r["method"],
            "route": r["route"],
            "identity_class": r["identity_class"],
            "allowed": r["refused_status"] is None,
            "status": r["refused_status"],
        }
        for r in rows.iter_rows(named=True)
    ]
