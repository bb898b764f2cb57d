"""Route templates from recorded paths: ``/api/items/123`` -> ``/api/items/{id}``.

Paths are templated per ``(host, method)``, one segment position at a time from the left:

1. A segment that *looks* like a value becomes a parameter whatever else is seen there:
   UUIDs ``{uuid}``, dates ``{date}``, decimal numbers ``{id}``, hex hashes ``{hash}``, long
   letter-and-digit tokens ``{param}`` (kinds and names: :mod:`understudy.routes`). A long
   all-digit segment where hashes are seen is a ``{hash}`` too.
2. The other segments at a position (same host, method, depth and already-templated prefix)
   stay literal unless there are more than ``max_literals`` distinct ones: then they are all
   ``{param}`` (user names, slugs...). ``/api/orders`` and ``/api/export`` stay literal.

Everything is polars expressions over the distinct ``(host, method, path)`` triples; the
depth loop builds one expression per position, it does not visit rows.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from understudy.routes import SEGMENT_KINDS, RouteMatcher

__all__ = ["route_matchers", "route_table", "segment_kind", "with_routes"]

_KEYS = ("host", "method")
_NAMED_KINDS = ("uuid", "date", "id", "hash", "param")


def _col(c: str | pl.Expr) -> pl.Expr:
    return pl.col(c) if isinstance(c, str) else c


def segment_kind(segment: str | pl.Expr) -> pl.Expr:
    """The parameter kind a path segment looks like, or null for a literal candidate.

    Examples
    --------
    >>> segs = ["123", "2024-01-31", "0b5a0e9a-6c0b-4a8e-9c61-2a3e0c7c1f00",
    ...         "9f86d081884c7d65", "orders", "tok_8Hq2ZxK0aa9PqLm3"]
    >>> pl.DataFrame({"s": segs}).select(segment_kind("s")).to_series().to_list()
    ['id', 'date', 'uuid', 'hash', None, 'param']
    """
    s = _col(segment)
    uuid, date = SEGMENT_KINDS["uuid"], SEGMENT_KINDS["date"]
    return (
        pl.when(s.str.contains(f"^(?:{uuid})$"))
        .then(pl.lit("uuid"))
        .when(s.str.contains(f"^(?:{date})$"))
        .then(pl.lit("date"))
        .when(s.str.contains(r"^[0-9]+$"))
        .then(pl.lit("id"))
        .when(s.str.contains(r"^[0-9a-fA-F]{12,}$") & s.str.contains("[0-9]"))
        .then(pl.lit("hash"))
        .when(
            s.str.contains(r"^[A-Za-z0-9_.~-]{16,}$")
            & s.str.contains("[0-9]")
            & s.str.contains("[A-Za-z]")
        )
        .then(pl.lit("param"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def _param_name(kind: pl.Expr, seen: dict[str, pl.Expr]) -> pl.Expr:
    """``{kind}`` for the first parameter of a kind in a path, ``{kind_N}`` for the N-th."""
    name = pl.lit(None, dtype=pl.String)
    for k in reversed(_NAMED_KINDS):
        nth = seen[k] + 1
        label = pl.concat_str(
            pl.lit("{" + k), pl.when(nth > 1).then("_" + nth.cast(pl.String)).otherwise(pl.lit(""))
        )
        name = pl.when(kind == k).then(label + pl.lit("}")).otherwise(name)
    return name


def route_table(lf: pl.LazyFrame, *, max_literals: int = 20, max_depth: int = 16) -> pl.LazyFrame:
    """Distinct ``(host, method, path)`` of ``lf`` with their ``route`` template.

    Parameters
    ----------
    lf
        Exchanges with ``host``, ``method`` and ``path`` columns.
    max_literals
        A position (host, method, depth, templated prefix) with more distinct non-value
        segments than this becomes ``{param}``.
    max_depth
        Segments deeper than this are classified by their look only (no cardinality test).

    Examples
    --------
    >>> lf = pl.LazyFrame({"host": "h", "method": "GET",
    ...                    "path": ["/api/items/1", "/api/items/22", "/api/orders", "/"]})
    >>> route_table(lf).sort("path").collect()["route"].to_list()
    ['/', '/api/items/{id}', '/api/items/{id}', '/api/orders']
    """
    frame = (
        lf.select(*_KEYS, "path")
        .unique()
        .with_columns(_segs=pl.col("path").fill_null("").str.split("/"))
        .with_columns(_p=pl.col("_segs").list.first().fill_null(""))
        .with_columns(pl.lit(0).alias(f"_n_{k}") for k in _NAMED_KINDS)
    )
    seen = {k: pl.col(f"_n_{k}") for k in _NAMED_KINDS}
    for depth in range(1, max_depth + 1):
        seg, kind = pl.col("_s"), pl.col("_k")
        free = seg.is_not_null() & kind.is_null() & (seg != "")
        distinct = seg.filter(free).n_unique().over(*_KEYS, "_p")
        long_digits = (kind == "id") & (seg.str.len_chars() >= 12)
        template = pl.when(kind.is_null()).then(seg).otherwise(_param_name(kind, seen))
        prefix = pl.when(seg.is_null()).then(pl.col("_p"))
        counters = [(seen[k] + (kind == k).fill_null(False)).alias(f"_n_{k}") for k in _NAMED_KINDS]
        frame = (
            frame.with_columns(_s=pl.col("_segs").list.get(depth, null_on_oob=True))
            .with_columns(_k=segment_kind("_s"))
            .with_columns(
                _k=pl.when(free & (distinct > max_literals))
                .then(pl.lit("param"))
                .when(long_digits & (kind == "hash").any().over(*_KEYS, "_p"))
                .then(pl.lit("hash"))  # an all-digit hash among hashes
                .otherwise(kind)
            )
            .with_columns(
                prefix.otherwise(pl.concat_str(pl.col("_p"), pl.lit("/"), template)).alias("_p"),
                *counters,
            )
        )
    tail = pl.col("_segs").list.slice(max_depth + 1).list.join("/")
    route = pl.when(pl.col("_segs").list.len() > max_depth + 1).then(
        pl.concat_str(pl.col("_p"), pl.lit("/"), tail)
    )
    return frame.select(
        *_KEYS,
        "path",
        route.otherwise(pl.col("_p")).alias("route"),
    )


def with_routes(
    lf: pl.LazyFrame,
    *,
    max_literals: int = 20,
    max_depth: int = 16,
    table: pl.DataFrame | None = None,
) -> pl.LazyFrame:
    """``lf`` with a ``route`` column (see :func:`route_table`; ``table``: that table of
    ``lf``, already collected, so several reads of ``lf`` template its paths once).

    Examples
    --------
    >>> lf = pl.LazyFrame({"host": "h", "method": "GET", "path": ["/a/5", "/a/6"]})
    >>> with_routes(lf).collect()["route"].to_list()
    ['/a/{id}', '/a/{id}']
    """
    routes = (
        route_table(lf, max_literals=max_literals, max_depth=max_depth)
        if table is None
        else table.lazy()
    )
    return lf.join(routes, on=[*_KEYS, "path"], how="left", nulls_equal=True, maintain_order="left")


def route_matchers(routes: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], RouteMatcher]:
    """One :class:`~understudy.routes.RouteMatcher` per ``(host, method)``.

    Examples
    --------
    >>> ms = route_matchers([("h", "GET", "/a/{id}"), ("h", "GET", "/a/b")])
    >>> ms["h", "GET"].match("/a/9").template
    '/a/{id}'
    """
    grouped: dict[tuple[str, str], list[str]] = {}
    for host, method, route in routes:
        grouped.setdefault((host, method), []).append(route)
    return {key: RouteMatcher(templates) for key, templates in grouped.items()}
