"""Latency per route: quantiles and an empirical histogram a replayer can sample from.

Histogram buckets are log-spaced, :data:`PER_DECADE` per decade, from :data:`MIN_MS` to
:data:`MAX_MS` (edges ``0.1 * 10**(i/8)`` ms, the last one clipped to 60 s). World.json
carries only the non-empty ones, as ``[lo, hi, count]`` with ``lo <= ms < hi``; the first
bucket is ``[0, 0.1)``, the last ``[60000, max observed]``. To sample: pick a bucket in
proportion to ``count``, then a value log-uniformly in it (uniformly in the first).

Latency is measured on answered, non-limited exchanges (``duration_ms`` of refusals and
5xx included, of failed and rate-limited exchanges not: those are modelled apart).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Final

import polars as pl

__all__ = [
    "MAX_MS",
    "MIN_MS",
    "PER_DECADE",
    "histogram_edges",
    "latency_bucket",
    "latency_stats",
]

MIN_MS: Final = 0.1
MAX_MS: Final = 60_000.0
PER_DECADE: Final = 8
_N_INNER: Final = math.floor(PER_DECADE * math.log10(MAX_MS / MIN_MS)) + 1  # edges below MAX


def histogram_edges() -> list[float]:
    """Bucket edges in ms, ascending, from :data:`MIN_MS` to :data:`MAX_MS`.

    >>> edges = histogram_edges()
    >>> edges[:3], edges[-2:], len(edges)
    ([0.1, 0.133352, 0.177828], [56234.1, 60000.0], 48)
    """
    inner = [float(f"{MIN_MS * 10 ** (i / PER_DECADE):.6g}") for i in range(_N_INNER)]
    return [*inner, MAX_MS]


def latency_bucket(ms: str | pl.Expr) -> pl.Expr:
    """Histogram bucket index of a latency: 0 below 0.1 ms, ``len(edges)`` at 60 s or more.

    Examples
    --------
    >>> pl.DataFrame({"ms": [0.05, 0.1, 1.0, 59_999.0, 90_000.0]}).select(
    ...     latency_bucket("ms")).to_series().to_list()
    [0, 1, 9, 47, 48]
    """
    x = pl.col(ms) if isinstance(ms, str) else ms
    inner = ((x / MIN_MS).log10() * PER_DECADE + 1e-9).floor().cast(pl.Int64) + 1
    return (
        pl.when(x < MIN_MS)
        .then(0)
        .when(x >= MAX_MS)
        .then(_N_INNER + 1)
        .otherwise(inner.clip(1, _N_INNER))
        .cast(pl.Int64)
        .alias("bucket")
    )


def _answered(ex: pl.LazyFrame) -> pl.LazyFrame:
    return ex.filter(
        pl.col("status").is_not_null()
        & ~pl.col("limited")
        & pl.col("error").is_null()
        & pl.col("duration_ms").is_not_null()
    )


def latency_stats(ex: pl.LazyFrame, by: Sequence[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """``latency_ms`` objects of world.json, keyed by the ``by`` values.

    Examples
    --------
    >>> ex = pl.LazyFrame({"route": "/a", "duration_ms": [1.0, 2.0, 3.0, 100.0],
    ...                    "status": 200, "limited": False, "error": None})
    >>> stats = latency_stats(ex, ["route"])[("/a",)]
    >>> stats["p50"], stats["max"], stats["histogram"][0]
    (2.5, 100.0, [1.0, 1.33352, 1])
    """
    d = pl.col("duration_ms")
    answered = _answered(ex)
    quant = (
        answered.group_by(*by)
        .agg(
            n=pl.len(),
            p50=d.quantile(0.5, interpolation="linear"),
            p90=d.quantile(0.9, interpolation="linear"),
            p99=d.quantile(0.99, interpolation="linear"),
            max=d.max(),
        )
        .collect()
    )
    hist = (
        answered.group_by(*by, latency_bucket(d)).agg(count=pl.len()).sort(*by, "bucket").collect()
    )
    edges = histogram_edges()
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for r in quant.iter_rows(named=True):
        key = tuple(r[c] for c in by)
        out[key] = {q: round(r[q], 3) for q in ("p50", "p90", "p99", "max")}
        out[key]["n"] = r["n"]
        out[key]["histogram"] = []
    for r in hist.iter_rows(named=True):
        key, i = tuple(r[c] for c in by), r["bucket"]
        lo = 0.0 if i == 0 else edges[i - 1]
        hi = out[key]["max"] if i == len(edges) else edges[i]
        out[key]["histogram"].append([lo, hi, r["count"]])
    return out
