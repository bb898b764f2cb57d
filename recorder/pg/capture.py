"""The statement tracker: a sans-IO state machine over both directions of one connection.

Feed it what the client sent (:meth:`Tracker.client_bytes`) and what the server sent
(:meth:`Tracker.server_bytes`), in the order the relay saw them; it returns finished
statements as ``SQL_SCHEMA`` rows. It never does IO and never raises: bytes it cannot
follow end tracking of that connection (:attr:`Tracker.broken`), flush the statements in
flight with an ``error`` marker, and the relay keeps forwarding the bytes untouched.

How responses are matched to statements
---------------------------------------
Client messages that the server answers (Parse, Bind, Describe, Execute, Close, Sync,
Query, FunctionCall) join a FIFO as they pass; each server message answers the head. So
pipelines (many Parse/Bind/Execute before one Sync) match in order, and named statements
and portals exist only once the server confirmed them (ParseComplete, BindComplete).

- One row per Execute (a portal suspended by ``max_rows`` gives one row per Execute; the
  suspended ones have ``rows`` but no command tag) and one per statement of a simple Query
  (its text split by :func:`~recorder.pg.sqltext.split_statements`; if the server's answers
  do not match the split, every row of that Query keeps the whole text and an ``error``
  marker).
- An ErrorResponse in the extended protocol makes the server skip to the next Sync: the
  statements queued behind it never ran and give no row. The error itself gives exactly
  one row: for the first Execute at or after the failing message, else for that message
  (a Parse with a syntax error and no Execute, a Describe of an unknown statement).
- Rows wait for the next ReadyForQuery to learn ``tx_status`` (at most ``max_held``).
- ``ts_start`` is the arrival of the first byte of the Execute or Query, or the end of the
  connection's previous statement when later (the server runs statements one at a time).
- FunctionCall (the fast-path interface) is followed but gives no rows. An error raised
  while a Sync commits (a deferred constraint) follows rows already made and is not added.
- When tracking stops (bad bytes, or the connection ends), every statement still in flight
  gets a row with the reason in ``error``; if none was in flight, one row without SQL says
  where tracking stopped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Final

from recorder.pg.answers import Row, ServerAnswers
from recorder.pg.requests import (
    BIND,
    CLOSE_P,
    CLOSE_S,
    DESCRIBE_P,
    DESCRIBE_S,
    EXECUTE,
    FUNCTION,
    PARSE,
    QUERY,
    SYNC,
    Decoder,
    QueryRun,
    Req,
    exec_statement,
    query_statement,
)
from recorder.pg.rows import (
    CaptureSettings,
    Portal,
    Prepared,
    Session,
    Statement,
    finish_row,
)
from recorder.pg.sqltext import traceparent_of_app_name
from understudy.errors import PgProtocolError
from understudy.pgwire import BackendCode, Framer, FrontendCode
from understudy.sqlredact import SqlRedactor

__all__ = ["Row", "Tracker"]

_DESCRIBE_OR_CLOSE: Final[dict[bytes, dict[bytes, int]]] = {
    FrontendCode.DESCRIBE: {b"S": DESCRIBE_S, b"P": DESCRIBE_P},
    FrontendCode.CLOSE: {b"S": CLOSE_S, b"P": CLOSE_P},
}
_QUEUED: Final[dict[bytes, int]] = {
    FrontendCode.PARSE: PARSE,
    FrontendCode.BIND: BIND,
    FrontendCode.EXECUTE: EXECUTE,
    FrontendCode.SYNC: SYNC,
    FrontendCode.QUERY: QUERY,
    FrontendCode.FUNCTION_CALL: FUNCTION,
}
# Client messages that need no answer: Flush, Terminate, password/SASL (never decoded).
_QUIET: Final = frozenset(
    {FrontendCode.FLUSH, FrontendCode.TERMINATE, FrontendCode.AUTHENTICATION_RESPONSE}
)
_COPY_END: Final = frozenset({FrontendCode.COPY_DONE, FrontendCode.COPY_FAIL})
_NOTHING: Final[list[Row]] = []


class Tracker(ServerAnswers):
    """Follow one connection's protocol and turn it into statement rows.

    Parameters
    ----------
    session:
        Who is connected (from the StartupMessage, which the relay handles).
    redactor:
        Pseudonymises secrets in SQL text, parameters and results.
    settings:
        Memory caps.
    count:
        Called as ``count(name, n)`` for rare events (``sql.parse_errors``,
        ``sql.result_truncated``, ``sql.copy_statements``); the relay passes the sink's.
    """

    def __init__(
        self,
        session: Session,
        redactor: SqlRedactor,
        settings: CaptureSettings | None = None,
        count: Callable[[str, int], None] | None = None,
    ) -> None:
        self.session = session
        self.settings = settings = settings or CaptureSettings()
        self.redactor = redactor
        self.broken: str | None = None
        self._count = count or (lambda name, n: None)
        self._dec = Decoder(redactor)
        self._client = Framer(max_frame=settings.max_frame, plain=True)
        self._server = Framer(max_frame=settings.max_frame, plain=True)
        self._queue: deque[Req] = deque()
        self._run: QueryRun | None = None  # the simple Query at the head of the queue
        self._prepared: dict[str, Prepared] = {}
        self._portals: dict[str, Portal] = {}
        self._cur: Statement | None = None
        self._held: list[Row] = []
        self._out: list[Row] = []
        self._seq = 0
        self._skip_to_sync = False
        self._copy_in = False
        self._last_end = 0.0
        self._partial_since: float | None = None
        self._max_rows = settings.max_result_rows
        self._app_traceparent = traceparent_of_app_name(session.application_name)
        b = BackendCode
        self._on_server: dict[bytes, Callable[[bytes, float], None]] = {
            b.PARSE_COMPLETE: self._parse_complete,
            b.BIND_COMPLETE: self._bind_complete,
            b.CLOSE_COMPLETE: self._close_complete,
            b.PARAMETER_DESCRIPTION: self._parameter_description,
            b.ROW_DESCRIPTION: self._row_description,
            b.NO_DATA: self._no_data,
            b.DATA_ROW: self._data_row,
            b.COMMAND_COMPLETE: self._command_complete,
            b.EMPTY_QUERY_RESPONSE: self._empty_query,
            b.PORTAL_SUSPENDED: self._portal_suspended,
            b.ERROR_RESPONSE: self._error,
            b.READY_FOR_QUERY: self._ready,
            b.COPY_IN_RESPONSE: self._copy_in_response,
            b.COPY_OUT_RESPONSE: self._copy_out_response,
            b.COPY_BOTH_RESPONSE: self._copy_out_response,
            b.COPY_DATA: self._copy_data,
            b.PARAMETER_STATUS: self._parameter_status,
            **dict.fromkeys(
                (
                    b.COPY_DONE, b.NOTICE_RESPONSE, b.NOTIFICATION_RESPONSE, b.AUTHENTICATION,
                    b.BACKEND_KEY_DATA, b.NEGOTIATE_PROTOCOL_VERSION, b.FUNCTION_CALL_RESPONSE,
                ),
                self._ignore,
            ),
        }  # fmt: skip

    # -- input ---------------------------------------------------------------------------------
    def client_bytes(self, data: bytes, now: float) -> None:
        """Bytes the client sent (after the startup packet), received at ``now``."""
        if self.broken is not None:
            return
        try:
            start = self._partial_since
            frames = self._client.feed(data)
            if self._client.buffered:
                self._partial_since = now if (frames or start is None) else start
            else:
                self._partial_since = None
            ts = start if start is not None else now
            queue = self._queue
            for code, payload in frames:
                kind = _QUEUED.get(code)
                if kind is None:
                    targets = _DESCRIBE_OR_CLOSE.get(code)
                    if targets is None:
                        self._client_other(code, payload)
                        continue
                    kind = targets.get(payload[:1])
                    if kind is None:
                        raise PgProtocolError(f"invalid Describe/Close target {payload[:1]!r}")
                if (self._skip_to_sync or self._copy_in) and self._discarded(kind):
                    continue
                queue.append((kind, payload, ts))
                ts = now
            if len(queue) > self.settings.max_pending:
                raise PgProtocolError(f"more than {self.settings.max_pending} requests pending")
        except PgProtocolError as exc:
            self._fail(f"parse error (client): {exc}", now)
        except Exception as exc:  # a bug must not take the connection down
            self._fail(f"tracker error: {type(exc).__name__}: {exc}", now)

    def server_bytes(self, data: bytes, now: float) -> list[Row]:
        """Bytes the server sent, received at ``now``; return the rows they finish."""
        if self.broken is None:
            try:
                handlers = self._on_server
                for code, payload in self._server.feed(data):
                    handler = handlers.get(code)
                    if handler is None:
                        raise PgProtocolError(f"unknown backend message code {code!r}")
                    handler(payload, now)
            except PgProtocolError as exc:
                self._fail(f"parse error (server): {exc}", now)
            except Exception as exc:  # a bug must not take the connection down
                self._fail(f"tracker error: {type(exc).__name__}: {exc}", now)
        out = self._out
        if not out:
            return _NOTHING
        self._out = []
        return out

    def close(self, reason: str, now: float) -> list[Row]:
        """The connection ended: rows for what is finished and, marked ``reason``, in flight."""
        if self.broken is None:
            try:
                self._flush_in_flight(reason, now)
            except Exception as exc:
                self._out.append(self._marker_row(f"{reason}; tracker error: {exc}", now))
            self.broken = reason
        self._release()
        out, self._out = self._out, []
        return out

    # -- client side -----------------------------------------------------------------------------
    def _client_other(self, code: bytes, payload: bytes) -> None:
        if code == FrontendCode.COPY_DATA:
            if self._copy_in and self._cur is not None:
                self._cur.copy_bytes += len(payload)
        elif code in _COPY_END:
            self._copy_in = False
        elif code not in _QUIET:
            raise PgProtocolError(f"unknown frontend message code {code!r}")

    def _discarded(self, kind: int) -> bool:
        """Whether the server will ignore this message (after an error, or in COPY IN)."""
        if self._skip_to_sync:
            if kind != SYNC:
                return True  # after an error the server discards everything until Sync
            self._skip_to_sync = False
            return False
        return kind == SYNC  # COPY FROM STDIN ignores Sync

    # -- endings -------------------------------------------------------------------------------
    def _marker_row(self, marker: str, now: float) -> Row:
        st = Statement("simple" if not self._queue else "extended", None, now)
        row = finish_row(st, self.session, self._seq, now, self.redactor, marker=marker)
        self._seq += 1
        return row

    def _flush_in_flight(self, marker: str, now: float) -> int:
        """Rows for finished statements, then for every statement still in flight (counted)."""
        self._out.extend(self._held)
        self._held.clear()
        pending = list(self._queue)
        self._queue.clear()
        batch_start = flushed = 0
        for i, req in enumerate(pending):
            kind = req[0]
            if kind == SYNC:
                batch_start = i + 1
            if kind != EXECUTE and kind != QUERY:
                continue
            st = self._cur if i == 0 else None
            if st is None:
                if kind == EXECUTE:
                    st = exec_statement(
                        self._dec, self._portals, self._prepared, req,
                        pending[batch_start:i], self._app_traceparent,
                    )  # fmt: skip
                else:
                    run = self._run if i == 0 and self._run else self._dec.query(req[1])
                    st = query_statement(self.redactor, run, req[2], self._app_traceparent)
            row = finish_row(st, self.session, self._seq, now, self.redactor, marker=marker)
            self._seq += 1
            self._out.append(row)
            flushed += 1
        self._cur = None
        return flushed

    def _fail(self, reason: str, now: float) -> None:
        """Stop tracking this connection: flush what is in flight, marked with ``reason``."""
        self._count("sql.parse_errors", 1)
        try:
            flushed = self._flush_in_flight(reason, now)
        except Exception:
            flushed = 0
        if not flushed:  # nothing in flight: one row still says where tracking stopped
            self._out.append(self._marker_row(reason, now))
        self.broken = reason
        self._release()

    def _release(self) -> None:
        self._queue.clear()
        self._prepared.clear()
        self._portals.clear()
        self._dec.clear()
        self._held.clear()
        self._cur = None
        self._run = None
