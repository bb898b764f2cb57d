"""The reverse-mode front door: a lean asyncio HTTP/1.1 server over the behaviour core.

``asyncio.Protocol`` based (uvloop when available), keep-alive and pipelining-safe: answers
leave in request order whatever their delays, delays are loop timers (no task or thread per
request), and an answer with no delay behind no pending answer is written at once. Limits:
431 for a head over 64 KiB, 413 for a body over the cap, 400 for malformed requests (see
:mod:`replayer.http.parser`). Slow clients are cut by deadlines checked twice a second: the
head must arrive within ``header_timeout``, the body within ``body_timeout``, and an idle
keep-alive connection is closed after ``idle_timeout``. A client that leaves during a delay
costs nothing but its cancelled timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, cast
from urllib.parse import urlsplit

from replayer.core.behaviour import Behaviour
from replayer.core.keying import Keyed, header_value
from replayer.core.types import Request, StoredResponse
from replayer.http.decode import decode_request_body
from replayer.http.forward import ForwardError, ForwardTarget, forward
from replayer.http.parser import (
    MAX_BODY,
    MAX_HEAD_BYTES,
    Head,
    HttpParseError,
    RequestParser,
)
from replayer.http.pending import OUTCOMES, Slot, reset
from replayer.http.wire import CONTINUE, error_bytes, response_bytes
from replayer.session.log import Session

__all__ = ["ReverseServer", "ServerLimits"]

_SWEEP_S: Final = 0.5
_PLAIN: Final = frozenset({"exact", "route"})
#: The clock of arrivals, deadlines and served latency (uvloop's ``loop.time()`` is per-ms).
_clock: Final = time.monotonic


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Resource limits of the reverse-mode server."""

    max_head: int = MAX_HEAD_BYTES
    max_body: int = MAX_BODY
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    idle_timeout: float = 60.0
    max_pipeline: int = 64
    max_connections: int = 10_000
    forward_timeout: float = 30.0


class _Conn(asyncio.Protocol):
    """One client connection."""

    def __init__(self, server: ReverseServer) -> None:
        self.server = server
        self.loop = server.loop
        lim = server.limits
        self.parser = RequestParser(max_head=lim.max_head, max_body=lim.max_body,
                                    heads=server.heads)  # fmt: skip
        self.pending: deque[Slot] = deque()
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.paused_reading = False
        self.paused_writing = False
        self.deadline = 0.0
        self.req_started = 0.0
        self.client = ("", 0)
        self.idle_timeout = lim.idle_timeout
        self.parser_idle = True  # no partial request buffered: the fast lane may be taken
        self._last: tuple[Head, Request] | None = None

    # -- asyncio callbacks -------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's are not subclasses
        self.transport = transport
        server = self.server
        if len(server.conns) >= server.limits.max_connections:
            transport.abort()
            return
        peer = transport.get_extra_info("peername")
        if isinstance(peer, tuple) and len(peer) >= 2:
            self.client = (str(peer[0]), int(peer[1]))
        server.conns.add(self)
        self.deadline = _clock() + server.limits.idle_timeout

    def connection_lost(self, exc: Exception | None) -> None:
        self.closing = True
        self.server.conns.discard(self)
        now = _clock()
        note = self.server.session.note
        while self.pending:
            slot = self.pending.popleft()
            if slot.timer is not None:
                slot.timer.cancel()
            if slot.noted:
                note(slot.request, slot.decision, slot.arrived, now, "client_gone")

    def pause_writing(self) -> None:
        self.paused_writing = True
        self._pause()

    def resume_writing(self) -> None:
        self.paused_writing = False
        self._maybe_resume()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        now = _clock()
        if self.parser_idle:
            if not self.pending and not self.paused_reading:
                # Fast lane: the bytes are exactly one known bodiless head (a client polling).
                head = self.server.heads.get(data)
                if head is not None and (answer := head.answer) is not None:
                    # ... whose answer can no longer change: send it as it was last decided.
                    self.transport.write(answer[1])  # type: ignore[union-attr]
                    self.server.session.note_instant(answer[0])
                    self.deadline = now + self.idle_timeout
                    return
                if head is not None and head.length == 0:
                    try:
                        self._handle(head, b"", now)
                    except HttpParseError as exc:
                        self._fail(exc.status, str(exc))
                        return
                    self.deadline = 0.0 if self.pending else now + self.idle_timeout
                    return
            self.req_started = now
        self.parser.feed(data)
        self._process(now)

    # -- requests ----------------------------------------------------------------------------
    def _process(self, now: float) -> None:
        p = self.parser
        while not self.closing and not self.paused_reading:
            try:
                preq = p.next_request()
                if preq is None:
                    if p.expects_continue and self.transport is not None:
                        self.transport.write(CONTINUE)
                        p.continue_sent = True
                    break
                self._handle(preq.head, preq.body, now)
            except HttpParseError as exc:
                self._fail(exc.status, str(exc))
                return
        self.parser_idle = not p.buffered and not p.waiting_body
        if p.waiting_body:
            self.deadline = self.req_started + self.server.limits.body_timeout
        elif p.buffered:
            self.deadline = self.req_started + self.server.limits.header_timeout
        elif self.pending:
            self.deadline = 0.0
        else:
            self.deadline = now + self.server.limits.idle_timeout

    def _handle(self, head: Head, body: bytes, now: float) -> None:
        server = self.server
        prepared: tuple[str, str, Keyed | None] | None = head.cache
        if prepared is None:
            prepared = head.cache = _prepare(head)
        path, query, keyed = prepared
        headers = head.headers
        if body:
            enc = header_value(headers, "content-encoding")
            if enc is not None:
                body = decode_request_body(body, enc, server.limits.max_body)
        last = self._last
        if last is not None and last[0] is head and not body:
            request = last[1]  # the same head again on this connection: the same request
        else:
            up = server.target
            request = Request(
                head.method, up.host, path, query, headers, body, up.scheme, up.port,
                self.client[0], self.client[1], "HTTP/1.1" if head.http11 else "HTTP/1.0",
            )  # fmt: skip
            if not body:
                self._last = (head, request)
        behaviour = server.behaviour
        if keyed is None:
            keyed = behaviour.key(request)
            if not body and head.length == 0:
                head.cache = (path, query, keyed)  # a bodiless head keys the same every time
        decision = behaviour.decide(request, now, keyed)
        keep = head.keep_alive and not self.closing
        if not keep:
            self.closing = True
        head_only = head.method == "HEAD"
        if decision.kind == "miss" and server.forwarding:
            slot = Slot(request, decision, now)
            slot.close = not keep
            self.pending.append(slot)
            server.spawn(self._forward(slot, keep, head_only))
            return
        response = decision.response
        if decision.action == "respond" and response is not None:
            data = response.wire if keep and not head_only else None
            if data is None:
                data = response_bytes(response, keep_alive=keep, head=head_only)
            if decision.delay_s <= 0 and not self.pending:
                transport = self.transport
                assert transport is not None
                transport.write(data)
                server.session.note(request, decision, now, now)
                if not keep:
                    transport.close()
                elif (keyed.static is decision and server.instant and head.length == 0
                      and decision.kind in _PLAIN):  # fmt: skip
                    # The same answer from now on: the fast lane sends these bytes.
                    head.answer = (server.session.instant(decision), data)
                return
        else:
            data = None
        slot = Slot(request, decision, now)
        slot.data = data
        slot.close = not keep or decision.action == "close"
        slot.abort = decision.action == "reset"
        slot.outcome = OUTCOMES[decision.action]
        self.pending.append(slot)
        if decision.delay_s > 0:
            slot.timer = self.loop.call_later(decision.delay_s, self._ready, slot)
        else:
            self._ready(slot)
        if len(self.pending) >= server.limits.max_pipeline:
            self._pause()

    async def _forward(self, slot: Slot, keep: bool, head: bool) -> None:
        server = self.server
        req = slot.request
        query = f"?{req.query}" if req.query else ""
        try:
            resp = await forward(server.target, req.method, req.path + query, req.headers,
                                 req.body, timeout=server.limits.forward_timeout)  # fmt: skip
            slot.outcome = "forwarded"
            slot.server_addr = f"{server.target.host}:{server.target.port}"
        except (ForwardError, HttpParseError) as exc:
            resp = slot.decision.response or StoredResponse(502, (), b"")
            slot.outcome = "forward_failed"
            slot.error = f"forward failed: {exc}"
        slot.response = resp
        slot.data = response_bytes(resp, keep_alive=keep, head=head)
        if slot in self.pending:
            self._ready(slot)

    def _ready(self, slot: Slot) -> None:
        slot.ready = True
        slot.timer = None
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        pending = self.pending
        note = self.server.session.note
        now = _clock()
        while pending and pending[0].ready:
            s = pending.popleft()
            if s.abort:
                reset(transport)
                note(s.request, s.decision, s.arrived, now, "reset")
                return
            if s.data is not None:
                transport.write(s.data)
            if s.noted:
                note(s.request, s.decision, s.arrived, now, s.outcome, response=s.response,
                 error=s.error, server_addr=s.server_addr)  # fmt: skip
            if s.close:
                transport.close()
                return
        self._maybe_resume()
        if not pending and not self.parser.buffered and not self.closing:
            self.deadline = now + self.server.limits.idle_timeout

    def _fail(self, status: int, message: str) -> None:
        """Answer a request we refuse, after any answers still pending, then close."""
        self.closing = True
        if self.transport is None:
            return
        if not self.pending:
            self.transport.write(error_bytes(status, message))
            self.transport.close()
            return
        marker = Slot(self.pending[-1].request, self.pending[-1].decision, 0.0)
        marker.data, marker.close, marker.ready = error_bytes(status, message), True, True
        marker.noted = False
        self.pending.append(marker)

    # -- flow control and deadlines ----------------------------------------------------------
    def _pause(self) -> None:
        if not self.paused_reading and self.transport is not None:
            self.paused_reading = True
            with contextlib.suppress(RuntimeError):
                self.transport.pause_reading()

    def _maybe_resume(self) -> None:
        if (
            self.paused_reading
            and not self.paused_writing
            and len(self.pending) < self.server.limits.max_pipeline // 2
            and self.transport is not None
            and not self.closing
        ):
            self.paused_reading = False
            with contextlib.suppress(RuntimeError):
                self.transport.resume_reading()
            self._process(_clock())

    def expire(self, now: float) -> None:
        """The deadline passed: 408 for a half-sent request, else close quietly."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        self.closing = True
        if (self.parser.buffered or self.parser.waiting_body) and not self.pending:
            transport.write(error_bytes(408, "request timeout"))
        transport.close()


def _prepare(head: Head) -> tuple[str, str, Keyed | None]:
    """Path and query of a head's target (origin, absolute or asterisk form)."""
    target = head.target
    if target[:1] == "/":
        path, _, query = target.partition("?")
    elif target == "*":
        path, query = "*", ""
    elif "://" in target:
        parts = urlsplit(target)
        path, query = parts.path or "/", parts.query
    else:
        raise HttpParseError(400, "malformed request target")
    return path, query, None


class ReverseServer:
    """Serve ``behaviour`` for the upstream ``target`` on one listening socket."""

    def __init__(
        self,
        behaviour: Behaviour,
        session: Session,
        target: ForwardTarget,
        *,
        forwarding: bool = False,
        limits: ServerLimits | None = None,
    ) -> None:
        self.behaviour = behaviour
        self.session = session
        self.target = target
        self.forwarding = forwarding
        self.limits = limits or ServerLimits()
        self.conns: set[_Conn] = set()
        self.heads: dict[bytes, Head] = {}  # parsed heads shared by every connection
        #: Answers that no longer change may skip the behaviour core (no session tape needs
        #: the request; a miss is not forwarded).
        self.instant = not session.keep_exchanges and not forwarding
        self.loop = asyncio.get_running_loop()
        self._server: asyncio.Server | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.bound: list[tuple[str, int]] = []

    async def start(self, host: str, port: int) -> list[tuple[str, int]]:
        """Listen on ``host:port``; return the bound addresses."""
        factory: Callable[[], asyncio.Protocol] = lambda: _Conn(self)  # noqa: E731
        self._server = await self.loop.create_server(factory, host, port, backlog=1024)
        self.bound = [
            (str(s.getsockname()[0]), int(s.getsockname()[1])) for s in self._server.sockets
        ]
        self._sweeper = asyncio.create_task(self._sweep(), name="understudy-http-sweeper")
        return self.bound

    def spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(_SWEEP_S)
            now = _clock()
            for conn in [c for c in self.conns if 0.0 < c.deadline < now]:
                conn.expire(now)

    async def close(self) -> None:
        """Stop listening, close every connection, cancel forwards in flight."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._server is not None:
            self._server.close()
        for conn in list(self.conns):
            if conn.transport is not None:
                conn.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5)
