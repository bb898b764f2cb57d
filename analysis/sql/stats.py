"""Per-fingerprint statistics: calls, latency percentiles and histogram, rows, errors.

The latency histogram has log-spaced bins from 0.01 ms to 60 s, eight per decade (edges
``0.01 * 10**(k/8)`` ms, the last clipped to 60 s), plus ``[0, 0.01)`` for faster statements
and ``[60000, max observed]`` for slower ones (as the HTTP histograms do). Only non-empty
bins are listed, as ``[lo_ms, hi_ms, count]``, in order.
"""

from __future__ import annotations

import math
from typing import Any, Final

import polars as pl

__all__ = [
    "HIST_BINS_PER_DECADE",
    "HIST_HI_MS",
    "HIST_LO_MS",
    "bin_edges",
    "latency_bin",
    "per_unit_calls",
    "sql_stats",
]

HIST_LO_MS: Final = 0.01
HIST_HI_MS: Final = 60_000.0
HIST_BINS_PER_DECADE: Final = 8
_N_BINS: Final = math.ceil(math.log10(HIST_HI_MS / HIST_LO_MS) * HIST_BINS_PER_DECADE)


def bin_edges(k: int, slowest: float | None = None) -> tuple[float, float]:
    """``(lo, hi)`` in milliseconds of histogram bin ``k``.

    Bin ``-1`` is ``[0, 0.01)``; bin 55 is ``[60000, slowest]``.

    >>> bin_edges(0), bin_edges(8), bin_edges(-1), bin_edges(55, 75000.0)
    ((0.01, 0.0133352), (0.1, 0.133352), (0.0, 0.01), (60000.0, 75000.0))
    """
    if k < 0:
        return 0.0, HIST_LO_MS
    if k >= _N_BINS:
        return HIST_HI_MS, float(slowest if slowest is not None else HIST_HI_MS)
    lo = HIST_LO_MS * 10 ** (k / HIST_BINS_PER_DECADE)
    hi = min(HIST_LO_MS * 10 ** ((k + 1) / HIST_BINS_PER_DECADE), HIST_HI_MS)
    return float(f"{lo:.6g}"), float(f"{hi:.6g}")


def latency_bin(duration_ms: str | pl.Expr = "duration_ms") -> pl.Expr:
    """Histogram bin index of a duration: -1 below 0.01 ms, 55 at 60 s or more.

    >>> ms = pl.Series([0.001, 0.01, 1.0, 59999.0, 1e9])
    >>> pl.select(latency_bin(pl.lit(ms))).to_series().to_list()
    [-1, 0, 16, 54, 55]
    """
    d = pl.col(duration_ms) if isinstance(duration_ms, str) else duration_ms
    scaled = (d.clip(HIST_LO_MS, HIST_HI_MS) / HIST_LO_MS).log10() * HIST_BINS_PER_DECADE
    # a tiny epsilon keeps exact edges (10 ** (k/8)) from rounding into the bin below
    inner = (scaled + 1e-9).floor().clip(0, _N_BINS - 1)
    return (
        pl.when(d < HIST_LO_MS)
        .then(-1)
        .when(d >= HIST_HI_MS)
        .then(_N_BINS)
        .otherwise(inner)
        .cast(pl.Int32)
    )


def _r(x: float | None) -> float | None:
    return None if x is None else round(float(x), 4)


def per_unit_calls(lf: pl.LazyFrame) -> pl.DataFrame:
    """Calls of each fingerprint per unit of work, over the units where it ran.

    ``lf`` needs ``fingerprint`` and ``unit`` (:func:`analysis.sql.with_units`). Returns
    ``fingerprint``, ``units``, ``p50``, ``p90`` (nearest rank) and ``max``, sorted; the
    world's ``sql[].per_unit`` and the judge's session side are both computed here.

    >>> lf = pl.LazyFrame({"fingerprint": ["a"] * 4 + ["b"], "unit": ["u", "u", "u", "v", "u"]})
    >>> per_unit_calls(lf).rows()
    [('a', 2, 3.0, 3.0, 3), ('b', 1, 1.0, 1.0, 1)]
    """
    n = pl.col("_n")
    return (
        lf.group_by("fingerprint", "unit")
        .agg(pl.len().alias("_n"))
        .group_by("fingerprint")
        .agg(
            pl.len().cast(pl.Int64).alias("units"),
            n.quantile(0.5, "nearest").cast(pl.Float64).alias("p50"),
            n.quantile(0.9, "nearest").cast(pl.Float64).alias("p90"),
            n.max().cast(pl.Int64).alias("max"),
        )
        .sort("fingerprint")
        .collect()
    )


def sql_stats(lf: pl.LazyFrame) -> list[dict[str, Any]]:
    """World ``sql`` entries, one per fingerprint, most-called first.

    Parameters
    ----------
    lf : pl.LazyFrame
        Statements with ``fingerprint``, ``normalized``, ``statement_type``, ``tables``,
        ``parsed`` (from :func:`analysis.sql.with_fingerprints`), ``duration_ms``, ``rows``
        and ``sqlstate``.

    Examples
    --------
    >>> lf = pl.LazyFrame({"fingerprint": ["a", "a"], "normalized": ["SELECT $1"] * 2,
    ...     "statement_type": ["SELECT"] * 2, "tables": [[], []], "parsed": [True, True],
    ...     "duration_ms": [1.0, 3.0], "rows": [1, 1], "sqlstate": [None, "57014"]})
    >>> entry = sql_stats(lf)[0]
    >>> entry["calls"], entry["latency_ms"]["max"], entry["errors"]
    (2, 3.0, {'57014': 1})
    """
    d, rows = pl.col("duration_ms"), pl.col("rows")
    per_fp = (
        lf.group_by("fingerprint")
        .agg(
            pl.col("normalized", "statement_type", "tables", "parsed").first(),
            pl.len().alias("calls"),
            *(d.quantile(q, "linear").alias(f"p{int(q * 100)}") for q in (0.5, 0.9, 0.99)),
            d.max().alias("max"),
            rows.quantile(0.5, "linear").alias("rows_p50"),
            rows.quantile(0.9, "linear").alias("rows_p90"),
            rows.max().alias("rows_max"),
        )
        .collect()
    )
    hist = (
        lf.filter(d.is_not_null())
        .group_by("fingerprint", latency_bin().alias("bin"))
        .agg(pl.len(), d.max().alias("slowest"))
        .sort("fingerprint", "bin")
        .collect()
    )
    errors = (
        lf.filter(pl.col("sqlstate").is_not_null())
        .group_by("fingerprint", "sqlstate")
        .len()
        .sort("fingerprint", "sqlstate")
        .collect()
    )
    bins: dict[str, list[list[float | int]]] = {}
    for fp, k, n, slowest in hist.iter_rows():
        bins.setdefault(fp, []).append([*bin_edges(k, slowest), n])
    errs: dict[str, dict[str, int]] = {}
    for fp, state, n in errors.iter_rows():
        errs.setdefault(fp, {})[state] = n
    out = []
    for r in per_fp.sort(["calls", "fingerprint"], descending=[True, False]).iter_rows(named=True):
        out.append(
            {
                "fingerprint": r["fingerprint"],
                "normalized": r["normalized"],
                "statement_type": r["statement_type"],
                "tables": list(r["tables"] or []),
                "calls": r["calls"],
                "latency_ms": {
                    "p50": _r(r["p50"]),
                    "p90": _r(r["p90"]),
                    "p99": _r(r["p99"]),
                    "max": _r(r["max"]),
                    "histogram": bins.get(r["fingerprint"], []),
                },
                "rows": {
                    "p50": _r(r["rows_p50"]),
                    "p90": _r(r["rows_p90"]),
                    "max": r["rows_max"],
                },
                "errors": errs.get(r["fingerprint"], {}),
                "parsed": r["parsed"],
            }
        )
    return out
