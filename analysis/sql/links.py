"""Link SQL statements to the HTTP exchange that caused them.

1. By W3C trace context: the trace id of the statement (its ``traceparent`` column, else a
   sqlcommenter ``traceparent='...'`` comment in its text) equals the trace id of an HTTP
   exchange's ``traceparent`` header. Among several exchanges of one trace, the one whose
   ``[ts_start, ts_end]`` holds the statement wins, then the shortest, then the smallest id.
2. Else by time: the statement's ``ts_start`` lies inside exactly one exchange's
   ``[ts_start, ts_end]`` (inclusive). Statements inside several are left unlinked.

Both steps are joins on sorted keys (``join_asof``), never a scan of every exchange.
"""

from __future__ import annotations

from typing import Final

import polars as pl

__all__ = ["LINK_METHODS", "link_statements", "sql_trace_id", "trace_id"]

LINK_METHODS: Final = ("traceparent", "time_window")
_TRACEPARENT: Final = r"(?i)\b[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\b"
_SQLCOMMENTER: Final = (
    r"(?i)traceparent\s*=\s*'?[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}"
)
_NO_TRACE: Final = "0" * 32


def _valid(trace: pl.Expr) -> pl.Expr:
    trace = trace.str.to_lowercase()
    return pl.when(trace != _NO_TRACE).then(trace)


def trace_id(traceparent: str | pl.Expr = "traceparent") -> pl.Expr:
    """The 32-hex trace id of a W3C ``traceparent`` value (null if absent or invalid).

    >>> tp = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"
    >>> pl.select(trace_id(pl.lit(tp))).item()
    '4bf92f3577b34da6a3ce929d0e0e4736'
    """
    col = pl.col(traceparent) if isinstance(traceparent, str) else traceparent
    return _valid(col.cast(pl.String).str.extract(_TRACEPARENT, 1))


def sql_trace_id(traceparent: str = "traceparent", sql: str = "sql") -> pl.Expr:
    """Trace id of a statement: its ``traceparent`` column, else its sqlcommenter comment.

    >>> df = pl.DataFrame({"traceparent": [None], "sql": [
    ...     "SELECT 1 /*traceparent='00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01'*/"]})
    >>> df.select(sql_trace_id()).item()
    '0af7651916cd43dd8448eb211c80319c'
    """
    from_text = _valid(pl.col(sql).cast(pl.String).str.extract(_SQLCOMMENTER, 1))
    return pl.coalesce(trace_id(traceparent), from_text)


def _by_trace(stmts: pl.LazyFrame, http: pl.LazyFrame) -> pl.LazyFrame:
    t = pl.col("ts_start")
    return (
        stmts.filter(pl.col("_trace").is_not_null())
        .select("_row", "ts_start", "_trace")
        .join(http.filter(pl.col("_trace").is_not_null()), on="_trace", how="inner")
        .with_columns(
            ((t >= pl.col("_h_start")) & (t <= pl.col("_h_end"))).fill_null(False).alias("_inside"),
            (pl.col("_h_end") - pl.col("_h_start")).alias("_dur"),
        )
        .sort(["_row", "_inside", "_dur", "exchange_id"], descending=[False, True, False, False])
        .group_by("_row", maintain_order=True)
        .agg(pl.col("exchange_id").first().alias("_tp_request"))
    )


def _by_time(stmts: pl.LazyFrame, http: pl.LazyFrame) -> pl.LazyFrame:
    """For each statement: how many exchanges hold its start, and which one if just one.

    The holder is the exchange with the latest end among those started by then: when only
    one exchange is open, that is it.
    """
    timed = http.filter(pl.col("_h_start").is_not_null())
    starts = (
        timed.sort("_h_start", "exchange_id")
        .with_columns(
            pl.int_range(1, pl.len() + 1).alias("_started"),
            pl.col("_h_end").cum_max().alias("_max_end"),
        )
        .with_columns(
            pl.when(pl.col("_h_end") == pl.col("_max_end"))
            .then(pl.col("exchange_id"))
            .forward_fill()
            .alias("_holder")
        )
        .group_by("_h_start")
        .agg(pl.col("_started").max(), pl.col("_holder").last())
        .sort("_h_start")
    )
    ends = (
        timed.select("_h_end")
        .sort("_h_end")
        .with_columns(pl.int_range(1, pl.len() + 1).alias("_ended"))
        .group_by("_h_end")
        .agg(pl.col("_ended").max())
        .sort("_h_end")
    )
    return (
        stmts.filter(pl.col("ts_start").is_not_null())
        .select("_row", "ts_start")
        .sort("ts_start")
        .join_asof(starts, left_on="ts_start", right_on="_h_start", strategy="backward")
        .join_asof(
            ends,
            left_on="ts_start",
            right_on="_h_end",
            strategy="backward",
            allow_exact_matches=False,
        )
        .select(
            "_row",
            (pl.col("_started").fill_null(0) - pl.col("_ended").fill_null(0)).alias("_n_open"),
            "_holder",
        )
    )


def link_statements(stmts: pl.LazyFrame, http: pl.LazyFrame) -> pl.LazyFrame:
    """Link each statement to an HTTP exchange.

    Parameters
    ----------
    stmts : pl.LazyFrame
        ``_row`` (a unique row id), ``ts_start``, ``traceparent`` and ``sql``.
    http : pl.LazyFrame
        ``exchange_id``, ``ts_start``, ``ts_end`` and ``traceparent`` (HTTP_SCHEMA).

    Returns
    -------
    pl.LazyFrame
        ``_row``, ``request_id`` (exchange id or null), ``link_method`` (``"traceparent"``,
        ``"time_window"`` or null) and ``open_exchanges`` (how many exchanges hold the
        statement's start; more than one and no trace id means ambiguous).

    Examples
    --------
    >>> import datetime as dt
    >>> t = lambda ms: dt.datetime(2024, 1, 1, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    >>> http = pl.LazyFrame({"exchange_id": ["a", "b"], "ts_start": [t(0), t(100)],
    ...     "ts_end": [t(50), t(150)], "traceparent": [None, None]})
    >>> stmts = pl.LazyFrame({"_row": [0, 1, 2], "ts_start": [t(10), t(120), t(70)],
    ...     "traceparent": [None] * 3, "sql": ["SELECT 1"] * 3})
    >>> links = link_statements(stmts, http).sort("_row").collect()
    >>> links.select("request_id", "link_method").rows()
    [('a', 'time_window'), ('b', 'time_window'), (None, None)]
    """
    stmts = stmts.with_columns(sql_trace_id().alias("_trace"))
    http = http.select(
        "exchange_id",
        pl.col("ts_start").alias("_h_start"),
        pl.coalesce("ts_end", "ts_start").alias("_h_end"),
        trace_id("traceparent").alias("_trace"),
    )
    tp = pl.col("_tp_request")
    window = pl.when(pl.col("_n_open") == 1).then(pl.col("_holder"))
    return (
        stmts.select("_row")
        .join(_by_trace(stmts, http), on="_row", how="left")
        .join(_by_time(stmts, http), on="_row", how="left")
        .select(
            "_row",
            pl.coalesce(tp, window).alias("request_id"),
            pl.when(tp.is_not_null())
            .then(pl.lit("traceparent"))
            .when(window.is_not_null())
            .then(pl.lit("time_window"))
            .alias("link_method"),
            pl.col("_n_open").fill_null(0).alias("open_exchanges"),
        )
    )
