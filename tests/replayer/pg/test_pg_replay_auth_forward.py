"""Password authentication (SCRAM-SHA-256, MD5), forwarding misses to a shadow database, the
session tape, and the contract with ``understudy replay`` (``replayer/run.py``)."""

from __future__ import annotations

import asyncio
import subprocess
import threading
from pathlib import Path

import asyncpg
import psycopg
import pyarrow.parquet as pq
import pytest
from pg_replay_helpers import BY_ID, COUNT, Recorded, dsn, libpq_env

from replayer.pg import PgSession
from understudy.tape import read_meta
from understudy.testing.postgres import free_port

SECRET = "s3cret-pw"


def _psql(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["psql", "-X", "-At", "-c", COUNT], env=env, capture_output=True, text=True, timeout=60
    )


async def _asyncpg_count(port: int, password: str) -> object:
    conn = await asyncpg.connect(
        host="127.0.0.1", port=port, user="app", database="app", password=password
    )
    try:
        return await conn.fetchval(COUNT)
    finally:
        await conn.close()


@pytest.mark.parametrize("method", ["scram-sha-256", "md5"])
def test_password_authentication(start_replay, method: str) -> None:  # type: ignore[no-untyped-def]
    server = start_replay(latency="off", password=SECRET, auth_method=method)
    ok = _psql(libpq_env(server.port, PGPASSWORD=SECRET))
    assert ok.returncode == 0 and ok.stdout.strip() == "40", ok.stderr
    bad = _psql(libpq_env(server.port, PGPASSWORD="wrong"))
    assert bad.returncode != 0 and "password authentication failed" in bad.stderr
    with psycopg.connect(dsn(server.port, password=SECRET)) as conn:
        assert conn.execute(COUNT).fetchone() == (40,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn(server.port, password="wrong"))
    assert asyncio.run(_asyncpg_count(server.port, SECRET)) == 40
    with pytest.raises(asyncpg.InvalidPasswordError):
        asyncio.run(_asyncpg_count(server.port, "wrong"))


def test_forward_misses_to_shadow_database(
    recorded: Recorded,
    start_replay,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    session = PgSession(tape=tmp_path / "session.tape")
    pg = recorded.pg
    server = start_replay(session, latency="off", on_miss="forward", forward_to=(pg.host, pg.port))
    unknown = "SELECT name, balance FROM accounts WHERE id BETWEEN %s AND %s ORDER BY id"
    with psycopg.connect(pg.dsn, autocommit=True) as real:
        want = real.execute(unknown, (3, 5)).fetchall()
    with psycopg.connect(
        dsn(server.port, user=pg.user, dbname=pg.database), autocommit=True
    ) as conn:
        assert conn.execute(unknown, (3, 5)).fetchall() == want
        assert conn.execute(unknown, (3, 5), binary=True).fetchall() == want
        assert conn.execute(BY_ID + "%s", (4,)).fetchone()[0] == 4  # recorded: from the world
        with pytest.raises(psycopg.errors.UndefinedTable):
            conn.execute("SELECT * FROM nowhere")  # the real database's own error
        assert conn.execute(COUNT).fetchone() == (40,)
    simple = subprocess.run(
        ["psql", "-X", "-At", "-c", "SELECT 2 + 2 AS four; " + COUNT],
        env=libpq_env(server.port, PGUSER=pg.user, PGDATABASE=pg.database),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert simple.stdout.split() == ["4", "40"], simple.stderr
    server.stop()
    report = server.report()
    assert report["matched"]["forward"] >= 4
    assert report["matched"]["miss"] == 0
    forwarded = {f["normalized"]: f for f in report["new_fingerprints"]}
    between = "SELECT name, balance FROM accounts WHERE id >= $1 AND id <= $2 ORDER BY id"
    assert forwarded[between]["forwarded"] == 2
    assert forwarded[between]["nearest"][0]["fingerprint"]  # its recorded neighbours
    rows = [
        r
        for f in sorted((tmp_path / "session.tape" / "sql").glob("part-*.parquet"))
        for r in pq.read_table(f).to_pylist()
    ]
    between = [r for r in rows if "BETWEEN" in (r["sql"] or "")]
    assert between and between[0]["params"] == ["3", "5"]
    assert between[0]["command_tag"] == "SELECT 3" and len(between[0]["result_rows"]) == 3
    assert "sql" in read_meta(tmp_path / "session.tape")["kinds"]


def test_forward_failure_is_a_clean_error(start_replay) -> None:  # type: ignore[no-untyped-def]
    server = start_replay(latency="off", on_miss="forward", forward_to=("127.0.0.1", free_port()))
    with psycopg.connect(dsn(server.port), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT unknown_thing()")
        assert info.value.sqlstate == "UN002"
        assert conn.execute(COUNT).fetchone() == (40,)


def test_understudy_replay_starts_the_pg_server(recorded: Recorded, tmp_path: Path) -> None:
    """The contract with replayer/run.py: start_pg_server(config, world, redactor)."""
    from replayer.config import ReplayConfig
    from replayer.run import replay

    port = free_port()
    config = ReplayConfig(
        world=recorded.world.path,
        http_listen=None,
        pg_listen=("127.0.0.1", port),
        pg_options={"password": SECRET, "auth": "md5"},
        latency=False,
        seed=3,
        session_tape=tmp_path / "s.tape",
        quiet=True,
    )
    seen: dict[str, object] = {}

    async def main() -> dict[str, object]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def client() -> None:  # psql, from another thread, while the loop serves
            try:
                for _ in range(200):
                    ok = _psql(libpq_env(port, PGPASSWORD=SECRET))
                    if ok.returncode == 0:
                        break
                seen["psql"] = ok
            finally:
                loop.call_soon_threadsafe(stop.set)

        thread = threading.Thread(target=client)
        thread.start()
        try:
            # replay() installs SIGINT/SIGTERM handlers: it must run on the main thread
            return await replay(config, stop=stop)
        finally:
            await asyncio.to_thread(thread.join, 60)

    report = asyncio.run(main())
    ok = seen["psql"]
    assert isinstance(ok, subprocess.CompletedProcess)
    assert ok.stdout.strip() == "40", ok.stderr
    assert report["sql"]["matched"]["exact"] >= 1
    assert list((tmp_path / "s.tape" / "sql").glob("part-*.parquet"))
