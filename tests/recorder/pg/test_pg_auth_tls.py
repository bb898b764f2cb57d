"""Startup through the relay: SCRAM, TLS to the upstream, SSL/GSSENC requests, cancel."""

from __future__ import annotations

import socket
import struct
import threading
import time

import polars as pl
import psycopg
import pytest
from conftest import SCRAM_PASSWORD, SCRAM_USER, TLS_USER
from pg_relay_helpers import decoder_paused, spool_until, tape_bytes_contain

from understudy.pgwire import (
    BackendParser,
    CommandComplete,
    DataRow,
    Query,
    ReadyForQuery,
    StartupMessage,
    Terminate,
    encode,
)


def test_scram_authentication_passes_through(pg, record):
    rec = record()
    dsn = f"postgresql://{SCRAM_USER}:{SCRAM_PASSWORD}@{rec.host}:{rec.port}/{pg.database}"
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT current_user AS who").fetchone() == (SCRAM_USER,)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(dsn.replace(SCRAM_PASSWORD, "wrong-password")).close()
    out = rec.psql("-c", "SELECT 'psql' AS via", check=False)
    assert out.returncode == 0
    df = rec.stop()
    who = df.filter(pl.col("sql").str.contains("AS who")).row(0, named=True)
    assert who["user"] == SCRAM_USER and who["result_rows"] == [[SCRAM_USER.encode()]]
    assert df["sqlstate"].is_null().all()
    assert not tape_bytes_contain(rec.tape, SCRAM_PASSWORD)
    assert rec.summary["sql"]["connections"] == 3


def test_authentication_never_reaches_the_spool(pg, record):
    """The spool holds raw wire bytes until decoded: the SASL exchange must not be among them."""
    rec = record()
    dsn = f"postgresql://{SCRAM_USER}:{SCRAM_PASSWORD}@{rec.host}:{rec.port}/{pg.database}"
    with decoder_paused(rec), psycopg.connect(dsn) as conn:
        conn.execute("SELECT 'spooled-marker' AS m").fetchone()
        raw = spool_until(rec.tape, lambda raw: b"spooled-marker" in raw, "the query")
        spool = rec.tape / ".spool"
        assert oct(spool.stat().st_mode & 0o777) == "0o700"
        assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in spool.iterdir())
    assert b"SCRAM-SHA-256" not in raw  # AuthenticationSASL / SASLInitialResponse
    assert b"n,,n=" not in raw and b",p=" not in raw  # client-first, client-final (proof)
    assert SCRAM_PASSWORD.encode() not in raw
    assert b"server_version" in raw  # what follows authentication is spooled
    rec.stop()
    assert not list((rec.tape / ".spool").glob("*.seg"))  # decoded, then deleted


@pytest.mark.parametrize("loop_kind", ["uvloop", "asyncio"])
def test_upstream_tls_required(pg, record, loop_kind):
    rec = record(upstream_tls="require", loop_kind=loop_kind)
    # pg_hba rejects TLS_USER without TLS: this only works if the relay's upstream leg is TLS
    with psycopg.connect(rec.dsn(user=TLS_USER), autocommit=True) as conn:
        got = conn.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        assert got.fetchone() == (True,)
    df = rec.stop()
    assert df["result_rows"].to_list() == [[[b"t"]]]
    assert df["user"].to_list() == [TLS_USER]


def test_without_upstream_tls_the_tls_only_role_is_refused(pg, record):
    rec = record()
    with pytest.raises(psycopg.OperationalError, match="no encryption"):
        psycopg.connect(rec.dsn(user=TLS_USER)).close()
    with psycopg.connect(rec.dsn(), autocommit=True) as conn:  # the relay is fine
        conn.execute("SELECT 1")
    assert rec.stop().height == 1


def test_clients_asking_for_tls_get_n(pg, record):
    rec = record()
    out = rec.psql("-d", f"sslmode=require dbname={pg.database}", "-c", "SELECT 1", check=False)
    assert out.returncode != 0 and "does not support SSL" in out.stderr
    with socket.create_connection((rec.host, rec.port), timeout=10) as s:
        s.sendall(struct.pack("!II", 8, 80877103))  # SSLRequest
        assert s.recv(1) == b"N"
        s.sendall(struct.pack("!II", 8, 80877104))  # GSSENCRequest
        assert s.recv(1) == b"N"
        s.sendall(encode(StartupMessage({"user": pg.user, "database": pg.database})))
        s.sendall(encode(Query("SELECT 'raw' AS via_socket")))
        parser, seen = BackendParser(), []
        while not any(isinstance(m, CommandComplete) for m in seen):
            seen += parser.feed(s.recv(65536))
        while not isinstance(seen[-1], ReadyForQuery):
            seen += parser.feed(s.recv(65536))
        assert DataRow((b"raw",)) in seen
        s.sendall(encode(Terminate()))
    df = rec.stop()
    assert df.select("sql", "result_rows").rows() == [("SELECT 'raw' AS via_socket", [[b"raw"]])]


def test_cancel_request_reaches_the_upstream(pg, record):
    rec = record()
    with psycopg.connect(rec.dsn(), autocommit=True) as conn:
        timer = threading.Timer(0.5, conn.cancel_safe)
        timer.start()
        started = time.monotonic()
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(30) AS long_one")
        timer.join()
        assert time.monotonic() - started < 25  # cancelled, not finished
        conn.execute("SELECT 'still usable' AS after")
    df = rec.stop()
    assert df.select("sql", "sqlstate").rows() == [
        ("SELECT pg_sleep(30) AS long_one", "57014"),
        ("SELECT 'still usable' AS after", None),
    ]
    assert rec.summary["sql"]["connections"] == 2  # the session and the cancel connection
