"""Bad input and failures: the relay never crashes, never disturbs other connections."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator

import polars as pl
import psycopg
import pytest
from pg_relay_helpers import Recording

from recorder.pg import CaptureSettings
from understudy.errors import TapeWriteError
from understudy.pgwire import (
    AuthenticationOk,
    BackendKeyData,
    BackendParser,
    DataRow,
    FieldDescription,
    FrontendParser,
    Query,
    ReadyForQuery,
    RowDescription,
    SSLRequest,
    StartupMessage,
    encode,
    encode_all,
)


def _startup(rec) -> socket.socket:
    """A raw session through the relay, authenticated and idle."""
    s = socket.create_connection((rec.host, rec.port), timeout=10)
    s.sendall(encode(StartupMessage({"user": rec.pg.user, "database": rec.pg.database})))
    _read_until_ready(s)
    return s


def _read_until_ready(s: socket.socket) -> list:
    parser, seen = BackendParser(), []
    while not seen or not isinstance(seen[-1], ReadyForQuery):
        data = s.recv(65536)
        assert data, "connection closed"
        seen += parser.feed(data)
    return seen


def _closed(s: socket.socket) -> bool:
    """Read until EOF (True) or timeout (False)."""
    try:
        while s.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True
    return True


@pytest.mark.parametrize(
    "garbage",
    [b"Z\0\0\0\x08" + os.urandom(4000), b"Q\xff\xff\xff\xff" + os.urandom(64)],
    ids=["unknown-message", "length-over-cap"],
)
def test_garbage_ends_only_its_own_connection(pg, record, garbage):
    rec = record()
    with psycopg.connect(rec.dsn(), autocommit=True) as good:
        good.execute("SELECT 'before' AS good")
        bad = _startup(rec)
        bad.sendall(encode(Query("SELECT 'tracked' AS bad")))
        _read_until_ready(bad)
        bad.sendall(garbage)
        assert _closed(bad)  # the server refused the bytes, the relay passed that on
        bad.close()
        assert good.execute("SELECT 'after' AS good").fetchone() == ("after",)
    df = rec.stop()
    assert df.filter(pl.col("sql").str.contains("AS good"))["error"].is_null().all()
    bad_rows = df.filter(
        pl.col("conn_id") == df.filter(pl.col("sql").str.contains("AS bad"))["conn_id"]
    )
    assert bad_rows["sql"].to_list() == ["SELECT 'tracked' AS bad", None]
    assert bad_rows["error"][1].startswith("parse error (client)")
    assert rec.summary["sql"]["parse_errors"] == 1


class FakeUpstream:
    """A scripted 'server': authenticates anyone, then runs ``script(sock, query)``."""

    def __init__(
        self, script: Callable[[socket.socket, Query], None], ssl_answer: bytes = b""
    ) -> None:
        self.script = script
        self.ssl_answer = ssl_answer
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with sock:
                self._session(sock)

    def _session(self, sock: socket.socket) -> None:
        parser = FrontendParser()
        while True:
            data = sock.recv(65536)
            if not data:
                return
            for msg in parser.feed(data):
                if isinstance(msg, SSLRequest):
                    sock.sendall(self.ssl_answer)
                    if self.ssl_answer != b"N":
                        return
                elif isinstance(msg, StartupMessage):
                    sock.sendall(
                        encode_all(
                            [AuthenticationOk(), BackendKeyData(1, b"k" * 4), ReadyForQuery()]
                        )
                    )
                elif isinstance(msg, Query):
                    self.script(sock, msg)
                    return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def fake_upstream() -> Iterator[Callable[..., FakeUpstream]]:
    made: list[FakeUpstream] = []

    def make(script, **kwargs) -> FakeUpstream:
        made.append(FakeUpstream(script, **kwargs))
        return made[-1]

    yield make
    for f in made:
        f.close()


def _half_a_result(sock: socket.socket, query: Query) -> None:
    fields = (FieldDescription("n", type_oid=23),)
    sock.sendall(encode_all([RowDescription(fields), DataRow((b"1",)), DataRow((b"2",))]))


def test_upstream_closing_mid_result(pg, record, fake_upstream):
    fake = fake_upstream(_half_a_result)
    rec = record(upstream=("127.0.0.1", fake.port))
    with psycopg.connect(rec.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT n FROM generate_series(1, 3) AS n")
    df = rec.stop()
    row = df.row(0, named=True)
    assert df.height == 1 and row["error"] == "upstream closed"
    assert row["command_tag"] is None and row["result_rows"] == [[b"1"], [b"2"]]


def test_upstream_refusing_required_tls(pg, record, fake_upstream):
    fake = fake_upstream(_half_a_result, ssl_answer=b"N")
    rec = record(upstream=("127.0.0.1", fake.port), upstream_tls="require")
    with pytest.raises(psycopg.OperationalError, match="refused TLS"):
        psycopg.connect(rec.dsn()).close()
    rec.stop()
    assert rec.summary["sql"]["upstream_errors"] == 1


def test_client_leaving_mid_transaction(pg, record):
    pg.psql("CREATE TABLE IF NOT EXISTS left_behind (x int)")
    rec = record()
    s = _startup(rec)
    s.sendall(encode(Query("BEGIN; INSERT INTO left_behind VALUES (1)")))
    _read_until_ready(s)
    s.sendall(encode(Query("SELECT pg_sleep(0.5) AS slow")))
    s.close()
    rec.wait_idle()
    df = rec.stop()
    assert df.select("sql", "tx_status", "error").rows() == [
        ("BEGIN", "in_transaction", None),
        ("INSERT INTO left_behind VALUES (1)", "in_transaction", None),
        ("SELECT pg_sleep(0.5) AS slow", None, "client disconnected"),
    ]
    assert pg.psql("SELECT count(*) FROM left_behind").stdout.strip() == b"0"  # rolled back


def test_unwritable_tape_refuses_traffic(pg, record):
    """The decoder process dies (as it would when its tape cannot be written): traffic stops."""
    rec = record()
    spool = rec.relay.spool
    assert spool is not None
    decoder = spool._decoder.proc
    assert decoder is not None and decoder.poll() is None
    with psycopg.connect(rec.dsn(), autocommit=True) as conn:
        conn.execute("SELECT 1 AS recorded")
        os.kill(decoder.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while rec.sink.healthy and time.monotonic() < deadline:
            time.sleep(0.02)
        assert isinstance(rec.sink.fatal, TapeWriteError)
        assert "decoder" in str(rec.sink.fatal)
        out = rec.psql("-c", "SELECT 2", check=False)
        assert out.returncode != 0  # a new connection is closed on arrival
        with pytest.raises(psycopg.OperationalError):
            conn.execute("SELECT 3 AS unrecorded")  # its row cannot be written: closed
            conn.execute("SELECT 4")
    with pytest.raises(TapeWriteError):
        rec.stop()
    assert rec.sink.counters["sql.refused_connections"] == 1
    assert rec.sink.counters["sql.closed_unrecordable"] == 1
    # What was spooled before the decoder died is decoded by the next recorder on the tape.
    again = Recording(pg, rec.tape)
    df = again.stop()

    assert "SELECT 1 AS recorded" in df["sql"].to_list()
    assert again.summary["sql"]["recovered_spools"] == 1
    assert not list((rec.tape / ".spool").glob("*.seg"))


def test_large_rows_are_forwarded_and_capped(pg, record):
    rec = record(max_result_rows=2)
    with psycopg.connect(rec.dsn(), autocommit=True) as conn:
        big = conn.execute("SELECT repeat('x', 5 * 1024 * 1024) AS big").fetchone()[0]
        assert len(big) == 5 * 1024 * 1024
        assert conn.execute("SELECT count(*) FROM generate_series(1, 10)").fetchone() == (10,)
        rows = conn.execute("SELECT n FROM generate_series(1, 10) AS n").fetchall()
        assert len(rows) == 10
    df = rec.stop()
    big_row = df.filter(pl.col("sql").str.contains("AS big")).row(0, named=True)
    assert big_row["rows"] == 1 and big_row["result_truncated"] and big_row["result_rows"] == []
    series = df.filter(pl.col("sql").str.contains("AS n")).row(0, named=True)
    assert series["rows"] == 10 and series["result_truncated"]
    assert series["result_rows"] == [[b"1"], [b"2"]]
    assert rec.summary["sql"]["result_truncated"] == 2


def test_frame_over_the_tracker_cap_stops_tracking_not_relaying(pg, record):
    rec = record(capture=CaptureSettings(max_frame=1024 * 1024))
    with psycopg.connect(rec.dsn(), autocommit=True) as conn:
        conn.execute("SELECT 'small' AS first")
        big = conn.execute("SELECT repeat('y', 3 * 1024 * 1024) AS big").fetchone()[0]
        assert big == "y" * (3 * 1024 * 1024)
        assert conn.execute("SELECT 'still relayed' AS later").fetchone() == ("still relayed",)
    df = rec.stop()
    assert df["sql"].to_list() == [
        "SELECT 'small' AS first",
        "SELECT repeat('y', 3 * 1024 * 1024) AS big",
    ]
    assert df["error"][1].startswith("parse error (server)")
    assert rec.summary["sql"]["parse_errors"] == 1
