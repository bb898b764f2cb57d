"""Header expressions: read a header from a tape's header list, spot rate-limited answers.

Headers are stored as ``list[struct{name, value}]`` in wire order; lookups are
case-insensitive and return the first value.

Rate-limit hints read from responses (all optional, all per row):

``Retry-After``
    seconds (an HTTP date is not parsed: null).
``RateLimit-Policy`` / ``X-RateLimit-Policy``
    ``10;w=1`` or the structured form ``"default";q=10;w=1``: a quota and its window (s).
``RateLimit-Limit`` / ``X-RateLimit-Limit``
    a quota (``100``, or an older draft's ``100, 100;w=60``: quota and window).
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

__all__ = ["header_value", "is_limited", "rate_limit_hints"]


def _col(c: str | pl.Expr) -> pl.Expr:
    return pl.col(c) if isinstance(c, str) else c


def header_value(headers: str | pl.Expr, name: str) -> pl.Expr:
    """The first value of header ``name`` (case-insensitive), or null.

    Examples
    --------
    >>> df = pl.DataFrame({"h": [[{"name": "Retry-After", "value": "3"}], []]})
    >>> df.select(header_value("h", "retry-after")).to_series().to_list()
    ['3', None]
    """
    lowered = name.lower()
    return (
        _col(headers)
        .list.eval(
            pl.element()
            .filter(pl.element().struct.field("name").str.to_lowercase() == lowered)
            .struct.field("value")
        )
        .list.first()
        .alias(lowered)
    )


def is_limited(
    status: str | pl.Expr = "status",
    headers: str | pl.Expr = "response_headers",
    *,
    limit_statuses: Iterable[int] = (429,),
    retry_after_statuses: Iterable[int] = (503,),
) -> pl.Expr:
    """True for rate-limited answers: a ``limit_statuses`` status, or a
    ``retry_after_statuses`` status carrying ``Retry-After``. Never null.

    Examples
    --------
    >>> ra = [{"name": "Retry-After", "value": "1"}]
    >>> df = pl.DataFrame({"status": [200, 429, 503, 503, None],
    ...                    "response_headers": [[], [], ra, [], []]})
    >>> df.select(is_limited()).to_series().to_list()
    [False, True, True, False, False]
    """
    st = _col(status)
    retry = header_value(headers, "retry-after").is_not_null()
    return (
        (st.is_in(list(limit_statuses)) | (st.is_in(list(retry_after_statuses)) & retry))
        .fill_null(False)
        .alias("limited")
    )


def _first_number(value: pl.Expr, pattern: str) -> pl.Expr:
    return value.str.extract(pattern, 1).cast(pl.Float64, strict=False)


def rate_limit_hints(headers: str | pl.Expr = "response_headers") -> list[pl.Expr]:
    """Expressions for the per-row hint columns ``hint_retry_after_s``, ``hint_quota`` and
    ``hint_window_s`` (nulls when a response says nothing).

    Examples
    --------
    >>> h = [{"name": "RateLimit-Policy", "value": '"default";q=10;w=2'},
    ...      {"name": "Retry-After", "value": "1"}]
    >>> df = pl.DataFrame({"response_headers": [h, [{"name": "X-RateLimit-Limit",
    ...                                               "value": "50"}]]})
    >>> df.select(rate_limit_hints()).rows()
    [(1.0, 10.0, 2.0), (None, 50.0, None)]
    """
    policy = pl.coalesce(
        header_value(headers, "ratelimit-policy"),
        header_value(headers, "x-ratelimit-policy"),
        header_value(headers, "ratelimit-limit"),
        header_value(headers, "x-ratelimit-limit"),
    )
    quota = pl.coalesce(
        _first_number(policy, r"(?:^|;)\s*q=([0-9.]+)"), _first_number(policy, r"^\s*([0-9.]+)")
    )
    return [
        _first_number(header_value(headers, "retry-after"), r"^\s*([0-9.]+)\s*$").alias(
            "hint_retry_after_s"
        ),
        quota.alias("hint_quota"),
        _first_number(policy, r";\s*w=([0-9.]+)").alias("hint_window_s"),
    ]
