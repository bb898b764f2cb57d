"""Linking statements to HTTP exchanges: trace ids first, then unique time windows."""

from __future__ import annotations

import datetime as dt

import polars as pl

from analysis.sql import link_statements, sql_trace_id

T = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def at(ms: float) -> dt.datetime:
    return T + dt.timedelta(milliseconds=ms)


def tp(trace: str, span: str = "00f067aa0ba902b7") -> str:
    return f"00-{trace}-{span}-01"


def run(http: list[tuple], stmts: list[tuple]) -> list[tuple]:
    h = pl.LazyFrame(
        http, schema=["exchange_id", "ts_start", "ts_end", "traceparent"], orient="row"
    )
    s = pl.LazyFrame(
        [(i, *row) for i, row in enumerate(stmts)],
        schema=["_row", "ts_start", "traceparent", "sql"],
        orient="row",
    )
    out = link_statements(s, h).sort("_row").collect()
    return list(out.select("request_id", "link_method").iter_rows())


def test_trace_id_sources() -> None:
    df = pl.DataFrame(
        {
            "traceparent": [tp(TRACE.upper()), None, None, tp("0" * 32)],
            "sql": [
                "SELECT 1",
                f"SELECT 1 /*action='x',traceparent='{tp(TRACE)}'*/",
                "SELECT 'traceparent is not here'",
                "SELECT 1",
            ],
        }
    )
    assert df.select(sql_trace_id()).to_series().to_list() == [TRACE, TRACE, None, None]


def test_trace_beats_time_and_picks_the_exchange_holding_the_statement() -> None:
    other = "a" * 32
    http = [
        ("early", at(0), at(10), tp(TRACE)),  # same trace (a retry), does not hold t=50
        ("main", at(40), at(90), tp(TRACE)),
        ("concurrent", at(30), at(100), tp(other)),
    ]
    stmts = [
        (at(50), tp(TRACE, "1111111111111111"), "SELECT 1"),
        (at(60), None, f"SELECT 2 /*traceparent='{tp(other)}'*/"),
        (at(70), None, "SELECT 3"),  # two exchanges hold it: ambiguous
        (at(200), tp("b" * 32), "SELECT 4"),  # unknown trace, nothing open
    ]
    assert run(http, stmts) == [
        ("main", "traceparent"),
        ("concurrent", "traceparent"),
        (None, None),
        (None, None),
    ]


def test_time_window_bounds_are_inclusive_and_handle_nesting() -> None:
    http = [
        ("long", at(0), at(1000), None),
        ("short", at(100), at(200), None),
        ("open", at(2000), None, None),  # failed exchange without ts_end: an instant
    ]
    stmts = [
        (at(0), None, "a"),
        (at(150), None, "b"),  # inside both
        (at(200.001), None, "c"),  # short has ended: only long holds it
        (at(1000), None, "d"),
        (at(1000.5), None, "e"),
        (at(2000), None, "f"),
        (None, None, "g"),
    ]
    assert run(http, stmts) == [
        ("long", "time_window"),
        (None, None),
        ("long", "time_window"),
        ("long", "time_window"),
        (None, None),
        ("open", "time_window"),
        (None, None),
    ]
