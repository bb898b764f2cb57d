"""The wire spool between the relay and its decoder process: filtering, rotation, recovery."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import struct
import time

import polars as pl
import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pg_relay_helpers import Recording, decoder_paused, rows, spool_until

import recorder.pg.spool as spool_module
from recorder.pg.spool import AuthFilter, SpoolWriter
from understudy.childenv import child_env
from understudy.errors import TapeWriteError


def _frame(code: bytes, payload: bytes) -> bytes:
    return code + struct.pack("!I", len(payload) + 4) + payload


SERVER_AUTH = [
    _frame(b"R", struct.pack("!I", 10) + b"SCRAM-SHA-256\0\0"),
    _frame(b"R", struct.pack("!I", 11) + b"r=nonce,s=salt,i=4096"),
    _frame(b"R", struct.pack("!I", 12) + b"v=signature"),
    _frame(b"R", struct.pack("!I", 0)),
]
SERVER_AFTER = [
    _frame(b"S", b"server_version\x0015\0"),
    _frame(b"K", struct.pack("!II", 7, 9)),
    _frame(b"Z", b"I"),
    _frame(b"T", b"\0\0"),
    _frame(b"C", b"SELECT 0\0"),
    _frame(b"Z", b"I"),
]


def _chunks(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


@settings(max_examples=300, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12))
def test_server_authentication_is_dropped_whatever_the_chunking(cuts: list[int]) -> None:
    stream = b"".join(SERVER_AUTH + SERVER_AFTER)
    f = AuthFilter(server=True)
    out = b""
    for chunk in _chunks(stream, cuts):
        out += f.feed(chunk) if not f.done else chunk
    assert f.done
    assert out == b"".join(SERVER_AFTER)


@settings(max_examples=200, deadline=None)
@given(cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=8))
def test_client_password_messages_are_dropped(cuts: list[int]) -> None:
    secret = _frame(b"p", b"SCRAM-SHA-256\0" + struct.pack("!i", 8) + b"n,,n=,r=")
    proof = _frame(b"p", b"c=biws,r=nonce,p=proof")
    f = AuthFilter(server=False)
    out = b""
    for chunk in _chunks(secret + proof, cuts):
        out += f.feed(chunk)
    assert out == b"" and f.finish() == b""


def test_a_non_frame_is_spooled_as_is_for_the_decoder_to_report() -> None:
    f = AuthFilter(server=True)
    junk = b"R\x00\x00\x00\x01garbage"  # length 1: not a frame
    assert f.feed(junk) == junk and f.done


def test_many_segments_are_decoded_in_order_and_deleted(
    pg, record, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(spool_module, "SEGMENT_BYTES", 4096)
    rec = record()
    with psycopg.connect(rec.dsn(), autocommit=True) as conn:
        for i in range(400):
            conn.execute(f"SELECT {i} AS i, repeat('x', 50) AS pad").fetchone()
    df = rec.stop()
    got = [int(s.split()[1]) for s in df["sql"].to_list() if " AS i," in s]
    assert got == list(range(400))
    assert df["statement_id"].n_unique() == df.height
    assert not list((rec.tape / ".spool").iterdir())


def test_recovery_does_not_repeat_committed_rows(pg, record) -> None:
    rec = record()
    spool = rec.relay.spool
    assert spool is not None and spool._decoder.proc is not None
    with psycopg.connect(rec.dsn(), autocommit=True) as conn:
        for i in range(50):
            conn.execute(f"SELECT {i} AS committed_first").fetchone()
        deadline = time.monotonic() + 20  # the decoder commits them (flush interval 0.2 s)
        while not (rec.tape / "sql").is_dir() or rows(rec.tape).height < 50:
            assert time.monotonic() < deadline, "the decoder did not commit"
            time.sleep(0.05)
        os.kill(spool._decoder.proc.pid, signal.SIGKILL)
        with pytest.raises(psycopg.OperationalError):
            for i in range(1000):
                conn.execute(f"SELECT {i} AS after_the_kill").fetchone()
                time.sleep(0.01)
    with pytest.raises(Exception, match="decoder"):
        rec.stop()
    again = Recording(pg, rec.tape)
    df = again.stop()
    assert again.summary["sql"]["recovered_spools"] == 1
    assert df["statement_id"].n_unique() == df.height  # nothing twice
    first = df.filter(pl.col("sql").str.contains("committed_first"))["sql"].to_list()
    assert sorted(int(s.split()[1]) for s in first) == list(range(50))


def test_a_full_disk_stops_the_recording_loudly(pg, small_tmpfs) -> None:
    """The spool cannot be written: the connection is ended, no new one is forwarded
    unrecorded, and stopping reports the write error; what was committed stays readable."""
    rec = Recording(pg, small_tmpfs("1m") / "tape")
    with psycopg.connect(rec.dsn(), autocommit=True) as conn:
        conn.execute("SELECT 1 AS before_the_disk_filled").fetchone()
        with pytest.raises(psycopg.OperationalError):
            for _ in range(200):  # 100 kB answers: the 1 MiB disk fills within a dozen
                conn.execute("SELECT repeat('x', 100000) AS filler").fetchone()
                time.sleep(0.01)
    assert isinstance(rec.sink.fatal, TapeWriteError)
    assert rec.psql("-c", "SELECT 2", check=False).returncode != 0  # refused on arrival
    assert "No space left" in str(rec.sink.fatal) or "decoder" in str(rec.sink.fatal)
    with pytest.raises(TapeWriteError):
        rec.stop()
    assert rec.sink.counters["sql.refused_connections"] >= 1


def test_a_spool_is_read_from_its_oldest_segment_left(tmp_path) -> None:
    """Decoded segments are deleted: recovery starts at the first one still on disk."""
    from recorder.pg.spool import CLIENT, HEADER, NEXT, OPEN, SpoolReader, opened_connections

    def record(kind: int, data: bytes) -> bytes:
        return HEADER.pack(7, kind, 1.0, len(data)) + data

    opened = b'{"conn_id": "c7", "params": {}}'
    (tmp_path / "p-000003.seg").write_bytes(record(OPEN, opened) + record(NEXT, b""))
    (tmp_path / "p-000004.seg").write_bytes(record(CLIENT, b"Q...."))
    commits: list[int] = []
    reader = SpoolReader(tmp_path, "p", None, lambda: commits.append(1))
    assert [(k, d) for _, k, _, d in reader.records()] == [(OPEN, opened), (CLIENT, b"Q....")]
    assert len(commits) == 2 and not list(tmp_path.glob("*.seg"))
    (tmp_path / "p-000009.seg").write_bytes(record(OPEN, opened))
    assert opened_connections(tmp_path, "p") == {"c7"}


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"UNDERSTUDY_KEY": "not hex"}, "UNDERSTUDY_KEY must be hex"),  # says fatal, exits 1
        ({"PYTHONHOME": "/nonexistent"}, "exited unexpectedly"),  # Python cannot even start
    ],
)
def test_a_decoder_that_cannot_start_stops_the_recorder_before_it_listens(
    tmp_path, env: dict[str, str], match: str
) -> None:
    """The relay listens only once its decoder said it is ready; a decoder that fails first
    is a start-up error with the decoder's reason, not a failure after traffic began."""

    async def start(spool: SpoolWriter) -> None:
        spool.start(asyncio.get_running_loop())
        await spool.ready(timeout=60)

    spool = SpoolWriter(tmp_path, config={}, decoder_env=child_env(**env))
    started = time.monotonic()
    with pytest.raises(TapeWriteError, match=match):
        asyncio.run(start(spool))
    spool.seal()
    with pytest.raises(TapeWriteError, match=match):
        spool.close()  # still the decoder's reason
    assert time.monotonic() - started < 30  # the failure is noticed, not waited out


def test_the_decoder_has_started_when_the_relay_listens(tmp_path) -> None:
    """Its imports (0.4 s of CPU) are done before traffic can arrive, and then it runs at
    idle CPU priority."""

    async def start() -> SpoolWriter:
        spool = SpoolWriter(tmp_path, config={}, decoder_env=child_env(UNDERSTUDY_KEY="5e" * 32))
        spool.start(asyncio.get_running_loop())
        await spool.ready(timeout=60)
        return spool

    spool = asyncio.run(start())
    try:
        proc = spool._decoder.proc
        assert proc is not None and proc.poll() is None
        assert spool._decoder._ready.is_set() and spool.error is None
        if hasattr(os, "SCHED_IDLE"):
            assert os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
    finally:
        spool.seal()
        spool.close()
    assert proc.returncode == 0


def test_a_decoder_that_hangs_at_start_is_stopped_and_reported(tmp_path) -> None:
    """A decoder stuck before it is ready (here: an import that sleeps) is killed at the
    start timeout; the spool closes at once, with that reason."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text("import time\ntime.sleep(120)\n")
    env = child_env(UNDERSTUDY_KEY="5e" * 32)
    env["PYTHONPATH"] = f"{site}{os.pathsep}{env['PYTHONPATH']}"
    (tmp_path / "tape").mkdir()
    spool = SpoolWriter(tmp_path / "tape", config={}, decoder_env=env)

    async def start() -> None:
        spool.start(asyncio.get_running_loop())
        await spool.ready(timeout=2)

    with pytest.raises(TapeWriteError, match="did not start within 2 s"):
        asyncio.run(start())
    spool.seal()
    started = time.monotonic()
    with pytest.raises(TapeWriteError, match="did not start within 2 s"):
        spool.close()
    assert time.monotonic() - started < 10
    assert spool._decoder.proc is not None and spool._decoder.proc.returncode is not None


def test_the_last_chunk_before_a_pause_reaches_the_spool(pg, record) -> None:
    """No chunk comes after the answer to hand the records off on the loop: the sync thread
    sees them due and asks the loop to write them (nothing waits for more traffic)."""
    rec = record()
    with decoder_paused(rec), psycopg.connect(rec.dsn(), autocommit=True) as conn:
        conn.execute("SELECT 'the-last-answer' AS m").fetchone()
        # the query, then the DataRow
        spool_until(rec.tape, lambda raw: raw.count(b"the-last-answer") >= 2, "the answer")
        assert rec.relay.spool.records == []
    df = rec.stop()
    assert "SELECT 'the-last-answer' AS m" in df["sql"].to_list()
