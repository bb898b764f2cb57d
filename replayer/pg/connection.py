"""The PostgreSQL server side of one connection, as a state machine without IO.

Bytes from the client go in (:meth:`PgConnection.feed`), :data:`~replayer.pg.events.Action` s
come out: bytes to send, a :class:`~replayer.pg.events.Wait` while a statement "runs" for
its recorded latency, a :class:`~replayer.pg.events.ForwardCall` for the shadow database,
:class:`~replayer.pg.events.Close`. While waiting, the machine reads nothing further: the
adapter calls :meth:`~PgConnection.resume` when the timer fires, or
:meth:`~PgConnection.cancel` when a CancelRequest names this connection (only the statement
that is waiting is cancelled, never the next one), or :meth:`~PgConnection.forwarded`.

Handlers that may wait are generators that ``yield`` a Wait or ForwardCall and get back the
outcome, so a query string of five statements with a delay in the third one resumes exactly
there. Messages are dispatched through a table keyed by message class. The extended protocol
(Parse/Bind/Describe/Execute/Close/Sync/Flush) lives in :mod:`replayer.pg.extended`; this
module holds the machinery, startup, the simple protocol and statement execution.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Final

from replayer.pg.auth import ScramVerifier
from replayer.pg.behaviour import Behaviour, Plan
from replayer.pg.errors import StatementFailed
from replayer.pg.events import (
    Action,
    CancelOther,
    Close,
    ConnInfo,
    ForwardCall,
    Forwarded,
    ForwardRequest,
    Outcome,
    SqlEvent,
    Wait,
)
from replayer.pg.extended import dispatch_table
from replayer.pg.handshake import Handshake, decode_error, welcome
from replayer.pg.native import Native
from replayer.pg.nearmiss import NearMiss
from replayer.pg.results import CANCELLED, IN_FAILED_TRANSACTION, Result
from replayer.pg.settings import DEFAULT_MAX_FRAME
from replayer.pg.state import SessionState, initial_settings
from understudy.errors import PgProtocolError
from understudy.pgwire import (
    EmptyQueryResponse,
    ErrorResponse,
    FrontendParser,
    ReadyForQuery,
    SqlState,
    TransactionStatus,
    decode_frontend,
    encode,
    error_response,
)

__all__ = ["EventSink", "PgConnection", "Step"]

Step = Wait | ForwardCall
Gen = Generator[Step, Any, None]
EventSink = Callable[[SqlEvent], None]

_RFQ: Final = {s: encode(ReadyForQuery(s)) for s in TransactionStatus}
_EMPTY: Final = encode(EmptyQueryResponse())
_FAILED: Final = TransactionStatus.FAILED


class PgConnection:
    """One client connection: startup, authentication, then queries until Terminate."""

    def __init__(
        self,
        behaviour: Behaviour,
        *,
        process_id: int,
        secret_key: bytes,
        client_addr: str = "",
        note: EventSink | None = None,
        password: str | None = None,
        auth_method: str = "scram-sha-256",
        verifier: ScramVerifier | None = None,
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        self.behaviour = behaviour
        self.process_id = process_id
        self.secret_key = secret_key
        self.client_addr = client_addr
        self.state: SessionState | None = None
        self.info = ConnInfo("", "", "", "", client_addr)
        self.closed = False
        self._note_sink = note
        self._handshake = Handshake(password, auth_method, verifier)
        self._parser = FrontendParser(max_frame=max_frame)
        self._queue: deque[tuple[bytes, bytes]] = deque()
        self._out: list[bytes] = []
        self._actions: list[Action] = []
        self._gen: Gen | None = None
        self._waiting: Step | None = None
        self._skipping = False
        self._seq = 0
        self._handlers = dispatch_table(self)

    # -- driving ------------------------------------------------------------------------------
    @property
    def waiting(self) -> Step | None:
        """What the machine waits for (a Wait or a ForwardCall), or None."""
        return self._waiting

    @property
    def backlog(self) -> int:
        """Messages received but not handled yet (they wait behind a delayed statement)."""
        return len(self._queue)

    def feed(self, data: bytes | bytearray | memoryview) -> list[Action]:
        """Bytes from the client in; actions out."""
        if self.closed:
            return []
        try:
            frames = self._parser.feed_frames(data)
        except PgProtocolError as exc:
            self.fatal(
                error_response(
                    SqlState.PROTOCOL_VIOLATION, f"invalid message: {exc}", severity="FATAL"
                )
            )
            return self._take()
        if frames:
            self._queue.extend(frames)
            if self._gen is None:
                self._run()
        return self._take()

    def resume(self) -> list[Action]:
        """The delay of the waiting statement is over: send its answer and go on."""
        if not isinstance(self._waiting, Wait) or self.closed:
            return []
        self._advance(Outcome.RESUMED)
        return self._take()

    def cancel(self) -> list[Action]:
        """A CancelRequest for this connection: the waiting statement fails with 57014."""
        if self._waiting is None or self.closed:
            return []
        self._advance(Outcome.CANCELLED)
        return self._take()

    def forwarded(self, answer: Forwarded) -> list[Action]:
        """The shadow database answered the ForwardCall the machine waits for."""
        if not isinstance(self._waiting, ForwardCall) or self.closed:
            return []
        self._advance(answer)
        return self._take()

    def _advance(self, value: Any) -> None:
        gen = self._gen
        assert gen is not None
        self._waiting = None
        try:
            step = gen.send(value)
        except StopIteration:
            self._gen = None
            self._run()
            return
        self._waiting = step
        self._flush()
        self._actions.append(step)

    def _start(self, gen: Gen) -> None:
        self._gen = gen
        try:
            step = next(gen)
        except StopIteration:
            self._gen = None
            return
        self._waiting = step
        self._flush()
        self._actions.append(step)

    def _run(self) -> None:
        queue = self._queue
        handlers = self._handlers
        while queue and self._gen is None and not self.closed:
            code, payload = queue.popleft()
            try:
                msg = decode_frontend(code, payload)
            except PgProtocolError as exc:
                self.fatal(decode_error(code, payload, exc))
                return
            if self.state is None:
                self._handshake_message(msg)
                continue
            entry = handlers.get(type(msg))
            if entry is None:
                self.fatal(
                    error_response(
                        SqlState.PROTOCOL_VIOLATION,
                        f"unexpected {type(msg).__name__} message",
                        severity="FATAL",
                    )
                )
                return
            handler, when_skipping = entry
            if self._skipping and not when_skipping:
                continue  # after an error, everything up to Sync is discarded
            gen = handler(msg)
            if gen is not None:
                self._start(gen)

    def _flush(self) -> None:
        if self._out:
            self._actions.append(b"".join(self._out))
            self._out.clear()

    def _take(self) -> list[Action]:
        if not self._actions:
            if not self._out:
                return []
            data = b"".join(self._out)
            self._out.clear()
            return [data]
        self._flush()
        actions, self._actions = self._actions, []
        return actions

    def send(self, data: bytes) -> None:
        """Queue bytes for the client."""
        self._out.append(data)

    def fatal(self, error: ErrorResponse) -> None:
        """Send a FATAL error and close: nothing after it is read."""
        self._out.append(encode(error))
        self._flush()
        self._actions.append(Close())
        self.closed = True
        self._gen = None
        self._waiting = None
        self._queue.clear()

    def terminate(self) -> None:
        """Terminate: the client says goodbye; close after what is queued."""
        self._flush()
        self._actions.append(Close())
        self.closed = True
        self._queue.clear()

    def connection_lost(self) -> None:
        """The client went away: drop everything (the adapter cancels its timers)."""
        self.closed = True
        self._gen = None
        self._waiting = None
        self._queue.clear()

    # -- startup ------------------------------------------------------------------------------
    def _handshake_message(self, msg: Any) -> None:
        hs = self._handshake
        out = hs.receive(msg)
        if out:
            self._out.append(out)
        if hs.fatal is not None:
            self.fatal(hs.fatal)
        elif hs.cancel is not None:
            self._flush()
            self._actions.append(CancelOther(hs.cancel.process_id, hs.cancel.secret_key))
            self._actions.append(Close())
            self.closed = True
        elif hs.done:
            assert hs.startup is not None
            self._begin_session(hs.startup.parameters)

    def _begin_session(self, params: dict[str, str]) -> None:
        user = params["user"]
        database = params.get("database") or user
        settings = initial_settings(self.behaviour.index.pg_parameters, params, user)
        self.state = SessionState(settings, database=database, process_id=self.process_id)
        app = settings.get("application_name", "")
        self.info = ConnInfo(uuid.uuid4().hex, database, user, app, self.client_addr)
        self._out.append(welcome(settings, self.process_id, self.secret_key))

    # -- simple protocol ----------------------------------------------------------------------
    def ready(self) -> None:
        """Send ReadyForQuery with the true transaction status."""
        assert self.state is not None
        self._out.append(_RFQ[self.state.status])

    def on_query(self, msg: Any) -> Gen | None:
        """Query: one or more statements, each answered in turn; stop at the first error."""
        plans = self.behaviour.plans(msg.sql)
        if not plans:
            self._out.append(_EMPTY)
            self.ready()
            return None
        first = None
        plan = plans[0]
        state = self.state
        assert state is not None
        if len(plans) == 1 and plan.entry is not None and state.status is not _FAILED:
            # the common case, answered without a generator: one recorded statement, no delay
            t0, wall = time.perf_counter(), time.time()
            first = self.behaviour.answer(plan, ())
            result = first.result
            if first.delay_s <= 0 and result is not None:
                self._out.append(result.simple())
                self.note(plan, first.kind, result, t0, wall, "simple", None, None, (), (), ())
                if result.error is not None:
                    state.fail()
                self.ready()
                return None
        return self._query(plans, first)

    def _query(self, plans: list[Plan], first: Any = None) -> Gen:
        for i, plan in enumerate(plans):
            t0, wall = time.perf_counter(), time.time()
            answer = first if i == 0 else None
            result, kind, near = yield from self.execute_plan(plan, (), answer)
            self._out.append(result.simple())
            self.note(plan, kind, result, t0, wall, "simple", None, None, (), (), (), near)
            if result.error is not None:
                assert self.state is not None
                self.state.fail()
                break
        self.ready()

    # -- statements ---------------------------------------------------------------------------
    def execute_plan(
        self,
        plan: Plan,
        bound: tuple[str | None, ...],
        answer: Any = None,
        forward: ForwardRequest | None = None,
    ) -> Generator[Step, Any, tuple[Result, str, tuple[NearMiss, ...]]]:
        """Run one statement: native, or the world's answer after its delay (or forwarded)."""
        state = self.state
        assert state is not None
        native = plan.native
        if state.status is _FAILED and (native is None or not native.allowed_when_failed):
            return IN_FAILED_TRANSACTION, "refused", ()
        if native is not None:
            return self.run_native(native), "native", ()
        if answer is None:
            answer = self.behaviour.answer(plan, bound)
        kind: str = answer.kind
        result: Result | None = answer.result
        if kind == "native":
            assert plan.fallback is not None
            result = self.run_native(plan.fallback)
        elif result is None:  # forward
            outcome = yield ForwardCall(forward or self.forward_request("query", plan.sql))
            if outcome is Outcome.CANCELLED:
                return CANCELLED, kind, ()
            result = outcome.result
        if answer.delay_s > 0:
            outcome = yield Wait(answer.delay_s)
            if outcome is Outcome.CANCELLED:
                return CANCELLED, kind, ()
        assert result is not None
        return result, kind, answer.nearest

    def run_native(self, native: Native) -> Result:
        assert self.state is not None
        try:
            return native.run(self.state)
        except StatementFailed as exc:
            return Result.failure(exc.response)

    def forward_request(self, kind: str, sql: str, **fields: Any) -> ForwardRequest:
        return ForwardRequest(kind, sql, self.info.user, self.info.database, **fields)

    def note(
        self,
        plan: Plan,
        kind: str,
        result: Result | None,
        t0: float,
        wall: float,
        protocol: str,
        statement: str | None,
        portal: str | None,
        params: tuple[str | None, ...],
        param_types: tuple[int, ...],
        param_formats: tuple[int, ...],
        near: tuple[NearMiss, ...] = (),
    ) -> None:
        """Note one statement for the session report and tape (an append, nothing more)."""
        sink = self._note_sink
        if sink is None:
            return
        self._seq += 1
        assert self.state is not None
        sink(
            SqlEvent(
                self.info,
                self._seq,
                wall,
                time.perf_counter() - t0,
                protocol,
                statement,
                portal,
                plan.sql,
                params,
                param_types,
                param_formats,
                kind,
                plan.info,
                result,
                self.state.status,
                near,
            )
        )

    @property
    def skipping(self) -> bool:
        return self._skipping

    @skipping.setter
    def skipping(self, value: bool) -> None:
        self._skipping = value
