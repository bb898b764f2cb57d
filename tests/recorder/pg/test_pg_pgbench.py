"""pgbench through the relay in its three protocols: the tape holds exactly what ran."""

from __future__ import annotations

import os
import subprocess

import polars as pl
import pytest
from pg_relay_helpers import assert_matches_pgss, new_database, reset_pgss

TABLES = ("pgbench_accounts", "pgbench_tellers", "pgbench_branches", "pgbench_history")


@pytest.fixture(scope="module")
def bench_db(pg):
    db = new_database(pg, "bench")
    subprocess.run(
        ["pgbench", "-i", "-s", "1", "-q"],
        env={**os.environ, **pg.env, "PGDATABASE": db},
        check=True,
        capture_output=True,
    )
    return db


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench(pg, record, bench_db, mode):
    reset_pgss(pg, bench_db)
    rec = record(loop_kind="asyncio" if mode == "extended" else "uvloop")
    out = subprocess.run(
        ["pgbench", "-n", "-t", "50", "-c", "2", "-M", mode],
        env=rec.env(bench_db),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "number of transactions actually processed: 100/100" in out.stdout
    df = rec.stop()
    # PostgreSQL 15's pg_stat_statements counts a prepared BEGIN/END once per connection
    exclude = r"^(BEGIN|END);?$" if mode == "prepared" else None
    assert_matches_pgss(pg, bench_db, df, *TABLES, exclude=exclude)
    tpcb = df.filter(pl.col("application_name") == "pgbench")
    expected_protocol = "simple" if mode == "simple" else "extended"
    assert tpcb["sqlstate"].is_null().all() and tpcb["error"].is_null().all()
    selects = tpcb.filter(pl.col("sql").str.contains("SELECT abalance"))
    assert selects.height == 100
    assert (selects["protocol"] == expected_protocol).all()
    assert (selects["rows"] == 1).all() and (selects["command_tag"] == "SELECT 1").all()
    assert selects["result_rows"].list.len().eq(1).all()
    assert selects["columns"].to_list()[0] == [{"name": "abalance", "type_oid": 23}]
    ends = tpcb.filter(pl.col("command_tag") == "COMMIT")
    assert ends.height == 100 and (ends["tx_status"] == "idle").all()
    inside = tpcb.filter(pl.col("command_tag").str.starts_with("UPDATE"))
    assert inside.height == 300 and (inside["tx_status"] == "in_transaction").all()
    if mode == "simple":
        assert selects["params"].is_null().all() and selects["statement_name"].is_null().all()
        assert selects["sql"].str.contains(r"aid = \d+").all()
    else:
        assert selects["sql"].str.contains(r"aid = \$1").all()
        assert selects["params"].list.len().eq(1).all()
        aids = selects["params"].list.first().cast(pl.Int64)
        assert aids.is_between(1, 100_000).all()
        names = selects["statement_name"].unique().to_list()
        assert names == [""] if mode == "extended" else all(n.startswith("P") for n in names)
