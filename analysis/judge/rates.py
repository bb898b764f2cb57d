"""Request rates from tape rows: the busiest 1-second window per key, and per-second counts.

Both sides of a comparison use these functions: the world builder for production's
baseline (``routes[].per_identity_second``) and the judge for the candidate's session, so a
number in a verdict and its baseline are always measured the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

__all__ = ["peak_rates", "per_second_stats", "quantile_summary"]


def peak_rates(lf: pl.LazyFrame, keys: Sequence[str], ts: str = "ts_start") -> pl.DataFrame:
    """Per group of ``keys``: ``requests``, ``peak_1s`` and ``mean_rate_per_s``.

    ``peak_1s`` is the largest number of rows in any 1-second window ``(t - 1 s, t]``;
    ``mean_rate_per_s`` is ``(requests - 1) / span`` from the group's first to its last row
    (null for a single row or a zero span). Groups come back sorted by ``keys``.

    Examples
    --------
    >>> import datetime as dt
    >>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    >>> ms = [0, 100, 200, 300, 400, 500, 2500]
    >>> lf = pl.LazyFrame({"who": ["a"] * 7, "ts_start": [t0 + dt.timedelta(milliseconds=m)
    ...                                                   for m in ms]})
    >>> peak_rates(lf, ["who"]).row(0)
    ('a', 7, 6, 2.4)
    """
    key_list = list(keys)
    t = pl.col(ts)
    peaks = (
        lf.filter(t.is_not_null())
        .sort([*key_list, ts])
        .rolling(index_column=ts, period="1s", group_by=key_list)
        .agg(pl.len().alias("_n"))
        .group_by(key_list)
        .agg(pl.col("_n").max().cast(pl.Int64).alias("peak_1s"))
    )
    span_s = (t.max() - t.min()).dt.total_microseconds() / 1e6
    totals = (
        lf.filter(t.is_not_null())
        .group_by(key_list)
        .agg(pl.len().cast(pl.Int64).alias("requests"), span_s.alias("_span"))
        .with_columns(
            pl.when(pl.col("_span") > 0)
            .then(((pl.col("requests") - 1) / pl.col("_span")).round(3))
            .alias("mean_rate_per_s")
        )
        .drop("_span")
    )
    return (
        totals.join(peaks, on=key_list, how="left", nulls_equal=True)
        .select(*key_list, "requests", "peak_1s", "mean_rate_per_s")
        .sort(key_list, nulls_last=True)
        .collect()
    )


def per_second_stats(
    lf: pl.LazyFrame, keys: Sequence[str], who: str, ts: str = "ts_start"
) -> pl.DataFrame:
    """Per group of ``keys``: rows one ``who`` sent within one clock second, over the seconds
    it sent any: ``seconds``, ``p50``, ``p90`` and ``max``.

    Examples
    --------
    >>> import datetime as dt
    >>> t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    >>> lf = pl.LazyFrame({"route": ["/a"] * 4, "who": ["x", "x", "x", "y"],
    ...                    "ts_start": [t0, t0, t0 + dt.timedelta(seconds=3), t0]})
    >>> per_second_stats(lf, ["route"], "who").row(0)
    ('/a', 3, 1.0, 2.0, 2)
    """
    key_list = list(keys)
    second = pl.col(ts).dt.truncate("1s").alias("_second")
    n = pl.col("_n")
    return (
        lf.filter(pl.col(ts).is_not_null())
        .group_by(*key_list, pl.col(who), second)
        .agg(pl.len().alias("_n"))
        .group_by(key_list)
        .agg(
            pl.len().cast(pl.Int64).alias("seconds"),
            n.quantile(0.5, "nearest").cast(pl.Float64).alias("p50"),
            n.quantile(0.9, "nearest").cast(pl.Float64).alias("p90"),
            n.max().cast(pl.Int64).alias("max"),
        )
        .sort(key_list, nulls_last=True)
        .collect()
    )


def quantile_summary(row: dict[str, Any], count_key: str) -> dict[str, Any]:
    """``{count_key, p50, p90, max}`` of a :func:`per_second_stats`-like row.

    >>> quantile_summary({"seconds": 3, "p50": 1.0, "p90": 2.0, "max": 2}, "seconds")
    {'seconds': 3, 'p50': 1.0, 'p90': 2.0, 'max': 2}
    """
    return {count_key: row[count_key], "p50": row["p50"], "p90": row["p90"], "max": row["max"]}
