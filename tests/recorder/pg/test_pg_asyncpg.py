"""asyncpg through the relay: binary protocol, statement cache, executemany."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import asyncpg
import polars as pl
from pg_relay_helpers import assert_matches_pgss, new_database


async def _workload(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE ev (id int8 PRIMARY KEY, at timestamptz, tag uuid, amount numeric,"
            " ok bool, payload jsonb)"
        )
        at = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
        rows = [
            (i, at, uuid.UUID(int=i), i * 1.5, i % 2 == 0, f'{{"k": {i}}}') for i in range(1, 4)
        ]
        await conn.executemany(
            "INSERT INTO ev (id, at, tag, amount, ok, payload) VALUES ($1, $2, $3, $4, $5, $6)",
            rows,
        )
        for _ in range(3):  # the statement cache: one Parse, three Bind/Execute
            assert await conn.fetchval("SELECT count(*) FROM ev WHERE ok = $1", True) == 1
        got = await conn.fetch("SELECT id, amount FROM ev WHERE id >= $1 ORDER BY id", 2)
        assert [(r["id"], float(r["amount"])) for r in got] == [(2, 3.0), (3, 4.5)]
        try:
            await conn.fetchval("SELECT 1 / $1::int", 0)
        except asyncpg.DivisionByZeroError:
            pass
        async with conn.transaction():
            await conn.execute("UPDATE ev SET ok = NOT ok WHERE id = $1", 1)
    finally:
        await conn.close()


def test_asyncpg_workload(pg, record):
    db = new_database(pg, "asyncpg_work")
    rec = record()
    asyncio.run(_workload(rec.dsn(db)))
    df = rec.stop()
    ins = df.filter(pl.col("sql").str.starts_with("INSERT INTO ev"))
    assert ins.height == 3 and (ins["command_tag"] == "INSERT 0 1").all()
    assert (ins["param_formats"].list.eval(pl.element() == 1).list.all()).all()  # binary
    assert ins["params"].to_list()[0] == [
        "1", "2024-01-02 03:04:05+00", "00000000-0000-0000-0000-000000000001", "1.5", "f",
        '{"k": 1}',
    ]  # fmt: skip
    assert ins["param_types"].to_list()[0] == [20, 1184, 2950, 1700, 16, 3802]
    names = ins["statement_name"].unique().to_list()
    assert len(names) == 1 and names[0].startswith("__asyncpg_stmt_")
    counts = df.filter(pl.col("sql") == "SELECT count(*) FROM ev WHERE ok = $1")
    assert counts.height == 3 and counts["statement_name"].n_unique() == 1
    # fetchval executes with max_rows=1: PortalSuspended, no command tag
    assert counts["command_tag"].is_null().all() and (counts["rows"] == 1).all()
    assert counts["params"].to_list() == [["t"]] * 3
    assert counts["result_formats"].to_list() == [[1]] * 3
    assert counts["result_rows"].to_list() == [[[b"\0" * 7 + b"\1"]]] * 3
    assert counts["columns"].to_list()[0] == [{"name": "count", "type_oid": 20}]
    fetched = df.filter(pl.col("sql").str.contains("ORDER BY id")).row(0, named=True)
    assert fetched["rows"] == 2 and fetched["params"] == ["2"]
    err = df.filter(pl.col("sqlstate").is_not_null())
    assert err.select("sql", "sqlstate").rows() == [("SELECT 1 / $1::int", "22012")]
    upd = df.filter(pl.col("sql").str.starts_with("UPDATE")).row(0, named=True)
    assert upd["tx_status"] == "in_transaction" and upd["params"] == ["1"]
    assert_matches_pgss(pg, db, df, " ev ")
