"""A minimal blocking PostgreSQL client on the pgwire codec, to capture real results.

Tests and benchmarks build worlds from a real server: they run statements through
:class:`CaptureClient` and keep exactly what the server sent (RowDescription types and
formats, DataRow bytes, the command tag or the error), as the recorder would. Trust
authentication only (the servers of :mod:`understudy.testing.postgres`).

Example::

    with CaptureClient.connect("127.0.0.1", pg.port, "understudy", "understudy") as c:
        [res] = c.simple("SELECT 1")
        res.rows            # [(b'1',)]
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from replayer.pg.results import Column
from understudy.pgwire import (
    BackendMessage,
    BackendParser,
    Bind,
    CommandComplete,
    DataRow,
    Describe,
    ErrorResponse,
    Execute,
    ParameterDescription,
    ParameterStatus,
    Parse,
    Query,
    ReadyForQuery,
    RowDescription,
    StartupMessage,
    Sync,
    TargetKind,
    Terminate,
    encode,
    encode_all,
)

__all__ = ["CaptureClient", "Captured"]


@dataclass
class Captured:
    """One statement and what the server answered, as on the wire."""

    sql: str
    protocol: str  # simple | extended
    params: tuple[str | None, ...] = ()
    param_types: tuple[int, ...] = ()
    columns: list[Column] = field(default_factory=list)
    formats: list[int] = field(default_factory=list)
    rows: list[tuple[bytes | None, ...]] = field(default_factory=list)
    tag: str | None = None
    sqlstate: str | None = None
    error_message: str | None = None
    duration_ms: float = 0.0


class CaptureClient:
    """One connection; :meth:`simple` and :meth:`extended` run statements and capture them."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parser = BackendParser()
        self.pending: list[BackendMessage] = []
        self.parameters: dict[str, str] = {}

    @classmethod
    def connect(cls, host: str, port: int, user: str, database: str) -> CaptureClient:
        sock = socket.create_connection((host, port), timeout=30)
        client = cls(sock)
        sock.sendall(encode(StartupMessage({"user": user, "database": database})))
        for msg in client._until_ready():
            if isinstance(msg, ErrorResponse):
                raise RuntimeError(f"cannot connect: {msg.message}")
            if isinstance(msg, ParameterStatus):
                client.parameters[msg.name] = msg.value
        return client

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.sendall(encode(Terminate()))
        self.sock.close()

    def _next(self) -> BackendMessage:
        while not self.pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("server closed the connection")
            self.pending.extend(self.parser.feed(data))
        return self.pending.pop(0)

    def _until_ready(self) -> list[BackendMessage]:
        out = []
        while True:
            msg = self._next()
            out.append(msg)
            if isinstance(msg, ReadyForQuery):
                return out

    def simple(self, sql: str) -> list[Captured]:
        """Run a simple Query; one Captured per statement result (stops at an error)."""
        t0 = time.perf_counter()
        self.sock.sendall(encode(Query(sql)))
        messages = self._until_ready()
        elapsed = (time.perf_counter() - t0) * 1000.0
        out: list[Captured] = []
        cur = Captured(sql, "simple")
        for msg in messages:
            if _absorb(cur, msg):
                out.append(cur)
                cur = Captured(sql, "simple")
        for c in out:
            c.duration_ms = elapsed / max(1, len(out))
        return out

    def extended(
        self,
        sql: str,
        params: tuple[str | None, ...] = (),
        *,
        param_types: tuple[int, ...] = (),
        result_format: int = 0,
    ) -> Captured:
        """Parse/Describe/Bind/Execute/Sync with text parameters; results in ``result_format``."""
        t0 = time.perf_counter()
        raw = tuple(None if p is None else p.encode() for p in params)
        self.sock.sendall(
            encode_all(
                [
                    Parse("", sql, param_types),
                    Describe(TargetKind.STATEMENT, ""),
                    Bind("", "", (), raw, (result_format,)),
                    Describe(TargetKind.PORTAL, ""),
                    Execute("", 0),
                    Sync(),
                ]
            )
        )
        messages = self._until_ready()
        cur = Captured(sql, "extended", params)
        cur.duration_ms = (time.perf_counter() - t0) * 1000.0
        for msg in messages:
            if isinstance(msg, ParameterDescription):
                cur.param_types = msg.type_oids
            elif _absorb(cur, msg):
                break
        return cur


def _absorb(cur: Captured, msg: BackendMessage) -> bool:
    """Add ``msg`` to ``cur``; True when it ends the statement."""
    match msg:
        case RowDescription():
            cur.columns = [Column(f.name, f.type_oid) for f in msg.fields]
            cur.formats = [f.format_code for f in msg.fields]
        case DataRow():
            cur.rows.append(msg.values)
        case CommandComplete():
            cur.tag = msg.tag
            return True
        case ErrorResponse():
            cur.sqlstate = msg.sqlstate
            cur.error_message = msg.message
            return True
    return False
