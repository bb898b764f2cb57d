"""The asyncio adapter: sockets in, :class:`~replayer.pg.connection.PgConnection` s behind.

One :class:`asyncio.Protocol` per client connection (no thread per connection); the state
machine does all the protocol work and this module only carries out its actions: writes,
delays on loop timers (:meth:`asyncio.loop.call_later`), forwarding to the shadow database,
cancel requests (looked up by BackendKeyData among the live connections) and closes.

Backpressure: when the client does not read (the transport's buffer is over its high-water
mark) or sends far ahead of a delayed statement, reading pauses until it catches up. A
connection that sends garbage gets a FATAL ErrorResponse and is closed; the others are not
affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any, Final, cast

from replayer.pg.auth import ScramVerifier
from replayer.pg.behaviour import Behaviour
from replayer.pg.connection import PgConnection
from replayer.pg.events import Action, CancelOther, Close, ForwardCall, Forwarded, Wait
from replayer.pg.forward import Upstream
from replayer.pg.recording import PgSession
from replayer.pg.settings import PgReplaySettings

__all__ = ["PgServer"]

log = logging.getLogger(__name__)

#: Messages queued behind a delayed statement before reading pauses.
_MAX_BACKLOG: Final = 1024


class _ClientProtocol(asyncio.Protocol):
    """One client connection, driving its state machine."""

    def __init__(self, server: PgServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.machine: PgConnection | None = None
        self.key: tuple[int, bytes] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._forward: asyncio.Task[None] | None = None
        self._upstream: Upstream | None = None
        self._paused_writing = False
        self._paused_backlog = False

    # -- asyncio.Protocol -------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        peer = self.transport.get_extra_info("peername")
        addr = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else ""
        self.key = self.server.new_key(self)
        self.machine = self.server.new_machine(self.key, addr)

    def data_received(self, data: bytes) -> None:
        machine = self.machine
        assert machine is not None
        actions = machine.feed(data)
        if len(actions) == 1 and type(actions[0]) is bytes:  # the common case: one answer
            assert self.transport is not None
            self.transport.write(actions[0])
        elif actions:
            self._apply(actions)
        if machine.backlog > _MAX_BACKLOG and not self._paused_backlog and self.transport:
            self._paused_backlog = True
            self._update_reading()

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._forward is not None:
            self._forward.cancel()
        if self.machine is not None:
            self.machine.connection_lost()
        if self._upstream is not None:
            upstream, self._upstream = self._upstream, None
            self.server.spawn(upstream.close())
        self.server.forget(self)

    def pause_writing(self) -> None:
        self._paused_writing = True
        self._update_reading()

    def resume_writing(self) -> None:
        self._paused_writing = False
        self._update_reading()

    # -- actions --------------------------------------------------------------------------------
    def _apply(self, actions: list[Action]) -> None:
        transport = self.transport
        assert transport is not None
        for action in actions:
            if type(action) is bytes:
                transport.write(action)
            elif isinstance(action, Wait):
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(action.seconds, self._resume)
            elif isinstance(action, ForwardCall):
                self._forward = asyncio.get_running_loop().create_task(self._run_forward(action))
            elif isinstance(action, CancelOther):
                self.server.cancel(action.process_id, action.secret_key)
            elif isinstance(action, Close):
                transport.close()
        if (
            self._paused_backlog
            and self.machine is not None
            and self.machine.backlog < _MAX_BACKLOG // 2
        ):
            self._paused_backlog = False
            self._update_reading()

    def _update_reading(self) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if self._paused_writing or self._paused_backlog:
            transport.pause_reading()
        else:
            transport.resume_reading()

    def _resume(self) -> None:
        self._timer = None
        if (
            self.machine is not None
            and self.transport is not None
            and not self.transport.is_closing()
        ):
            self._apply(self.machine.resume())

    def cancel(self) -> None:
        """A CancelRequest named this connection."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        elif self._forward is not None:
            self._forward.cancel()  # the shadow connection is mid-statement: drop it
            self._forward = None
            if self._upstream is not None:
                upstream, self._upstream = self._upstream, None
                self.server.spawn(upstream.close())
        if (
            self.machine is not None
            and self.transport is not None
            and not self.transport.is_closing()
        ):
            self._apply(self.machine.cancel())

    async def _run_forward(self, call: ForwardCall) -> None:
        settings = self.server.settings
        assert settings.forward_to is not None
        if self._upstream is None:
            host, port = settings.forward_to
            self._upstream = Upstream(host, port, password=settings.forward_password)
        answer: Forwarded = await self._upstream.run(call.request)
        self._forward = None
        if (
            self.machine is not None
            and self.transport is not None
            and not self.transport.is_closing()
        ):
            self._apply(self.machine.forwarded(answer))


class PgServer:
    """A listening PostgreSQL replay server: ``bound``, :meth:`close`, :meth:`report`."""

    def __init__(
        self, behaviour: Behaviour, settings: PgReplaySettings, session: PgSession
    ) -> None:
        self.behaviour = behaviour
        self.settings = settings
        self.session = session
        self.bound: tuple[str, int] = settings.listen
        self._server: asyncio.Server | None = None
        self._clients: dict[tuple[int, bytes], _ClientProtocol] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._verifier = (
            ScramVerifier.from_password(settings.password)
            if settings.password is not None and settings.auth_method == "scram-sha-256"
            else None
        )

    async def start(self) -> None:
        """Listen on ``settings.listen``; :attr:`bound` is then the real address."""
        loop = asyncio.get_running_loop()
        host, port = self.settings.listen
        self.session.open()
        self._server = await loop.create_server(
            lambda: _ClientProtocol(self), host, port, backlog=1024, reuse_address=True
        )
        sock = self._server.sockets[0].getsockname()
        self.bound = (str(sock[0]), int(sock[1]))

    async def close(self) -> None:
        """Stop listening, close every connection, drain the session (tape committed)."""
        if self._server is not None:
            self._server.close()
        for client in list(self._clients.values()):
            if client.transport is not None:
                client.transport.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
            self._server = None
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)
        await asyncio.to_thread(self.session.close)

    def report(self) -> dict[str, Any]:
        """The SQL section of the session report."""
        out = self.session.report()
        fp = self.behaviour.fingerprinter
        out["settings"] = self.settings.describe()
        out["fingerprinter"] = {"fast": fp.fast, "checked": fp.checked, "failed": fp.failed}
        return out

    # -- for the connections ----------------------------------------------------------------------
    def new_key(self, client: _ClientProtocol) -> tuple[int, bytes]:
        while True:
            key = (secrets.randbelow(2**31 - 2) + 1, secrets.token_bytes(4))
            if key not in self._clients:
                self._clients[key] = client
                return key

    def new_machine(self, key: tuple[int, bytes], client_addr: str) -> PgConnection:
        s = self.settings
        return PgConnection(
            self.behaviour,
            process_id=key[0],
            secret_key=key[1],
            client_addr=client_addr,
            note=self.session.note,
            password=s.password,
            auth_method=s.auth_method,
            verifier=self._verifier,
            max_frame=s.max_frame,
        )

    def forget(self, client: _ClientProtocol) -> None:
        if client.key is not None and self._clients.get(client.key) is client:
            del self._clients[client.key]

    def cancel(self, process_id: int, secret_key: bytes) -> None:
        target = self._clients.get((process_id, secret_key))
        if target is not None:
            target.cancel()

    def spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
