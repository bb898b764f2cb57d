"""The world's served tables, built from tapes with polars: deduplicated responses and results.

The replayer answers from these: ``http_exchanges`` maps each recorded request's match key
(the same :mod:`understudy.matchkey` parts the replayer computes) to a response id,
``http_responses`` holds each distinct response once; ``sql_calls`` and ``sql_results`` do
the same for statements by fingerprint and parameters.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from understudy.matchkey import body_key, normalize_query
from understudy.world.schema import (
    HTTP_EXCHANGES_SCHEMA,
    HTTP_RESPONSES_SCHEMA,
    SQL_CALLS_SCHEMA,
    SQL_RESULTS_SCHEMA,
)

__all__ = ["HOP_BY_HOP", "http_tables", "sql_tables"]

#: Response headers that describe the recorded transfer, not the response: never served.
HOP_BY_HOP = (
    "connection",
    "keep-alive",
    "transfer-encoding",
    "content-length",
    "content-encoding",
    "proxy-connection",
    "upgrade",
    "trailer",
)


def _header(name: str, col: str = "request_headers") -> pl.Expr:
    """First value of header ``name`` (case-insensitive) from a list<struct{name,value}>."""
    return (
        pl.col(col)
        .list.eval(
            pl.element()
            .filter(pl.element().struct.field("name").str.to_lowercase() == name)
            .struct.field("value")
        )
        .list.first()
    )


def _map_unique(lf: pl.LazyFrame, cols: list[str], out: str, fn: object) -> pl.LazyFrame:
    """Apply a Python function once per distinct value of ``cols`` and join it back."""
    distinct = lf.select(cols).unique().collect()
    values = [fn(*row) for row in distinct.iter_rows()]  # type: ignore[operator]
    mapping = distinct.with_columns(pl.Series(out, values, dtype=pl.String))
    return lf.join(mapping.lazy(), on=cols, how="left", nulls_equal=True)


def http_tables(exchanges: pl.LazyFrame) -> tuple[pa.Table, pa.Table]:
    """Build ``(http_exchanges, http_responses)`` from tape rows carrying ``route`` and
    ``identity_class`` columns.

    Responses are deduplicated by a hash of status, served headers and body; hop-by-hop and
    transfer headers are dropped because bodies are stored decoded.
    """
    served_headers = pl.col("response_headers").list.eval(
        pl.element().filter(~pl.element().struct.field("name").str.to_lowercase().is_in(HOP_BY_HOP))
    )
    lf = exchanges.with_columns(
        served_headers.alias("headers"),
        _header("content-type").alias("_ctype"),
        pl.col("request_body").fill_null(b""),
    )
    lf = lf.with_columns(
        pl.struct("status", "headers", "response_body")
        .hash(seed=7)
        .cast(pl.String)
        .alias("response_id")
    )
    lf = _map_unique(lf, ["query"], "_nquery", lambda q: normalize_query(q or ""))
    lf = _map_unique(lf, ["request_body", "_ctype"], "body_key", lambda b, c: body_key(b or b"", c))
    key = ["host", "method", "path", "_nquery", "body_key"]
    # repeated strings as categoricals (paths are too many): held, sorted and grouped as
    # small integers until the table is built
    repeated = ["host", "method", "route", "_nquery", "body_key", "identity", "identity_class"]
    ex = (
        lf.select(
            pl.col(repeated).cast(pl.Categorical),
            pl.col("error", "response_id").cast(pl.Categorical),
            "path",
            "status",
            "duration_ms",
            "ts_start",
        )
        .sort("ts_start")
        .with_columns(pl.int_range(pl.len()).over(key).cast(pl.Int32).alias("seq"))
        .select(
            "host",
            "method",
            "route",
            "path",
            pl.col("_nquery").alias("query"),
            "body_key",
            "identity",
            "identity_class",
            "seq",
            "status",
            "error",
            pl.when(pl.col("status").is_not_null())
            .then(pl.col("response_id"))
            .alias("response_id"),
            "duration_ms",
        )
    )
    responses = (
        lf.filter(pl.col("status").is_not_null())
        .unique("response_id", keep="first")
        .select(
            "response_id",
            "status",
            "headers",
            pl.col("response_body").fill_null(b"").alias("body"),
            pl.col("response_body_truncated").fill_null(False).alias("body_truncated"),
        )
    )
    ex_df, resp_df = pl.collect_all([ex, responses])  # (faster here than the streaming engine)
    return _arrow(ex_df, HTTP_EXCHANGES_SCHEMA), resp_df.to_arrow().cast(HTTP_RESPONSES_SCHEMA)


def _arrow(df: pl.DataFrame, schema: pa.Schema, rows: int = 1_000_000) -> pa.Table:
    """``df`` as an Arrow table of ``schema``, converted ``rows`` at a time (categoricals
    are decoded a slice at a time, never the whole frame at once).

    >>> _arrow(pl.DataFrame({"a": ["x", "y", "x"]}, schema={"a": pl.Categorical}),
    ...        pa.schema([("a", pa.string())]), rows=2).column("a").to_pylist()
    ['x', 'y', 'x']
    """
    batches = [
        batch
        for start in range(0, df.height, rows)
        for batch in df.slice(start, rows).to_arrow().cast(schema).to_batches()
    ]
    return pa.Table.from_batches(batches, schema=schema)


def sql_tables(statements: pl.LazyFrame) -> tuple[pa.Table, pa.Table]:
    """Build ``(sql_calls, sql_results)`` from tape rows carrying ``fingerprint`` and
    ``match_params`` (bound parameters, or the literals of a simple-protocol statement)."""
    lf = statements.with_columns(
        pl.struct(
            "command_tag", "columns", "result_formats", "result_rows", "sqlstate", "error_message"
        )
        .hash(seed=11)
        .cast(pl.String)
        .alias("result_id")
    )
    calls = (
        lf.sort("ts_start")
        .with_columns(
            pl.int_range(pl.len())
            .over(["fingerprint", pl.col("match_params").list.join("\x1f")])
            .cast(pl.Int32)
            .alias("seq")
        )
        .select(
            "fingerprint",
            pl.col("match_params").alias("params"),
            "seq",
            "result_id",
            "duration_ms",
        )
    )
    results = lf.unique("result_id", keep="first").select(
        "result_id",
        "command_tag",
        "columns",
        "result_formats",
        "result_rows",
        pl.col("result_truncated").fill_null(False),
        "rows",
        "sqlstate",
        "error_message",
    )
    calls_df, results_df = pl.collect_all([calls, results])
    return (
        calls_df.to_arrow().cast(SQL_CALLS_SCHEMA),
        results_df.to_arrow().cast(SQL_RESULTS_SCHEMA),
    )
