"""SQL analysis: fingerprints, per-fingerprint statistics, HTTP links and N+1 patterns.

Entry point :func:`mine_sql`; the steps are public for pipelines of their own::

    sql_canonical / sql_shape      vectorised pre-normalisation (polars expressions)
    with_shapes                    the same as LazyFrame -> LazyFrame, each stage once
    with_fingerprints              one sqlglot call per shape, joined back
    link_statements                traceparent, else time-window links to HTTP exchanges
    sql_stats, find_n_plus_one     world ``sql`` and ``n_plus_one`` entries
"""

from __future__ import annotations

from analysis.sql.fingerprints import FINGERPRINT_SCHEMA, with_fingerprints
from analysis.sql.links import link_statements, sql_trace_id, trace_id
from analysis.sql.mine import SqlWorld, mine_sql
from analysis.sql.nplusone import NPlusOneSettings, find_n_plus_one, with_units
from analysis.sql.shapes import shape_from_canonical, sql_canonical, sql_shape, with_shapes
from analysis.sql.stats import bin_edges, latency_bin, sql_stats

__all__ = [
    "FINGERPRINT_SCHEMA",
    "NPlusOneSettings",
    "SqlWorld",
    "bin_edges",
    "find_n_plus_one",
    "latency_bin",
    "link_statements",
    "mine_sql",
    "shape_from_canonical",
    "sql_canonical",
    "sql_shape",
    "sql_stats",
    "sql_trace_id",
    "trace_id",
    "with_fingerprints",
    "with_shapes",
    "with_units",
]
