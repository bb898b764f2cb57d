"""``mine_sql``: from tape SQL (and HTTP) rows to the world's ``sql`` and ``n_plus_one``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import polars as pl

from analysis.sql.fingerprints import with_fingerprints
from analysis.sql.links import link_statements
from analysis.sql.nplusone import NPlusOneSettings, find_n_plus_one
from analysis.sql.shapes import with_shapes
from analysis.sql.stats import sql_stats
from understudy.tape.schema import HTTP_SCHEMA, SQL_SCHEMA

__all__ = ["SqlWorld", "mine_sql"]

_SQL_COLUMNS: Final = (
    "sql", "params", "duration_ms", "rows", "sqlstate", "traceparent",
    "ts_start", "ts_end", "conn_id", "seq", "tx_status",
)  # fmt: skip
_HTTP_COLUMNS: Final = ("exchange_id", "ts_start", "ts_end", "traceparent")
_SQL_TYPES: Final = pl.Schema(pl.from_arrow(SQL_SCHEMA.empty_table()).schema)  # type: ignore[union-attr]
_HTTP_TYPES: Final = pl.Schema(pl.from_arrow(HTTP_SCHEMA.empty_table()).schema)  # type: ignore[union-attr]


@dataclass(frozen=True)
class SqlWorld:
    """What :func:`mine_sql` found.

    Attributes
    ----------
    sql : list of dict
        World ``sql`` entries (see :func:`analysis.sql.stats.sql_stats`).
    n_plus_one : list of dict
        World ``n_plus_one`` entries (see :func:`analysis.sql.nplusone.find_n_plus_one`).
    links : dict
        Counts of statements linked by ``traceparent``, by ``time_window``, ``unlinked``
        (of which ``ambiguous``: inside several exchanges), and HTTP exchanges with SQL.
    statements : pl.LazyFrame
        The input rows plus ``fingerprint``, ``request_id`` (HTTP ``exchange_id`` or null)
        and ``link_method``, in input order.
    """

    sql: list[dict[str, Any]]
    n_plus_one: list[dict[str, Any]]
    links: dict[str, int]
    statements: pl.LazyFrame


def _select(lf: pl.LazyFrame, names: tuple[str, ...], types: pl.Schema) -> pl.LazyFrame:
    have = lf.collect_schema()
    return lf.select(
        pl.col(n).cast(types[n]) if n in have else pl.lit(None, types[n]).alias(n) for n in names
    )


def mine_sql(
    sql_lf: pl.LazyFrame,
    http_lf: pl.LazyFrame | None = None,
    *,
    routes: pl.LazyFrame | None = None,
    n_plus_one_min: int = 5,
    n_plus_one_min_distinct: int | None = None,
    burst_gap_ms: float = 50.0,
) -> SqlWorld:
    """Mine SQL statement rows (SQL_SCHEMA) into world entries.

    Parameters
    ----------
    sql_lf : pl.LazyFrame
        Tape SQL rows; only ``sql`` is required, missing columns count as null.
    http_lf : pl.LazyFrame, optional
        Tape HTTP rows, to link statements to requests; an optional ``route`` column (route
        template) names the route of each N+1 finding.
    routes : pl.LazyFrame, optional
        ``exchange_id, route`` of the HTTP rows, when ``http_lf`` has no ``route`` column
        (so linking reads the plain tape rows, and routes are looked up for N+1 findings only).
    n_plus_one_min : int
        Executions of one SELECT fingerprint per unit that make an N+1.
    n_plus_one_min_distinct : int, optional
        Distinct parameter sets required among them (default: ``n_plus_one_min``).
    burst_gap_ms : float
        Idle gap that ends a connection burst (the unit of unlinked statements).

    Returns
    -------
    SqlWorld

    Examples
    --------
    >>> lf = pl.LazyFrame({"sql": [f"SELECT * FROM t WHERE id = {i}" for i in range(3)]})
    >>> world = mine_sql(lf)
    >>> [(e["normalized"], e["calls"]) for e in world.sql]
    [('SELECT * FROM t WHERE id = $1', 3)]
    >>> world.links["unlinked"], world.statements.collect().width
    (3, 4)
    """
    settings = NPlusOneSettings(n_plus_one_min, n_plus_one_min_distinct, burst_gap_ms)
    params = pl.col("params").list.eval(pl.element().fill_null("\x00")).list.join("\x1f")
    prepared = (
        _select(sql_lf, _SQL_COLUMNS, _SQL_TYPES)
        .with_row_index("_row")
        .pipe(with_shapes, canonical="_canonical", shape="_shape")
        .with_columns(
            pl.concat_str(["_canonical", params], separator="\x1e", ignore_nulls=True).alias(
                "param_key"
            ),
        )
        .drop("_canonical")
    )
    work = with_fingerprints(prepared, shape="_shape").drop("_shape").collect()
    http = _select(http_lf, _HTTP_COLUMNS, _HTTP_TYPES) if http_lf is not None else None
    if http is not None:
        links = link_statements(work.lazy(), http).collect()
    else:
        links = work.select(
            "_row",
            pl.lit(None, pl.String).alias("request_id"),
            pl.lit(None, pl.String).alias("link_method"),
            pl.lit(0, pl.Int64).alias("open_exchanges"),
        )
    work = work.join(links, on="_row", how="left", maintain_order="left")
    if routes is None and http_lf is not None and "route" in http_lf.collect_schema():
        routes = http_lf.select("exchange_id", pl.col("route").cast(pl.String))
    keys = work.select("_row", "fingerprint", "request_id", "link_method")
    statements = (
        sql_lf.with_row_index("_row")
        .join(keys.lazy(), on="_row", how="left", maintain_order="left")
        .drop("_row")
    )
    return SqlWorld(
        sql=sql_stats(work.lazy()),
        n_plus_one=find_n_plus_one(work.lazy(), routes, settings),
        links=_link_summary(work, http),
        statements=statements,
    )


def _link_summary(work: pl.DataFrame, http: pl.LazyFrame | None) -> dict[str, int]:
    method = work["link_method"]
    return {
        "statements": work.height,
        "traceparent": int((method == "traceparent").sum()),
        "time_window": int((method == "time_window").sum()),
        "unlinked": int(method.is_null().sum()),
        "ambiguous": int((method.is_null() & (work["open_exchanges"] > 1)).sum()),
        "http_exchanges": 0 if http is None else int(http.select(pl.len()).collect().item()),
        "http_exchanges_with_sql": int(work["request_id"].drop_nulls().n_unique()),
    }
