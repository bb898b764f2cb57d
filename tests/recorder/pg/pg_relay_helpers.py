"""Running the PostgreSQL relay in-process for tests, and reading back what it recorded."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from recorder.config import RecorderConfig
from recorder.pg import CaptureSettings, PgRelay, RelaySettings, start_pg_relay
from recorder.sink import TapeSink
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor
from understudy.tape import open_tape
from understudy.testing.postgres import PostgresServer

TEST_KEY = bytes.fromhex("5e" * 32)
REDACTOR = Redactor(RedactionPolicy(), Pseudonymizer(TEST_KEY))


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


@dataclass
class Recording:
    """A relay on a background thread's loop, recording into its own tape."""

    pg: PostgresServer
    tape: Path
    upstream_tls: str = "disable"
    max_result_rows: int = 1000
    capture: CaptureSettings | None = None
    loop_kind: str = "uvloop"
    upstream: tuple[str, int] | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.sink = TapeSink(self.tape, REDACTOR, flush_interval=0.2)
        self.sink.open(("sql",))
        self.loop = new_loop(self.loop_kind)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.relay: PgRelay = self.call(self._start)
        self.host, self.port = self.relay.bound
        self.stopped = False

    async def _start(self) -> PgRelay:
        upstream = self.upstream or (self.pg.host, self.pg.port)
        if self.capture is not None:
            relay = PgRelay(
                RelaySettings(("127.0.0.1", 0), upstream, self.upstream_tls, self.capture),
                self.sink,
            )
            await relay.start()
            return relay
        config = RecorderConfig(
            tape=self.tape,
            http_listen=None,
            pg_listen=("127.0.0.1", 0),
            pg_upstream=upstream,
            pg_upstream_tls=self.upstream_tls,
            max_result_rows=self.max_result_rows,
        )
        return await start_pg_relay(config, self.sink)

    def call[T](self, fn: Callable[[], Any], timeout: float = 30.0) -> T:
        """Run coroutine function ``fn`` on the relay's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(fn(), self.loop).result(timeout)  # type: ignore[no-any-return]

    # -- how clients reach the relay ----------------------------------------------------------
    def env(self, dbname: str | None = None, user: str | None = None) -> dict[str, str]:
        env = {**os.environ, **self.pg.env, "PGHOST": self.host, "PGPORT": str(self.port)}
        if dbname:
            env["PGDATABASE"] = dbname
        if user:
            env["PGUSER"] = user
        return env

    def dsn(self, dbname: str | None = None, user: str | None = None) -> str:
        return (
            f"postgresql://{user or self.pg.user}@{self.host}:{self.port}/"
            f"{dbname or self.pg.database}"
        )

    def psql(
        self, *args: str, dbname: str | None = None, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["psql", "-X", "-q", "-At", *args],
            env=self.env(dbname),
            input=stdin,
            capture_output=True,
            text=True,
            check=check,
            timeout=60,
        )

    def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until the relay has no connection left (it saw every client leave)."""
        deadline = time.monotonic() + timeout
        while self.relay.connections:
            assert time.monotonic() < deadline, "connections still open"
            time.sleep(0.02)

    # -- the end ---------------------------------------------------------------------------------
    def stop(self) -> pl.DataFrame:
        """Close the relay and the tape; return every recorded row, in order."""
        if not self.stopped:
            self.stopped = True
            self.call(self.relay.close)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
            self.summary = self.sink.close()
        return rows(self.tape)


def rows(tape: Path) -> pl.DataFrame:
    """The tape's rows, connection by connection (in order of their first statement)."""
    df = open_tape(tape).scan("sql").collect()
    first = pl.col("ts_start").min().over("conn_id").alias("_first")
    return df.with_columns(first).sort("_first", "conn_id", "seq").drop("_first")


def new_database(pg: PostgresServer, name: str) -> str:
    """A fresh database with its pg_stat_statements entries reset."""
    pg.psql(f"CREATE DATABASE {name}", dbname="postgres")
    reset_pgss(pg, name)
    return name


def reset_pgss(pg: PostgresServer, dbname: str) -> None:
    """Forget pg_stat_statements' entries of ``dbname`` (run from another database)."""
    dbid = f"(SELECT oid FROM pg_database WHERE datname = '{dbname}')"
    pg.psql(f"SELECT pg_stat_statements_reset(0, {dbid}, 0)", dbname="postgres")


def pgss(pg: PostgresServer, dbname: str) -> pl.DataFrame:
    """pg_stat_statements' top-level entries of ``dbname``: query, calls, rows."""
    out = pg.psql(
        "COPY (SELECT query, calls, rows FROM pg_stat_statements s JOIN pg_database d "
        f"ON d.oid = s.dbid WHERE d.datname = '{dbname}' AND toplevel) TO STDOUT "
        "WITH (FORMAT csv, HEADER)",
        dbname="postgres",
    ).stdout
    schema = {"query": pl.Utf8, "calls": pl.Int64, "rows": pl.Int64}
    return pl.read_csv(io.BytesIO(out), schema=schema)


#: Statements pg_stat_statements does not count as their own entries.
_NOT_IN_PGSS = r"^\s*(?i:PREPARE|EXECUTE|DEALLOCATE)\b"


def successful(df: pl.DataFrame) -> pl.DataFrame:
    """The rows pg_stat_statements counts: ran without error (a suspended portal has rows but
    no command tag, an empty query neither), not PREPARE/EXECUTE/DEALLOCATE."""
    return df.filter(
        pl.col("sqlstate").is_null()
        & pl.col("error").is_null()
        & pl.col("rows").is_not_null()
        & ~pl.col("sql").str.contains(_NOT_IN_PGSS)
    )


def assert_matches_pgss(
    pg: PostgresServer, dbname: str, df: pl.DataFrame, *words: str, exclude: str | None = None
) -> None:
    """Total calls, and calls per word (a table name...), agree with pg_stat_statements.

    ``exclude`` (a regex) leaves statements out on both sides.
    """
    stats = pgss(pg, dbname)
    ok = successful(df.filter(pl.col("database") == dbname))
    if exclude:
        stats = stats.filter(~pl.col("query").str.contains(exclude))
        ok = ok.filter(~pl.col("sql").str.contains(exclude))
    if ok.height != stats["calls"].sum():
        tape = ok.group_by("sql").len().sort("sql").rows()
        raise AssertionError(f"tape {ok.height} != pgss {stats['calls'].sum()}:\n{tape}\n{stats}")
    for word in words:
        as_name = rf"(^|[^'\w]){word}($|[^'\w])"  # pg_stat_statements hides literals: not 'word'
        in_pgss = stats.filter(pl.col("query").str.contains(as_name))["calls"].sum()
        on_tape = ok.filter(pl.col("sql").str.contains(as_name)).height
        assert on_tape == in_pgss, (word, on_tape, in_pgss)


def tape_bytes_contain(tape: Path, secret: str) -> bool:
    """Whether ``secret`` occurs in any file of the tape, raw or decoded."""
    needle = secret.encode()
    for path in tape.rglob("*"):
        if path.is_file() and needle in path.read_bytes():
            return True
    if (tape / "sql").is_dir():
        table = open_tape(tape).read("sql")
        return secret in repr(table.to_pylist())
    return False


@contextlib.contextmanager
def decoder_paused(rec: Recording) -> Iterator[None]:
    """Stop the recording's decoder process meanwhile: it deletes the spool segments it
    decoded, and a test reading them wants them all."""
    spool = rec.relay.spool
    assert spool is not None and spool._decoder.proc is not None
    pid = spool._decoder.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def spool_until(tape: Path, done: Callable[[bytes], bool], what: str) -> bytes:
    """The spool's segments, in order, read until ``done`` holds for them (10 s at most)."""
    deadline = time.monotonic() + 10
    while True:
        raw = b"".join(p.read_bytes() for p in sorted((tape / ".spool").glob("*.seg")))
        if done(raw):
            return raw
        assert time.monotonic() < deadline, f"{what} never reached the spool"
        time.sleep(0.01)
