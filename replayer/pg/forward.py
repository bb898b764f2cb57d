"""``--pg-on-miss forward:HOST:PORT``: run unknown statements on a real (shadow) database.

Each client connection that misses gets its own upstream connection, opened on first use
with the client's user and database (password: ``forward_password``; trust, cleartext, MD5
and SCRAM-SHA-256 are spoken), and closed with the client's. The codec is used as a client:
a simple-protocol statement is sent as a Query, a bound one as Parse/Bind/Describe/Execute/
Sync with the client's parameter and result formats, and the answer comes back as a
:class:`~replayer.pg.results.Result` that the connection serves like a recorded one. The
upstream runs each statement in its own (autocommit) transaction.

Any failure (connect, authentication, IO, timeout) becomes an ErrorResponse with SQLSTATE
UN002 for that statement; the client connection stays usable.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final

from replayer.pg.auth import SCRAM_SHA_256, ScramClient, md5_password
from replayer.pg.errors import ReplaySqlState, UpstreamError
from replayer.pg.events import Forwarded, ForwardRequest
from replayer.pg.results import Column, Result
from understudy.errors import PgProtocolError
from understudy.pgwire import (
    AuthenticationCleartextPassword,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationResponse,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendMessage,
    BackendParser,
    Bind,
    CommandComplete,
    DataRow,
    Describe,
    EmptyQueryResponse,
    ErrorResponse,
    Execute,
    Message,
    NoData,
    ParameterDescription,
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
    error_response,
)

__all__ = ["Upstream"]

_TIMEOUT: Final = 30.0


class Upstream:
    """One connection to the shadow database, opened lazily, one statement at a time."""

    def __init__(self, host: str, port: int, *, password: str | None = None) -> None:
        self.host = host
        self.port = port
        self.password = password
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._parser = BackendParser()
        self._buffer: list[BackendMessage] = []
        self._lock = asyncio.Lock()

    async def run(self, request: ForwardRequest) -> Forwarded:
        """Run ``request`` upstream; failures become a UN002 error result."""
        async with self._lock:
            try:
                return await asyncio.wait_for(self._run(request), _TIMEOUT)
            except (OSError, TimeoutError, PgProtocolError, UpstreamError) as exc:
                await self.close()
                reason = str(exc) or type(exc).__name__
                return Forwarded(Result.failure(error_response(
                    ReplaySqlState.FORWARD_FAILED,
                    f"understudy: forwarding to {self.host}:{self.port} failed: {reason}",
                )))  # fmt: skip

    async def close(self) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            with contextlib.suppress(Exception):
                writer.write(encode(Terminate()))
                writer.close()
                await writer.wait_closed()

    async def _run(self, request: ForwardRequest) -> Forwarded:
        if self._writer is None:
            await self._connect(request.user, request.database)
        match request.kind:
            case "query":
                self._send(Query(request.sql))
            case "describe":
                self._send(Parse("", request.sql, request.param_types),
                           Describe(TargetKind.STATEMENT, ""), Sync())  # fmt: skip
            case _:
                self._send(
                    Parse("", request.sql, request.param_types),
                    Bind("", "", request.param_formats, request.params, request.result_formats),
                    Describe(TargetKind.PORTAL, ""),
                    Execute("", 0),
                    Sync(),
                )
        return _collect(await self._until_ready(), request.result_formats)

    def _send(self, *messages: Message) -> None:
        assert self._writer is not None
        self._writer.write(encode_all(messages))

    async def _next(self) -> BackendMessage:
        while not self._buffer:
            assert self._reader is not None
            data = await self._reader.read(65536)
            if not data:
                raise UpstreamError("the shadow database closed the connection")
            self._buffer.extend(self._parser.feed(data))
        return self._buffer.pop(0)

    async def _until_ready(self) -> list[BackendMessage]:
        out: list[BackendMessage] = []
        while True:
            msg = await self._next()
            if isinstance(msg, ReadyForQuery):
                return out
            out.append(msg)

    async def _connect(self, user: str, database: str) -> None:
        self._parser = BackendParser()
        self._buffer = []
        self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        params = {"user": user, "database": database, "application_name": "understudy-forward",
                  "client_encoding": "UTF8"}  # fmt: skip
        self._writer.write(encode(StartupMessage(params)))
        scram: ScramClient | None = None
        while True:
            msg = await self._next()
            match msg:
                case AuthenticationSASLFinal():
                    if scram is None or not scram.verify(msg.data):
                        raise UpstreamError("the shadow database failed SCRAM verification")
                case AuthenticationOk():
                    pass
                case AuthenticationCleartextPassword():
                    self._send(AuthenticationResponse.from_password(self._password()))
                case AuthenticationMD5Password():
                    self._send(AuthenticationResponse.from_password(
                        md5_password(self._password(), user, msg.salt)))  # fmt: skip
                case AuthenticationSASL():
                    if SCRAM_SHA_256 not in msg.mechanisms:
                        raise UpstreamError(f"no supported SASL mechanism in {msg.mechanisms}")
                    scram = ScramClient(self._password())
                    self._send(AuthenticationResponse.from_sasl_initial_response(
                        SCRAM_SHA_256, scram.first()))  # fmt: skip
                case AuthenticationSASLContinue():
                    if scram is None:
                        raise UpstreamError("SASL challenge without a SASL exchange")
                    self._send(AuthenticationResponse.from_sasl_response(scram.final(msg.data)))
                case ErrorResponse():
                    raise UpstreamError(f"{msg.sqlstate}: {msg.message}")
                case ReadyForQuery():
                    return
                case _:
                    pass  # ParameterStatus, BackendKeyData, NoticeResponse

    def _password(self) -> str:
        if self.password is None:
            raise UpstreamError(
                "the shadow database asks for a password; give --pg-forward-password"
            )
        return self.password


def _collect(messages: list[BackendMessage], formats: tuple[int, ...]) -> Forwarded:
    """Turn what the upstream sent for one statement into a result."""
    columns: list[Column] = []
    col_formats: list[int] = []
    rows: list[tuple[bytes | None, ...]] = []
    tag = ""
    params: tuple[int, ...] = ()
    for msg in messages:
        match msg:
            case RowDescription():
                columns = [Column(f.name, f.type_oid) for f in msg.fields]
                col_formats = [f.format_code for f in msg.fields]
            case DataRow():
                rows.append(msg.values)
            case CommandComplete():
                tag = msg.tag
            case ParameterDescription():
                params = msg.type_oids
            case ErrorResponse():
                return Forwarded(Result.failure(msg))
            case EmptyQueryResponse() | NoData():
                pass
            case _:
                pass
    return Forwarded(Result(columns, rows, tag, formats=col_formats or formats), params)
