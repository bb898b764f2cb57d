"""The per-exchange frame every HTTP mining step reads: tape columns plus derived ones.

Derived columns: ``route`` (:mod:`analysis.http.routes`), ``client_ip`` (the address part
of ``client_addr``), ``t`` (seconds since the first request of the frame, float),
``limited`` (:func:`analysis.http.headers.is_limited`) and the rate-limit header hints.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from analysis.http.headers import is_limited, rate_limit_hints
from analysis.http.routes import with_routes

__all__ = ["MINED_COLUMNS", "client_ip", "exchange_frame"]

#: Tape columns the miner reads (bodies and most headers are left behind).
MINED_COLUMNS = (
    "ts_start",
    "duration_ms",
    "method",
    "host",
    "path",
    "status",
    "response_headers",
    "response_body_size",
    "identity",
    "client_addr",
    "error",
)


def client_ip(addr: str | pl.Expr = "client_addr") -> pl.Expr:
    """The IP of an ``ip:port`` address (brackets of ``[v6]:port`` removed).

    Examples
    --------
    >>> df = pl.DataFrame({"a": ["10.0.0.1:5555", "[::1]:80", None]})
    >>> df.select(client_ip("a")).to_series().to_list()
    ['10.0.0.1', '::1', None]
    """
    col = pl.col(addr) if isinstance(addr, str) else addr
    return col.str.replace(r":[0-9]+$", "").str.strip_chars("[]").alias("client_ip")


def exchange_frame(
    lf: pl.LazyFrame,
    *,
    limit_statuses: Iterable[int] = (429,),
    retry_after_statuses: Iterable[int] = (503,),
    max_literals: int = 20,
    routes: pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """Select :data:`MINED_COLUMNS` of a tape's HTTP rows and add the derived columns.

    ``routes``: the tape's :func:`~analysis.http.routes.route_table`, when already collected.

    Examples
    --------
    >>> from understudy.testing.synthetic_http import generate, plans_scenario
    >>> tape = generate(plans_scenario(seed=3, duration_s=2.0)).lazy()
    >>> ex = exchange_frame(tape).collect()
    >>> {"route", "client_ip", "t", "limited"} <= set(ex.columns), ex["t"].min()
    (True, 0.0)
    """
    limited = is_limited(
        limit_statuses=tuple(limit_statuses), retry_after_statuses=tuple(retry_after_statuses)
    )
    start = pl.col("ts_start").min()
    return (
        lf.select(MINED_COLUMNS)
        .pipe(with_routes, max_literals=max_literals, table=routes)
        .with_columns(
            client_ip(),
            limited,
            *rate_limit_hints(),
            t=(pl.col("ts_start") - start).dt.total_microseconds().cast(pl.Float64) / 1e6,
        )
        .drop("response_headers")
    )
