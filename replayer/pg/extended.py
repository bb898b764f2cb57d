"""The extended query protocol of :class:`~replayer.pg.connection.PgConnection`.

Parse/Bind/Describe/Execute/Close/Sync/Flush with named and unnamed statements and portals
(per connection), pipelining (any number of messages before a Sync), 42P05 for a duplicate
statement name, 26000 for a missing statement, 34000 for a missing portal, and after any
error: discard everything up to Sync (:attr:`PgConnection.skipping`).

Describe of a statement answers ParameterDescription (types from Parse, else from the
world's ``param_types``, else inferred from recorded values, else text) and the
RowDescription of the fingerprint's representative result. The world's answer for a portal is
chosen when it is first described or executed; its latency is served at Execute.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from replayer.pg.behaviour import Answer, Plan
from replayer.pg.describe import Describer
from replayer.pg.errors import StatementFailed
from replayer.pg.events import ForwardRequest
from replayer.pg.results import IN_FAILED_TRANSACTION, Result
from replayer.pg.state import Portal, Prepared
from understudy.errors import PgProtocolError
from understudy.pgwire import (
    Bind,
    BindComplete,
    Close,
    CloseComplete,
    CopyData,
    CopyDone,
    CopyFail,
    Describe,
    EmptyQueryResponse,
    ErrorResponse,
    Execute,
    Flush,
    FunctionCall,
    Parse,
    ParseComplete,
    PortalSuspended,
    Query,
    SqlState,
    Sync,
    TargetKind,
    Terminate,
    TransactionStatus,
    encode,
    error_response,
    value_to_text,
)
from understudy.pgwire._wire import decode_str

if TYPE_CHECKING:
    from replayer.pg.connection import Gen, PgConnection

__all__ = ["dispatch_table"]

_PARSE_COMPLETE: Final = encode(ParseComplete())
_BIND_COMPLETE: Final = encode(BindComplete())
_CLOSE_COMPLETE: Final = encode(CloseComplete())
_SUSPENDED: Final = encode(PortalSuspended())
_EMPTY: Final = encode(EmptyQueryResponse())
_TEXT: Final = 25
_FAILED: Final = TransactionStatus.FAILED
_IDLE: Final = TransactionStatus.IDLE

Handler = Callable[[Any], "Gen | None"]


def dispatch_table(conn: PgConnection) -> dict[type, tuple[Handler, bool]]:
    """Message class -> (handler, runs even while discarding up to Sync)."""
    ext = Extended(conn)
    return {
        Query: (conn.on_query, False),
        Parse: (ext.parse, False),
        Bind: (ext.bind, False),
        Describe: (ext.describe, False),
        Execute: (ext.execute, False),
        Close: (ext.close, False),
        Sync: (ext.sync, True),
        Flush: (ext.ignore, False),
        Terminate: (ext.terminate, True),
        CopyData: (ext.ignore, False),
        CopyDone: (ext.ignore, False),
        CopyFail: (ext.ignore, False),
        FunctionCall: (ext.function_call, False),
    }


class Extended:
    """Handlers of the extended-protocol messages of one connection."""

    __slots__ = ("_describer", "conn")

    def __init__(self, conn: PgConnection) -> None:
        self.conn = conn
        self._describer = Describer(self)

    # -- helpers ------------------------------------------------------------------------------
    def error(self, error: ErrorResponse) -> None:
        """An error in an extended batch: send it, fail the transaction, skip to Sync."""
        conn = self.conn
        conn.send(encode(error))
        assert conn.state is not None
        conn.state.fail()
        conn.skipping = True

    def fail(self, state: str, message: str) -> None:
        """An error of this message, by SQLSTATE and text."""
        self.error(error_response(state, message))

    @staticmethod
    def nparams(prep: Prepared) -> int:
        plan = prep.plan
        return max(plan.piece.nparams if plan is not None else 0, len(prep.param_types))

    def param_oids(self, prep: Prepared) -> tuple[int, ...]:
        """Parameter types: from Parse, else the world's, else text (computed once)."""
        if prep.oids is None:
            prep.oids = self._param_oids(prep)
        return prep.oids

    def _param_oids(self, prep: Prepared) -> tuple[int, ...]:
        given = prep.param_types
        plan = prep.plan
        world: tuple[int, ...] = ()
        if plan is not None and plan.entry is not None:
            world = plan.entry.param_types
        elif plan is not None and plan.fallback is not None:
            world = plan.fallback.param_types
        out = []
        for i in range(self.nparams(prep)):
            oid = given[i] if i < len(given) else 0
            if not oid:
                oid = world[i] if i < len(world) else _TEXT
            out.append(oid)
        return tuple(out)

    def _param_texts(
        self, prep: Prepared, params: tuple[bytes | None, ...], formats: tuple[int, ...]
    ) -> tuple[str | None, ...]:
        if not any(formats):
            return tuple(None if v is None else decode_str(v) for v in params)
        fmts = formats if len(formats) == len(params) else formats * len(params)
        oids = self.param_oids(prep)
        out: list[str | None] = []
        for i, (v, f) in enumerate(zip(params, fmts, strict=True)):
            try:
                out.append(value_to_text(oids[i], v, f))
            except PgProtocolError as exc:
                raise StatementFailed(
                    error_response(
                        SqlState.INVALID_BINARY_REPRESENTATION,
                        f"incorrect binary data format in bind parameter {i + 1}: {exc}",
                    )
                ) from exc
        return tuple(out)

    # -- Parse, Bind, Close, Sync ----------------------------------------------------------------
    def parse(self, msg: Parse) -> None:
        state = self.conn.state
        assert state is not None
        if not msg.name and state.status is not _FAILED:
            same = state.statements.get("")
            if same is not None and same.sql == msg.query and same.param_types == msg.param_types:
                self.conn.send(_PARSE_COMPLETE)  # the unnamed statement again (pgbench, psycopg)
                return None
        if msg.name and msg.name in state.statements:
            self.fail(
                SqlState.DUPLICATE_PREPARED_STATEMENT,
                f'prepared statement "{msg.name}" already exists',
            )
            return None
        plans = self.conn.behaviour.plans(msg.query)
        if len(plans) > 1:
            self.fail(
                SqlState.SYNTAX_ERROR, "cannot insert multiple commands into a prepared statement"
            )
            return None
        plan = plans[0] if plans else None
        if state.status is _FAILED and not exits_transaction(plan):
            self.error(_in_failed())
            return None
        state.statements[msg.name] = Prepared(msg.query, plan, msg.param_types)
        self.conn.send(_PARSE_COMPLETE)
        return None

    def bind(self, msg: Bind) -> None:
        state = self.conn.state
        assert state is not None
        prep = state.statements.get(msg.statement)
        if prep is None:
            self.fail(
                SqlState.INVALID_SQL_STATEMENT_NAME,
                f'prepared statement "{msg.statement}" does not exist',
            )
            return None
        if msg.portal and msg.portal in state.portals:
            self.fail(SqlState.DUPLICATE_CURSOR, f'cursor "{msg.portal}" already exists')
            return None
        if state.status is _FAILED and not exits_transaction(prep.plan):
            self.error(_in_failed())
            return None
        n, expected = len(msg.params), self.nparams(prep)
        if n != expected:
            self.fail(
                SqlState.PROTOCOL_VIOLATION,
                f"bind message supplies {n} parameters, but prepared statement "
                f'"{msg.statement}" requires {expected}',
            )
            return None
        formats = msg.param_formats
        if len(formats) not in (0, 1, n):
            self.fail(
                SqlState.PROTOCOL_VIOLATION,
                f"bind message has {len(formats)} parameter formats but {n} parameters",
            )
            return None
        try:
            texts = self._param_texts(prep, msg.params, formats)
        except StatementFailed as exc:
            self.error(exc.response)
            return None
        state.portals[msg.portal] = Portal(
            msg.statement, prep, texts, formats, msg.result_formats, msg.params
        )
        self.conn.send(_BIND_COMPLETE)
        return None

    def close(self, msg: Close) -> None:
        state = self.conn.state
        assert state is not None
        target = state.statements if msg.kind == TargetKind.STATEMENT else state.portals
        target.pop(msg.name, None)  # type: ignore[attr-defined]
        self.conn.send(_CLOSE_COMPLETE)

    def sync(self, msg: Sync) -> None:
        conn = self.conn
        conn.skipping = False
        assert conn.state is not None
        if conn.state.status is _IDLE:
            conn.state.portals.clear()  # the implicit transaction ends: portals go with it
        conn.ready()

    def ignore(self, msg: object) -> None:
        """Flush (everything is sent at the end of each read anyway), stray COPY data."""

    def terminate(self, msg: Terminate) -> None:
        self.conn.terminate()

    def function_call(self, msg: FunctionCall) -> None:
        self.conn.send(
            encode(
                error_response(
                    SqlState.FEATURE_NOT_SUPPORTED,
                    "understudy: fast-path function calls are not replayed",
                )
            )
        )
        self.conn.ready()

    def forward_execute(self, portal: Portal) -> ForwardRequest:
        prep = portal.prepared
        return self.conn.forward_request(
            "execute",
            prep.sql,
            param_types=prep.param_types,
            param_formats=portal.param_formats,
            params=portal.raw_params,
            result_formats=portal.result_formats,
        )

    def describe(self, msg: Describe) -> Gen | None:
        """Describe a statement or a portal (see :mod:`replayer.pg.describe`)."""
        return self._describer.describe(msg)

    def answer(self, portal: Portal) -> Answer:
        """The world's answer for a portal, chosen on first use and kept."""
        if portal.answer is None:
            plan = portal.prepared.plan
            assert plan is not None
            portal.answer = self.conn.behaviour.answer(plan, portal.params)
        return portal.answer

    # -- Execute --------------------------------------------------------------------------------
    def execute(self, msg: Execute) -> Gen | None:
        state = self.conn.state
        assert state is not None
        portal = state.portals.get(msg.portal)
        if portal is None:
            self.fail(SqlState.INVALID_CURSOR_NAME, f'portal "{msg.portal}" does not exist')
            return None
        plan = portal.prepared.plan
        if plan is None:
            self.conn.send(_EMPTY)
            return None
        if portal.result is not None:  # a later Execute of a partly sent portal
            self._send_rows(portal, portal.result, msg.max_rows)
            return None
        if plan.native is None and state.status is not _FAILED:
            answer = self.answer(portal)
            result = answer.result
            if answer.delay_s <= 0 and result is not None and answer.kind != "native":
                # the common case, without a generator: a recorded answer, no delay
                t0, wall = time.perf_counter(), time.time()
                portal.result = result
                if result.error is not None:
                    self.error(result.error)
                else:
                    self._send_rows(portal, result, msg.max_rows)
                self.note(msg.portal, portal, answer.kind, result, t0, wall, answer)
                return None
        return self._execute(msg.portal, portal, msg.max_rows)

    def _execute(self, name: str, portal: Portal, max_rows: int) -> Gen:
        conn = self.conn
        plan = portal.prepared.plan
        assert plan is not None and conn.state is not None
        t0, wall = time.perf_counter(), time.time()
        if plan.native is None and conn.state.status is not _FAILED:
            self.answer(portal)
        forward = self.forward_execute(portal) if conn.behaviour.forwarding else None
        result, kind, near = yield from conn.execute_plan(
            plan, portal.params, portal.answer, forward
        )
        portal.result = result
        if result.error is not None:
            self.error(result.error)
        else:
            self._send_rows(portal, result, max_rows)
        self.note(name, portal, kind, result, t0, wall, portal.answer, near)

    def _send_rows(self, portal: Portal, result: Result, max_rows: int) -> None:
        fmts = portal.result_formats
        try:
            if max_rows <= 0 and portal.sent_rows == 0:
                self.conn.send(result.body(fmts))
                portal.done = True
                return
            rows = result.row_messages(fmts)
            start = portal.sent_rows
            head = result.prefix if start == 0 else b""
            if max_rows <= 0 or start + max_rows >= len(rows):
                self.conn.send(head + b"".join(rows[start:]) + result.completion())
                portal.sent_rows = len(rows)
                portal.done = True
            else:
                self.conn.send(head + b"".join(rows[start : start + max_rows]) + _SUSPENDED)
                portal.sent_rows = start + max_rows
        except StatementFailed as exc:
            self.error(exc.response)

    def note(
        self,
        name: str,
        portal: Portal,
        kind: str,
        result: Result,
        t0: float,
        wall: float,
        answer: Answer | None,
        near: tuple[Any, ...] = (),
    ) -> None:
        plan = portal.prepared.plan
        assert plan is not None
        self.conn.note(
            plan,
            kind,
            result,
            t0,
            wall,
            "extended",
            portal.statement_name,
            name,
            portal.params,
            self.param_oids(portal.prepared),
            portal.param_formats,
            near or (answer.nearest if answer is not None else ()),
        )


def exits_transaction(plan: Plan | None) -> bool:
    """True for what PostgreSQL still runs in an aborted transaction (ROLLBACK, COMMIT...)."""
    return plan is not None and plan.native is not None and plan.native.allowed_when_failed


def _in_failed() -> ErrorResponse:
    assert IN_FAILED_TRANSACTION.error is not None
    return IN_FAILED_TRANSACTION.error
