"""Fuzzing: random and mutated frames sent to a running replay server, while a well-behaved
psycopg connection on another socket keeps working after every example."""

from __future__ import annotations

import socket

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pg_replay_helpers import BY_ID, COUNT, dsn

from replayer.pg.testing.thread import ServerThread
from understudy.pgwire import (
    Bind,
    Close,
    Describe,
    Execute,
    Flush,
    Parse,
    Query,
    StartupMessage,
    Sync,
    TargetKind,
    Terminate,
    encode,
)

_TEXT = st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=40)
_NAME = st.sampled_from(["", "s1", "p1", "__asyncpg_stmt_1__"])
_SQL = st.one_of(
    _TEXT,
    st.sampled_from(
        [BY_ID + "1", BY_ID + "$1", COUNT, "BEGIN", "ROLLBACK", "SELECT 1; SELECT 2", "SHOW x"]
    ),
)
_MESSAGE = st.one_of(
    st.builds(Query, _SQL),
    st.builds(Parse, _NAME, _SQL, st.lists(st.sampled_from([0, 23, 25]), max_size=2).map(tuple)),
    st.builds(
        Bind,
        _NAME,
        _NAME,
        st.just(()),
        st.lists(st.one_of(st.none(), st.binary(max_size=8)), max_size=2).map(tuple),
        st.lists(st.sampled_from([0, 1]), max_size=3).map(tuple),
    ),
    st.builds(Describe, st.sampled_from(list(TargetKind)), _NAME),
    st.builds(Execute, _NAME, st.integers(0, 3)),
    st.builds(Close, st.sampled_from(list(TargetKind)), _NAME),
    st.just(Sync()),
    st.just(Flush()),
    st.just(Terminate()),
)


@st.composite
def _stream(draw: st.DrawFn) -> tuple[bytes, bool]:
    """Bytes for one connection, and whether the client vanishes without reading."""
    startup = draw(st.booleans())
    data = encode(StartupMessage({"user": "fuzz", "database": "fuzz"})) if startup else b""
    messages = draw(st.lists(_MESSAGE, max_size=8))
    body = b"".join(encode(m) for m in messages)
    if body and draw(st.booleans()):  # mutate: flip, cut or splice bytes
        pos = draw(st.integers(0, len(body) - 1))
        how = draw(st.sampled_from(["flip", "cut", "splice"]))
        if how == "flip":
            body = body[:pos] + bytes([body[pos] ^ draw(st.integers(1, 255))]) + body[pos + 1 :]
        elif how == "cut":
            body = body[:pos]
        else:
            body = body[:pos] + draw(st.binary(min_size=1, max_size=16)) + body[pos:]
    if draw(st.integers(0, 9)) == 0:
        body = draw(st.binary(max_size=64))  # pure garbage
    return data + body, draw(st.booleans())


def _exchange(port: int, data: bytes, vanish: bool) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        try:
            s.sendall(data)
            if vanish:
                return  # gone mid-pipeline, answers unread
            s.shutdown(socket.SHUT_WR)
            while s.recv(65536):
                pass
        except OSError:
            pass  # the server may close first: that is an allowed answer to garbage


def test_fuzzed_connections_do_not_disturb_others(replay: ServerThread) -> None:
    with psycopg.connect(dsn(replay.port), autocommit=True) as good:

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(_stream())
        def run(stream: tuple[bytes, bool]) -> None:
            _exchange(replay.port, *stream)
            assert good.execute(COUNT).fetchone() == (40,)

        run()
        assert good.execute(BY_ID + "%s", (1,)).fetchone()[0] == 1
