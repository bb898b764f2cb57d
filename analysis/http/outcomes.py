"""Outcomes per route: status counts, the error mix, response sizes.

``errors`` counts ``5xx`` answers and failed exchanges by kind, read from the tape's
``error`` text: ``timeout`` ("timeout", "timed out"), ``reset`` ("reset"), ``refused``
("refused") and ``other``; ``rate`` is their share of all exchanges of the route. Rate-limited
answers are not errors (they are in ``status_counts`` and in ``rate_limits``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

__all__ = ["ERROR_KINDS", "error_kind", "outcome_stats"]

ERROR_KINDS = ("5xx", "timeout", "reset", "refused", "other")


def error_kind(status: str | pl.Expr = "status", error: str | pl.Expr = "error") -> pl.Expr:
    """The error kind of an exchange (see the module docstring), null when it did not fail.

    Examples
    --------
    >>> df = pl.DataFrame({"status": [200, 503, None, None, None],
    ...                    "error": [None, None, "read timed out", "connection reset", "x"]})
    >>> df.select(error_kind()).to_series().to_list()
    [None, '5xx', 'timeout', 'reset', 'other']
    """
    st = pl.col(status) if isinstance(status, str) else status
    err = (pl.col(error) if isinstance(error, str) else error).str.to_lowercase()
    return (
        pl.when(err.str.contains("timeout|timed out"))
        .then(pl.lit("timeout"))
        .when(err.str.contains("reset"))
        .then(pl.lit("reset"))
        .when(err.str.contains("refused"))
        .then(pl.lit("refused"))
        .when(err.is_not_null())
        .then(pl.lit("other"))
        .when(st >= 500)
        .then(pl.lit("5xx"))
        .otherwise(pl.lit(None, dtype=pl.String))
        .alias("error_kind")
    )


def outcome_stats(ex: pl.LazyFrame, by: Sequence[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """Per ``by`` group: ``count``, ``status_counts``, ``errors`` and ``response_bytes``.

    Examples
    --------
    >>> ex = pl.LazyFrame({"route": "/a", "status": [200, 200, 500, None],
    ...                    "error": [None, None, None, "timeout"], "limited": False,
    ...                    "response_body_size": [10, 30, 5, None]})
    >>> s = outcome_stats(ex, ["route"])[("/a",)]
    >>> s["count"], s["status_counts"], s["errors"]["timeout"], s["errors"]["rate"]
    (4, {'200': 2, '500': 1}, 1, 0.5)
    """
    size = pl.col("response_body_size")
    answered = pl.col("status").is_not_null() & ~pl.col("limited")
    kinds = error_kind()
    main = (
        ex.group_by(*by)
        .agg(
            count=pl.len(),
            **{f"e_{k}": (kinds == k).sum() for k in ERROR_KINDS},
            p50=size.filter(answered).quantile(0.5, interpolation="linear"),
            p90=size.filter(answered).quantile(0.9, interpolation="linear"),
            p99=size.filter(answered).quantile(0.99, interpolation="linear"),
            max=size.filter(answered).max(),
            mean=size.filter(answered).mean(),
        )
        .collect()
    )
    statuses = (
        ex.filter(pl.col("status").is_not_null())
        .group_by(*by, "status")
        .agg(n=pl.len())
        .sort(*by, "status")
        .collect()
    )
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in main.iter_rows(named=True):
        errors = {k: r[f"e_{k}"] for k in ERROR_KINDS}
        errors["rate"] = round(sum(errors.values()) / r["count"], 4)
        sizes = {
            q: (None if r[q] is None else round(r[q], 1))
            for q in ("p50", "p90", "p99", "max", "mean")
        }
        out[tuple(r[c] for c in by)] = {
            "count": r["count"],
            "status_counts": {},
            "errors": errors,
            "response_bytes": sizes,
        }
    for r in statuses.iter_rows(named=True):
        out[tuple(r[c] for c in by)]["status_counts"][str(r["status"])] = r["n"]
    return out
