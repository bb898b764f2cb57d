"""SIGKILL the recorder at random moments, 20 times, into ONE tape directory, while HTTP and
PostgreSQL traffic flow through it.

After every kill: every committed part is readable by pyarrow, polars and DuckDB; the reader
opens the tape skipping (and naming) only the interrupted writes; and nothing the clients had
been answered for more than two flush intervals before the kill is missing. Counts come from
the clients, never from the recorder.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import duckdb
import httpx
import polars as pl
import psycopg
import pyarrow.parquet as pq
import pytest

from understudy.tape import open_tape
from understudy.testing.postgres import PostgresServer, free_port

KILLS = 20
FLUSH_S = 0.2


@pytest.fixture(scope="module")
def pg() -> PostgresServer:
    server = PostgresServer.start()
    try:
        server.psql("CREATE TABLE marks (id int primary key, run text)")
        yield server
    finally:
        server.stop()


def _http_client(url: str, run: int, done: dict[int, float], stop: threading.Event) -> None:
    with httpx.Client(base_url=url, timeout=5) as c:
        i = 0
        while not stop.is_set():
            try:
                r = c.get(f"/n/{i}?run={run}&i={i}")
            except httpx.HTTPError:
                return
            if r.status_code == 200:
                done[i] = time.monotonic()
            i += 1


def _sql_client(dsn: str, run: int, done: dict[int, float], stop: threading.Event) -> None:
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
            i = 0
            while not stop.is_set():
                conn.execute(f"SELECT {i} AS i, 'run-{run}' AS run").fetchall()
                done[i] = time.monotonic()
                i += 1
    except psycopg.Error:
        return


def _readable_everywhere(tape: Path) -> None:
    t = open_tape(tape)
    assert all(s.reason.startswith("temporary file") for s in t.skipped), t.skipped
    for kind in ("http", "sql"):
        for part in t.parts[kind]:
            n = pq.read_table(part).num_rows
            assert n == pl.read_parquet(part).height > 0
            [(m,)] = duckdb.sql(f"select count(*) from read_parquet('{part}')").fetchall()
            assert m == n


def test_twenty_random_sigkills_lose_at_most_the_last_flushes(
    tmp_path: Path, start_recorder, upstream, pg: PostgresServer
) -> None:
    rng = random.Random(20261123)
    tape = tmp_path / "crash.tape"
    checked_http = checked_sql = 0
    for run in range(KILLS):
        pg_port = free_port()
        rec = start_recorder(
            tape, "--mode", f"reverse:{upstream.url}",
            "--flush-interval", f"{int(FLUSH_S * 1000)}ms",
            "--pg", f"127.0.0.1:{pg_port}", "--pg-upstream", f"127.0.0.1:{pg.port}",
        )  # fmt: skip
        http_done: dict[int, float] = {}
        sql_done: dict[int, float] = {}
        stop = threading.Event()
        dsn = f"postgresql://{pg.user}@127.0.0.1:{pg_port}/{pg.database}"
        threads = [
            threading.Thread(target=_http_client, args=(rec.url, run, http_done, stop)),
            threading.Thread(target=_sql_client, args=(dsn, run, sql_done, stop)),
        ]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 2.0))
        rec.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        rec.proc.wait()
        stop.set()
        for t in threads:
            t.join(10)
        # The SQL decoder outlives its recorder: it decodes what was spooled, then exits.
        deadline = time.monotonic() + 60
        while [p for p in (tape / ".spool").iterdir() if p.suffix in (".seg", ".json")]:
            assert time.monotonic() < deadline, "the SQL decoder did not finish the spool"
            time.sleep(0.05)

        _readable_everywhere(tape)
        t = open_tape(tape)
        http_rows = t.scan("http").select("query").collect()["query"].to_list()
        got_http = {int(q.rsplit("=", 1)[1]) for q in http_rows if f"run={run}&" in q}
        sql_rows = t.scan("sql").select("sql").collect()["sql"].to_list()
        got_sql = {int(s.split()[1]) for s in sql_rows if f"'run-{run}'" in s}
        safe = killed_at - (2 * FLUSH_S + 0.5)  # the last flushes may be lost, nothing older
        must_http = {i for i, at in http_done.items() if at < safe}
        must_sql = {i for i, at in sql_done.items() if at < safe}
        assert must_http <= got_http, (run, sorted(must_http - got_http)[:10])
        assert must_sql <= got_sql, (run, sorted(must_sql - got_sql)[:10])
        assert got_http <= set(range(max(http_done, default=-1) + 2))  # nothing invented
        assert got_sql <= set(range(max(sql_done, default=-1) + 2))
        checked_http += len(must_http)
        checked_sql += len(must_sql)
    # the kills fell at random moments; over 20 of them, clients must have had real work
    assert checked_http > 50 and checked_sql > 50, (checked_http, checked_sql)
