"""Real clients (psql, psycopg, asyncpg, pgbench) against the replay server, compared with the
real PostgreSQL the world was recorded from."""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from decimal import Decimal

import asyncpg
import psycopg
import pytest
from pg_replay_helpers import (
    BY_ID,
    COUNT,
    DUPLICATE,
    INSERT_EVENT,
    PGBENCH_AIDS,
    RICHER,
    SLOW,
    Recorded,
    dsn,
    libpq_env,
)
from psycopg import errors as pgerrors
from psycopg.pq import TransactionStatus

from replayer.pg.testing.thread import ServerThread

PS_BY_ID = BY_ID + "%s"
PS_RICHER = RICHER.replace("$1", "%s")


def _psql(env: dict[str, str], sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_psql_simple_protocol_several_statements(recorded: Recorded, replay: ServerThread) -> None:
    # ids 1-10 were recorded as text (simple protocol), 11-20 in binary (extended): psql asks
    # for text, so the binary ones are converted by type.
    sql = "; ".join(f"{BY_ID}{i}" for i in (1, 7, 11, 20)) + f"; {COUNT}; SHOW DateStyle"
    real = _psql(recorded.env, sql)
    got = _psql(libpq_env(replay.port), sql)
    assert real.returncode == 0, real.stderr
    assert got.returncode == 0, got.stderr
    assert got.stdout == real.stdout


def test_psql_miss_is_a_clean_error(replay: ServerThread) -> None:
    got = _psql(libpq_env(replay.port), "SELECT nothing FROM nowhere WHERE x = 1")
    assert got.returncode != 0
    assert "statement not recorded" in got.stderr
    assert "Nearest recorded" in got.stderr


@pytest.mark.parametrize("binary", [False, True])
def test_psycopg_rows_identical(recorded: Recorded, replay: ServerThread, binary: bool) -> None:
    with (
        psycopg.connect(recorded.pg.dsn, autocommit=True) as real,
        psycopg.connect(dsn(replay.port), autocommit=True) as fake,
    ):
        for i in range(1, 21):
            want = real.execute(PS_BY_ID, (i,), binary=binary).fetchall()
            cur = fake.execute(PS_BY_ID, (i,), binary=binary)
            assert cur.fetchall() == want
            assert cur.statusmessage == "SELECT 1"
        for v in (Decimal("100"), Decimal("250.5")):
            want = real.execute(PS_RICHER, (v,), binary=binary).fetchall()
            assert fake.execute(PS_RICHER, (v,), binary=binary).fetchall() == want
        assert fake.execute(COUNT).fetchone() == real.execute(COUNT).fetchone()


def test_psycopg_pipeline_and_prepared(recorded: Recorded, replay: ServerThread) -> None:
    with psycopg.connect(recorded.pg.dsn, autocommit=True) as real:
        want = [real.execute(PS_BY_ID, (i,)).fetchall() for i in (2, 3, 12, 13)]
    with psycopg.connect(dsn(replay.port), autocommit=True, prepare_threshold=0) as conn:
        with conn.pipeline():
            curs = [conn.execute(PS_BY_ID, (i,)) for i in (2, 3, 12, 13)]
        assert [c.fetchall() for c in curs] == want
        # prepare_threshold=0: server-side prepared statements from the first execution
        for _ in range(3):
            assert conn.execute(PS_BY_ID, (2,)).fetchall() == want[0]
        assert conn.execute("SELECT 1").fetchone() == (1,)
    with psycopg.connect(dsn(replay.port), autocommit=True) as conn:  # default threshold: 5
        for _ in range(8):  # psycopg prepares the statement server-side from the 6th run on
            assert conn.execute(PS_BY_ID, (12,)).fetchall() == want[2]


def test_psycopg_unrecorded_parameters_are_approximate(replay: ServerThread) -> None:
    with psycopg.connect(dsn(replay.port), autocommit=True) as conn:
        rows = conn.execute(PS_BY_ID, (33,)).fetchall()  # never recorded: representative
        assert len(rows) == 1 and len(rows[0]) == 14


def test_miss_keeps_connection_usable(replay: ServerThread) -> None:
    with psycopg.connect(dsn(replay.port), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT secret FROM vault WHERE id = %s", (1,))
        assert info.value.sqlstate == "UN001"
        assert "vault" in str(info.value)
        assert conn.info.transaction_status == TransactionStatus.IDLE
        assert conn.execute(COUNT).fetchone() == (40,)


def test_transaction_status_and_25p02(replay: ServerThread) -> None:
    with psycopg.connect(dsn(replay.port)) as conn:  # not autocommit: psycopg sends BEGIN
        assert conn.execute(COUNT).fetchone() == (40,)
        assert conn.info.transaction_status == TransactionStatus.INTRANS
        with pytest.raises(pgerrors.UniqueViolation):
            conn.execute(DUPLICATE)  # the recorded error, replayed for the same statement
        assert conn.info.transaction_status == TransactionStatus.INERROR
        with pytest.raises(pgerrors.InFailedSqlTransaction):
            conn.execute(COUNT)
        conn.rollback()
        assert conn.info.transaction_status == TransactionStatus.IDLE
        with conn.transaction():
            conn.execute("SAVEPOINT s1")
            with pytest.raises(psycopg.Error):
                conn.execute("SELECT nope FROM nowhere")
            conn.execute("ROLLBACK TO SAVEPOINT s1")
            assert conn.execute(COUNT).fetchone() == (40,)
        assert conn.info.transaction_status == TransactionStatus.IDLE


def test_session_settings_are_native(recorded: Recorded, replay: ServerThread) -> None:
    with psycopg.connect(dsn(replay.port), autocommit=True) as conn:
        assert conn.info.parameter_status("server_version") is not None
        conn.execute("SET application_name = 'tests'")
        assert conn.info.parameter_status("application_name") == "tests"
        assert conn.execute("SHOW application_name").fetchone() == ("tests",)
        conn.execute("SET statement_timeout TO 5000")
        assert conn.execute("SELECT current_setting('statement_timeout')").fetchone() == ("5000",)
        conn.execute("RESET ALL")
        # the recorded ParameterStatus values win over the defaults
        assert conn.execute("SHOW TimeZone").fetchone() == (recorded.parameters["TimeZone"],)
        assert conn.info.parameter_status("server_version") == recorded.parameters["server_version"]
        assert conn.execute("SELECT version()").fetchone()[0].startswith("PostgreSQL")
        conn.execute("DISCARD ALL")
        conn.execute("LISTEN things")


def test_cancel_stops_the_delayed_query_only(replay: ServerThread) -> None:
    with psycopg.connect(dsn(replay.port), autocommit=True) as conn:
        timer = threading.Timer(0.5, conn.cancel_safe)
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(pgerrors.QueryCanceled):
            conn.execute(SLOW.replace("$1", "%s"), (1,))  # recorded with a 4 s latency
        timer.join()
        assert time.monotonic() - t0 < 3.5
        assert conn.execute(COUNT).fetchone() == (40,)  # the next query is not cancelled
        conn.cancel_safe()  # nothing runs: a no-op
        assert conn.execute(COUNT).fetchone() == (40,)


def test_asyncpg_binary_statement_cache_executemany(
    recorded: Recorded, replay: ServerThread
) -> None:
    async def run(port: int | None) -> list[object]:
        if port is None:
            conn = await asyncpg.connect(recorded.pg.dsn)
        else:
            conn = await asyncpg.connect(host="127.0.0.1", port=port, user="app", database="app")
        try:
            out: list[object] = []
            for i in (1, 5, 11, 20, 5, 11):  # repeated: asyncpg reuses its prepared statement
                out.append([tuple(r) for r in await conn.fetch(BY_ID + "$1", i)])
            out.append(await conn.fetchval(COUNT))
            out.append([tuple(r) for r in await conn.fetch(RICHER, Decimal("250.5"))])
            stmt = await conn.prepare(BY_ID + "$1")
            out.append(tuple(await stmt.fetchrow(3)))
            await conn.executemany(INSERT_EVENT, [(1, "login"), (2, "logout"), (3, "login")])
            return out
        finally:
            await conn.close()

    want = asyncio.run(run(None))
    got = asyncio.run(run(replay.port))
    assert got == want


@pytest.mark.parametrize("mode", ["simple", "extended", "prepared"])
def test_pgbench_select_only(start_replay, mode: str) -> None:  # type: ignore[no-untyped-def]
    server = start_replay(latency="off")
    res = subprocess.run(
        ["pgbench", "-n", "-S", "-M", mode, "-t", "40", "-c", "2", "-j", "1"],
        env=libpq_env(server.port),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    server.stop()
    report = server.report()
    matched = report["matched"]
    assert matched["miss"] == 0
    # 2 x 40 transactions, plus pgbench's two start-up queries on its setup connection.
    # pgbench draws aids in 1..100000 and the world holds PGBENCH_AIDS of them: most answers
    # are the fingerprint's representative result ("approximate").
    assert matched["exact"] + matched["approximate"] == 80 + 2
    assert matched["exact"] >= 2  # the start-up queries, at least
    assert matched["approximate"] >= 60  # ~0.3 % of random aids hit a recorded one
    assert PGBENCH_AIDS / 100_000 < 0.01
