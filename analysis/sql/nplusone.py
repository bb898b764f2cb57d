"""N+1 detection: one SELECT shape run many times, with different values, in one unit.

A *unit* is the HTTP exchange a statement is linked to; an unlinked statement belongs to
its connection's current burst: a new burst starts after a linked statement, or after a
gap of at least ``burst_gap_ms`` (end of one statement to start of the next) outside a
transaction. A transaction is never split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

__all__ = ["NPlusOneSettings", "find_n_plus_one", "with_units"]


@dataclass(frozen=True, slots=True)
class NPlusOneSettings:
    """Thresholds of :func:`find_n_plus_one`.

    Attributes
    ----------
    min_calls : int
        Executions of one SELECT fingerprint within a unit.
    min_distinct : int or None
        Distinct parameter sets among them (``None``: same as ``min_calls``).
    burst_gap_ms : float
        Idle gap that ends a connection burst.
    """

    min_calls: int = 5
    min_distinct: int | None = None
    burst_gap_ms: float = 50.0

    def __post_init__(self) -> None:
        if self.min_calls < 2 or (self.min_distinct is not None and self.min_distinct < 1):
            raise ValueError("n_plus_one thresholds: min_calls >= 2 and min_distinct >= 1")
        if self.burst_gap_ms < 0:
            raise ValueError("n_plus_one burst_gap_ms must be >= 0")


def with_units(lf: pl.LazyFrame, burst_gap_ms: float = 50.0) -> pl.LazyFrame:
    """Add ``unit``: ``r:<exchange_id>`` for linked statements, else ``c:<conn>:<burst>``.

    ``lf`` needs ``request_id``, ``conn_id``, ``seq``, ``ts_start``, ``ts_end`` and
    ``tx_status``; rows come back ordered by connection and sequence.
    """
    conn = pl.col("conn_id").fill_null("")

    def prev(name: str) -> pl.Expr:
        return pl.col(name).shift(1).over(conn)

    gap_ms = (pl.col("ts_start") - prev("ts_end")).dt.total_microseconds() / 1000.0
    first = pl.int_range(pl.len()).over(conn) == 0
    in_tx = prev("tx_status").is_in(["in_transaction", "failed"]).fill_null(False)
    new_burst = (
        first
        | prev("request_id").is_not_null()
        | (~in_tx & (gap_ms.is_null() | (gap_ms >= burst_gap_ms)))
    )
    burst = new_burst.cast(pl.Int64).cum_sum().over(conn)
    return lf.sort("conn_id", "seq", "ts_start", nulls_last=True).with_columns(
        pl.when(pl.col("request_id").is_not_null())
        .then(pl.lit("r:") + pl.col("request_id"))
        .otherwise(pl.lit("c:") + conn + pl.lit(":") + burst.cast(pl.String))
        .alias("unit")
    )


def find_n_plus_one(
    lf: pl.LazyFrame,
    routes: pl.LazyFrame | None = None,
    settings: NPlusOneSettings | None = None,
) -> list[dict[str, Any]]:
    """World ``n_plus_one`` entries, most frequent first.

    Parameters
    ----------
    lf : pl.LazyFrame
        Statements with ``fingerprint``, ``statement_type``, ``param_key`` (equal iff the
        values are equal), ``request_id`` and the columns :func:`with_units` needs.
    routes : pl.LazyFrame, optional
        ``exchange_id`` and ``route`` of the HTTP exchanges; without it ``route`` is null.
    settings : NPlusOneSettings, optional

    Returns
    -------
    list of dict
        ``fingerprint``, ``route``, ``typical_per_request`` (median executions per unit),
        ``max_per_request`` and ``occurrences`` (units where the pattern fired).
    """
    s = settings or NPlusOneSettings()
    min_distinct = s.min_calls if s.min_distinct is None else s.min_distinct
    per_unit = (
        with_units(lf.filter(pl.col("statement_type") == "SELECT"), s.burst_gap_ms)
        .group_by("unit", "fingerprint")
        .agg(
            pl.len().alias("n"),
            pl.col("param_key").n_unique().alias("distinct"),
            pl.col("request_id").first(),
        )
        .filter((pl.col("n") >= s.min_calls) & (pl.col("distinct") >= min_distinct))
    )
    if routes is not None:
        per_unit = per_unit.collect().lazy()  # the few units that fired: look up their routes
        fired = per_unit.select("request_id").drop_nulls().unique()
        route_of = (
            routes.select(pl.col("exchange_id").alias("request_id"), "route")
            .join(fired, on="request_id", how="semi")
            .unique("request_id")
        )
        per_unit = per_unit.join(route_of, on="request_id", how="left")
    else:
        per_unit = per_unit.with_columns(pl.lit(None, pl.String).alias("route"))
    found = (
        per_unit.group_by("fingerprint", "route")
        .agg(
            pl.col("n").median().alias("typical"),
            pl.col("n").max().alias("max"),
            pl.len().alias("occurrences"),
        )
        .sort(["occurrences", "max", "fingerprint"], descending=[True, True, False])
        .collect()
    )
    return [
        {
            "fingerprint": r["fingerprint"],
            "route": r["route"],
            "typical_per_request": math.floor(r["typical"] + 0.5),
            "max_per_request": r["max"],
            "occurrences": r["occurrences"],
        }
        for r in found.iter_rows(named=True)
    ]
