"""The PostgreSQL relay: a thin asyncio adapter around :class:`~recorder.pg.capture.Tracker`.

Clients connect to the relay as if it were the database. Each chunk is written to the
other side first and only then appended, with its arrival time, to the wire spool
(:mod:`recorder.pg.spool`); a separate decoder process turns the spool into statement rows
with the :class:`~recorder.pg.capture.Tracker`, so parsing never delays or changes the
traffic, and a chunk the tracker cannot follow has been forwarded all the same (that
connection's tracking stops, with an ``error`` row). Both legs are :class:`asyncio.Protocol`
objects with no awaits on the data path; backpressure pauses the reading side when the other
side's write buffer is full.

The startup phase is the one place the relay acts on bytes before forwarding them: it
answers SSLRequest and GSSENCRequest with ``N`` itself, hands the StartupMessage (database,
user, application_name) to the spool, and forwards a CancelRequest to the upstream on
its own connection (it names the upstream's BackendKeyData, which passed through unchanged).
Authentication messages pass through and never reach the spool (:class:`AuthFilter`). An
upstream that cannot be reached (or refuses the TLS ``--pg-upstream-tls require`` asks for)
is reported to the client as a server would: a FATAL ErrorResponse with SQLSTATE 08006,
then the connection closes.

A spool or tape that cannot be written (or a decoder that dies) closes the connections, and
new connections are closed on arrival: the relay never forwards what it cannot record. The
relay listens only once its decoder process has started (a decoder that cannot start is a
start-up error), so the decoder's imports never compete with the first traffic.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Final, cast

from recorder.config import RecorderConfig
from recorder.pg.pace import Pace
from recorder.pg.rows import CaptureSettings, safe_text
from recorder.pg.spool import CLIENT, CLOSE, OPEN, SERVER, AuthFilter, SpoolWriter
from recorder.pg.tls import UpstreamTLSError, negotiate
from recorder.sink import TapeSink
from understudy.childenv import child_env
from understudy.errors import ConfigError, PgProtocolError, TapeWriteError
from understudy.pgwire import (
    CANCEL_REQUEST_CODE,
    GSSENC_REQUEST_CODE,
    MAX_STARTUP_PACKET,
    SSL_REQUEST_CODE,
    PseudoCode,
    StartupMessage,
    decode_frontend,
    encode,
    error_response,
)

__all__ = ["PgRelay", "RelaySettings", "start_pg_relay"]

_STARTUP_HEADER: Final = struct.Struct("!II")
_PENDING_HIGH: Final = 1024 * 1024  # client bytes queued while the upstream connects
_now: Final = time.time


@dataclass(frozen=True)
class RelaySettings:
    """Where to listen and forward, how, and the tracker's limits."""

    listen: tuple[str, int]
    upstream: tuple[str, int]
    upstream_tls: str = "disable"
    capture: CaptureSettings = field(default_factory=CaptureSettings)
    connect_timeout: float = 10.0

    @classmethod
    def from_config(cls, config: RecorderConfig) -> RelaySettings:
        if config.pg_listen is None or config.pg_upstream is None:
            raise ConfigError("PostgreSQL recording needs --pg and --pg-upstream")
        return cls(
            listen=config.pg_listen,
            upstream=config.pg_upstream,
            upstream_tls=config.pg_upstream_tls,
            capture=CaptureSettings(
                max_result_rows=config.max_result_rows, max_result_bytes=config.max_body
            ),
        )


def _addr(peer: object) -> str | None:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host, port = peer[0], peer[1]
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    return None


def _nodelay(transport: asyncio.BaseTransport) -> None:
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _ServerSide(asyncio.Protocol):
    """The upstream leg: server bytes go to the client, then to the tracker."""

    def __init__(self, conn: _ClientSide) -> None:
        self.conn = conn
        self.answer: asyncio.Future[bytes] | None = None  # set while negotiating TLS
        self.established = False  # set by _connect once the leg is ready (TLS and all)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.conn.legs += 1

    def data_received(self, data: bytes) -> None:
        if self.answer is not None:  # the answer to our SSLRequest: not for the client
            if not self.answer.done():
                self.answer.set_result(data)
            return
        conn = self.conn
        client = conn.client
        if client is not None:
            client.write(data)
        records = conn.records  # the hot path of SpoolWriter.add, inlined
        if records is not None:
            auth = conn.auth_server
            if auth is not None:
                data = conn.end_of_auth(auth.feed(data))
                if conn.records is None:
                    return
            if records or conn.arm():
                now = _now()
                records.append((conn.num, SERVER, now, data))
                if now >= conn.spool.due:  # type: ignore[union-attr]  # set with records
                    conn.spool.handoff()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.answer is not None and not self.answer.done():
            self.answer.set_exception(ConnectionResetError("upstream closed during TLS setup"))
        if self.established:  # during set-up, _connect handles failures
            self.conn.finish("upstream closed")
        self.conn.leg_lost()

    def pause_writing(self) -> None:
        if self.conn.client is not None:
            self.conn.client.pause_reading()

    def resume_writing(self) -> None:
        if self.conn.client is not None:
            self.conn.client.resume_reading()


class _ClientSide(asyncio.Protocol):
    """The client leg and the connection's state: startup phase, then plain forwarding."""

    def __init__(self, relay: PgRelay) -> None:
        self.relay = relay
        self.client: asyncio.Transport | None = None
        self.server: asyncio.Transport | None = None
        self.spool: SpoolWriter | None = None  # set once the StartupMessage is spooled
        self.records: list[tuple[int, int, float, bytes]] | None = None  # spool.records
        self.num = 0
        self.auth_client: AuthFilter | None = None  # until authentication ends
        self.auth_server: AuthFilter | None = None
        self.startup: bytearray | None = bytearray()  # None once past the startup phase
        self.pending: list[bytes] = []  # for the upstream, until it is connected
        self.pending_size = 0
        self.client_addr: str | None = None
        self.connect_task: asyncio.Task[None] | None = None
        self.upstream_error: str | None = None
        self.closed = False
        self.legs = 0  # transports open (client, upstream)
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- client events -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.client = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.legs += 1
        relay = self.relay
        relay.connections.add(self)
        if relay.closing or not relay.sink.healthy:
            relay.sink.count("sql.refused_connections")
            self.closed = True
            self.client.abort()
            return
        _nodelay(transport)
        self.client_addr = _addr(transport.get_extra_info("peername"))
        relay.sink.count("sql.connections")
        self.connect_task = asyncio.get_running_loop().create_task(self._connect())

    def data_received(self, data: bytes) -> None:
        if self.startup is not None:
            self._startup_data(data)
            return
        server = self.server
        if server is not None:
            server.write(data)
        else:
            self._queue_upstream(data)
        records = self.records  # the hot path of SpoolWriter.add, inlined
        if records is not None:
            auth = self.auth_client
            if auth is not None:
                data = auth.feed(data)
            if records or self.arm():
                now = _now()
                records.append((self.num, CLIENT, now, data))
                if now >= self.spool.due:  # type: ignore[union-attr]  # set with records
                    self.spool.handoff()  # type: ignore[union-attr]

    def connection_lost(self, exc: Exception | None) -> None:
        self.finish("client disconnected")
        self.leg_lost()

    def pause_writing(self) -> None:
        if self.server is not None:
            self.server.pause_reading()

    def resume_writing(self) -> None:
        if self.server is not None:
            self.server.resume_reading()

    # -- startup phase ---------------------------------------------------------------------------
    def _startup_data(self, data: bytes) -> None:
        buf = self.startup
        assert buf is not None and self.client is not None
        buf += data
        while len(buf) >= 8:
            length, code = _STARTUP_HEADER.unpack_from(buf)
            if not 8 <= length <= MAX_STARTUP_PACKET:
                self.relay.sink.count("sql.parse_errors")
                self.finish(f"bad startup packet length {length}")
                return
            if len(buf) < length:
                return
            packet = bytes(buf[:length])
            del buf[:length]
            if code in (SSL_REQUEST_CODE, GSSENC_REQUEST_CODE):
                self.client.write(b"N")  # no encryption towards clients: libpq goes on
                continue
            self.startup = None
            if self.upstream_error is not None:
                self._refuse(self.upstream_error)
                return
            rest = bytes(buf)
            self._queue_upstream(packet + rest)
            if code != CANCEL_REQUEST_CODE:
                self._start_tracking(packet)
                if rest and self.spool is not None and self.auth_client is not None:
                    self.spooled(CLIENT, self.auth_client.feed(rest))
            return

    def _start_tracking(self, packet: bytes) -> None:
        try:
            msg = decode_frontend(PseudoCode.STARTUP, packet[4:])
        except PgProtocolError:
            self.relay.sink.count("sql.parse_errors")
            return  # forwarded anyway: the server answers it as it sees fit
        relay = self.relay
        spool = relay.spool
        if not isinstance(msg, StartupMessage) or spool is None:
            return
        relay.conn_seq += 1
        self.num = relay.conn_seq
        opened = {
            "conn_id": secrets.token_hex(8),
            "client_addr": self.client_addr,
            "params": {k: safe_text(v) for k, v in msg.parameters.items()},
        }
        self.spool = spool
        self.records = spool.records
        self.auth_client = AuthFilter(server=False)
        self.auth_server = AuthFilter(server=True)
        self.spooled(OPEN, json.dumps(opened).encode())

    def arm(self) -> bool:
        """Before appending to an empty ``records``: False (the connection ended) once the
        spool has failed."""
        spool = self.spool
        if spool is None:
            return False
        try:
            spool.arm()
        except TapeWriteError:
            self.unrecordable()
            return False
        return True

    def spooled(self, kind: int, data: bytes) -> None:
        """Append a record to the spool; a spool that failed ends this connection."""
        spool = self.spool
        if spool is None or self.records is None:
            return
        try:
            spool.add(self.num, kind, _now(), data)
        except TapeWriteError:
            self.unrecordable()

    def end_of_auth(self, data: bytes) -> bytes:
        """Server bytes passed the filter; once it saw ReadyForQuery, stop filtering."""
        auth = self.auth_server
        if auth is not None and auth.done:
            self.auth_server = None
            client, self.auth_client = self.auth_client, None
            rest = client.finish() if client is not None else b""
            if rest:
                self.spooled(CLIENT, rest)
        return data

    def _queue_upstream(self, data: bytes) -> None:
        if self.server is not None:
            self.server.write(data)
            return
        self.pending.append(data)
        self.pending_size += len(data)
        if self.pending_size > _PENDING_HIGH and self.client is not None:
            self.client.pause_reading()

    # -- upstream leg ----------------------------------------------------------------------------
    async def _connect(self) -> None:
        settings = self.relay.settings
        host, port = settings.upstream
        loop = asyncio.get_running_loop()
        transport: asyncio.Transport | None = None
        try:
            raw, protocol = await asyncio.wait_for(
                loop.create_connection(lambda: _ServerSide(self), host, port),
                settings.connect_timeout,
            )
            transport = raw
            _nodelay(transport)
            transport = await negotiate(
                transport, protocol, mode=settings.upstream_tls, host=host,
                timeout=settings.connect_timeout,
            )  # fmt: skip
        except (OSError, TimeoutError, UpstreamTLSError) as exc:
            if transport is not None:
                transport.abort()
            self._upstream_failed(f"cannot connect to upstream {host}:{port}: {exc}")
            return
        except BaseException:  # cancelled by finish(): do not leak the half-made leg
            if transport is not None:
                transport.abort()
            raise
        if self.closed:
            transport.close()
            return
        protocol.established = True
        self.server = transport
        pending, self.pending, self.pending_size = self.pending, [], 0
        for chunk in pending:
            transport.write(chunk)
        if self.client is not None:
            self.client.resume_reading()

    def _upstream_failed(self, reason: str) -> None:
        self.relay.sink.count("sql.upstream_errors")
        if self.startup is not None:
            # The client is still negotiating (it may be reading the answer to its
            # SSLRequest): tell it once it sends its StartupMessage, or give up later.
            self.upstream_error = reason
            delay = self.relay.settings.connect_timeout
            asyncio.get_running_loop().call_later(delay, self.finish, "upstream unreachable")
            return
        self._refuse(reason)

    def _refuse(self, reason: str) -> None:
        """Answer the client with a FATAL ErrorResponse (as a server would) and close."""
        if self.client is not None and not self.closed:
            err = error_response("08006", f"understudy relay: {reason}", severity="FATAL")
            self.client.write(encode(err))
        self.finish("upstream unreachable")

    # -- endings -----------------------------------------------------------------------------------
    def unrecordable(self) -> None:
        """The spool failed: this connection must not go on unrecorded."""
        if not self.closed:
            self.relay.sink.count("sql.closed_unrecordable")
            self.spool = self.records = None
            self.finish("tape write failed", abort=True)

    def leg_lost(self) -> None:
        """One transport is gone; the connection is done when both are."""
        self.legs -= 1
        if self.legs <= 0 and self.closed and not self.done.done():
            self.relay.connections.discard(self)
            self.done.set_result(None)

    def abort(self) -> None:
        """Drop both legs now (a TLS shutdown that does not finish, at exit)."""
        for transport in (self.client, self.server):
            if transport is not None:
                transport.abort()

    def finish(self, reason: str, *, abort: bool = False) -> None:
        """End the connection once: flush the tracker, close both legs (idempotent)."""
        if self.closed:
            return
        self.closed = True
        if self.connect_task is not None and not self.connect_task.done():
            self.connect_task.cancel()
        spool, self.spool, self.records = self.spool, None, None
        if spool is not None:
            with contextlib.suppress(TapeWriteError):
                spool.add(self.num, CLOSE, _now(), reason.encode())
        for transport in (self.client, self.server):
            if transport is not None:
                if abort:
                    transport.abort()
                else:
                    transport.close()  # after what is buffered: a final error still arrives


class PgRelay:
    """The listening relay; created and started by :func:`start_pg_relay`."""

    def __init__(self, settings: RelaySettings, sink: TapeSink, *, track: bool = True) -> None:
        self.settings = settings
        self.sink = sink
        self.connections: set[_ClientSide] = set()
        self.closing = False
        self.track = track  # False only to measure the bare relay (benchmarks)
        self.spool: SpoolWriter | None = None
        self.conn_seq = 0
        self._server: asyncio.AbstractServer | None = None

        self.bound: tuple[str, int] = settings.listen

    async def start(self) -> None:
        """Listen; raises :class:`ConfigError` when the address cannot be bound."""
        loop = asyncio.get_running_loop()
        host, port = self.settings.listen
        if self.track and self.spool is None:
            self.spool = self._start_spool(loop)
            await self.spool.ready()
        try:
            self._server = await loop.create_server(
                lambda: _ClientSide(self), host, port, reuse_address=True, backlog=1024
            )
        except OSError as exc:
            raise ConfigError(f"--pg {host}:{port}: {exc.strerror or exc}") from exc
        sockname = self._server.sockets[0].getsockname()
        self.bound = (str(sockname[0]), int(sockname[1]))

    def _start_spool(self, loop: asyncio.AbstractEventLoop) -> SpoolWriter:
        """The wire spool and its decoder process, as the sink's ``sql`` writer."""
        Pace.from_env()  # the decoder's settings: a bad one stops the recorder before it listens
        sink = self.sink
        config = {
            "policy": sink.redactor.policy.summary(),
            "capture": dataclasses.asdict(self.settings.capture),
            "flush_interval": sink.flush_interval,
        }
        env = child_env(UNDERSTUDY_KEY=sink.redactor.pseudonymizer.key.hex())
        spool = SpoolWriter(
            sink.tape, config=config, decoder_env=env, flush_interval=sink.flush_interval,
            on_fatal=sink.fail,
        )  # fmt: skip
        spool.start(loop)
        sink.attach("sql", spool)
        return spool

    async def close(self) -> None:
        """Stop accepting, end every connection (in-flight statements: ``recorder shutdown``)."""
        self.closing = True
        if self._server is not None:
            self._server.close()
        conns = list(self.connections)
        for conn in conns:
            conn.finish("recorder shutdown")
        waits = [c.done for c in conns if not c.done.done()]
        if waits:
            _, late = await asyncio.wait(waits, timeout=5.0)
            if late:
                for conn in conns:
                    if not conn.done.done():
                        conn.abort()
                await asyncio.wait(late, timeout=1.0)
        if self.spool is not None:
            self.spool.seal()  # the sink's close() then waits for the decoder
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)


async def start_pg_relay(config: RecorderConfig, sink: TapeSink, *, track: bool = True) -> PgRelay:
    """Start the relay on the running loop: listen on ``config.pg_listen``, forward to
    ``config.pg_upstream``, record every statement into ``sink`` (kind ``sql``).

    Returns a handle with ``bound`` (the address actually bound) and ``await close()``.
    """
    relay = PgRelay(RelaySettings.from_config(config), sink, track=track)
    await relay.start()
    return relay
