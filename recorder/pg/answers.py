"""The server's side of the tracker: each backend message answers the head of the queue.

:class:`ServerAnswers` holds one method per backend message the tracker follows; the
:class:`~recorder.pg.capture.Tracker` owns the state they share (declared below) and
dispatches frames to them through a table. See :mod:`recorder.pg.capture` for how answers
are matched to statements.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

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
    failed_statement,
    query_statement,
    unexpected,
)
from recorder.pg.rows import (
    TX_STATUS,
    CaptureSettings,
    Columns,
    Portal,
    Prepared,
    Session,
    Statement,
    finish_row,
    redact_values,
    result_formats,
    safe_text,
)
from recorder.pg.sqltext import traceparent_of_app_name
from understudy.errors import PgProtocolError
from understudy.pgwire import BackendCode, decode_backend
from understudy.pgwire.backend import ErrorResponse, ParameterDescription, ParameterStatus
from understudy.sqlredact import SqlRedactor

__all__ = ["Row", "ServerAnswers"]

#: A finished row and its estimated size in bytes (for the writer's byte-based flush).
Row = tuple[dict[str, Any], int]


def _store[V](table: dict[str, V], name: str, value: V, cap: int) -> None:
    """Insert into a bounded table, dropping the oldest entry when full."""
    if name not in table and len(table) >= cap:
        del table[next(iter(table))]
    table[name] = value


class ServerAnswers:
    """Handlers of backend messages, mixed into the tracker (which owns the state)."""

    session: Session
    settings: CaptureSettings
    redactor: SqlRedactor
    _count: Callable[[str, int], None]
    _dec: Decoder
    _queue: deque[Req]
    _run: QueryRun | None
    _prepared: dict[str, Prepared]
    _portals: dict[str, Portal]
    _cur: Statement | None
    _held: list[Row]
    _out: list[Row]
    _seq: int
    _skip_to_sync: bool
    _copy_in: bool
    _last_end: float
    _max_rows: int
    _app_traceparent: str | None

    # -- extended protocol bookkeeping -----------------------------------------------------
    def _pop(self, what: str, kind: int, other: int = -1) -> bytes:
        queue = self._queue
        if not queue or (queue[0][0] != kind and queue[0][0] != other):
            raise unexpected(what, queue[0] if queue else None)
        return queue.popleft()[1]

    def _parse_complete(self, payload: bytes, now: float) -> None:
        name, template = self._dec.parse(self._pop("ParseComplete", PARSE))
        _store(self._prepared, name, template.fresh(), self.settings.max_prepared)

    def _bind_complete(self, payload: bytes, now: float) -> None:
        bind = self._dec.bind(self._pop("BindComplete", BIND))
        portal = Portal(self._prepared.get(bind.statement), bind)
        _store(self._portals, bind.portal, portal, self.settings.max_portals)

    def _close_complete(self, payload: bytes, now: float) -> None:
        kind = self._queue[0][0] if self._queue else -1
        name = self._dec.target(self._pop("CloseComplete", CLOSE_S, CLOSE_P))
        table: dict[str, Any] = self._prepared if kind == CLOSE_S else self._portals
        table.pop(name, None)

    def _parameter_description(self, payload: bytes, now: float) -> None:
        queue = self._queue
        if not queue or queue[0][0] != DESCRIBE_S:
            raise unexpected("ParameterDescription", queue[0] if queue else None)
        prepared = self._prepared.get(self._dec.target(queue[0][1]))
        if prepared is not None:
            msg = decode_backend(BackendCode.PARAMETER_DESCRIPTION, payload)
            assert isinstance(msg, ParameterDescription)
            prepared.described = msg.type_oids

    def _describe_answer(self, cols: Columns | None) -> bool:
        """Store a Describe's answer; False when the head is not a Describe."""
        queue = self._queue
        kind = queue[0][0] if queue else -1
        if kind == DESCRIBE_P:
            portal = self._portals.get(self._dec.target(queue.popleft()[1]))
            if portal is not None:
                portal.columns = cols
            return True
        if kind == DESCRIBE_S:
            prepared = self._prepared.get(self._dec.target(queue.popleft()[1]))
            if prepared is not None:
                prepared.columns = cols
            return True
        return False

    def _row_description(self, payload: bytes, now: float) -> None:
        cols = self._dec.columns(payload)
        if not self._describe_answer(cols):
            self._current(now).columns = cols  # a simple Query's next statement

    def _no_data(self, payload: bytes, now: float) -> None:
        if not self._describe_answer(None):
            raise unexpected("NoData", self._queue[0] if self._queue else None)

    # -- results --------------------------------------------------------------------------------
    def _current(self, now: float) -> Statement:
        """The statement receiving results, started from the head request if need be."""
        st = self._cur
        if st is not None:
            return st
        queue = self._queue
        head = queue[0] if queue else None
        if head is not None and head[0] == EXECUTE:
            st = exec_statement(
                self._dec, self._portals, self._prepared, head, None, self._app_traceparent
            )
        elif head is not None and head[0] == QUERY:
            if self._run is None:
                self._run = self._dec.query(head[1])
            st = query_statement(self.redactor, self._run, head[2], self._app_traceparent)
        else:
            raise unexpected("results", head)
        if self._last_end > st.ts_start:
            st.ts_start = self._last_end
        self._cur = st
        return st

    def _data_row(self, payload: bytes, now: float) -> None:
        st = self._cur or self._current(now)
        st.nrows += 1
        if st.truncated:
            return
        if st.nrows > self._max_rows or st.nbytes + len(payload) > self.settings.max_result_bytes:
            st.truncated = True
            return
        values = self._dec.values(payload)
        cols = st.columns
        if cols is not None and cols.secret:
            values = redact_values(values, cols, result_formats(st) or [], self.redactor)
        st.nbytes += len(payload)
        st.result_rows.append(values)

    def _command_complete(self, payload: bytes, now: float) -> None:
        tag, rows = self._dec.tag(payload)
        st = self._cur or self._current(now)
        self._end(st, now, tag, st.nrows if rows is None else rows)

    def _empty_query(self, payload: bytes, now: float) -> None:
        self._end(self._current(now), now)

    def _portal_suspended(self, payload: bytes, now: float) -> None:
        st = self._current(now)
        self._end(st, now, None, st.nrows)

    def _end(
        self,
        st: Statement,
        now: float,
        tag: str | None = None,
        rows: int | None = None,
        err: ErrorResponse | None = None,
        queued: bool = True,
    ) -> None:
        """Finish ``st``; ``queued`` when its request is still the head of the queue."""
        row = finish_row(st, self.session, self._seq, now, self.redactor, tag, rows, err)
        self._seq += 1
        self._cur = None
        self._last_end = now
        if st.truncated:
            self._count("sql.result_truncated", 1)
        if st.copy:
            self._count("sql.copy_statements", 1)
        if queued:
            run = self._run
            if run is not None and self._queue[0][0] == QUERY:
                run.rows.append(row[0])
                run.index += 1
            else:
                self._queue.popleft()
        held = self._held
        held.append(row)
        if len(held) >= self.settings.max_held:
            self._out.extend(held)
            held.clear()

    def _copy_in_response(self, payload: bytes, now: float) -> None:
        self._current(now).copy = True
        self._copy_in = True
        queue = self._queue
        if queue[0][0] == EXECUTE:  # Syncs sent before the COPY began are ignored
            self._queue = deque(r for i, r in enumerate(queue) if not i or r[0] != SYNC)

    def _copy_out_response(self, payload: bytes, now: float) -> None:
        self._current(now).copy = True

    def _copy_data(self, payload: bytes, now: float) -> None:
        if self._cur is not None:
            self._cur.copy_bytes += len(payload)

    def _error(self, payload: bytes, now: float) -> None:
        queue = self._queue
        if not queue:
            return  # an authentication failure, or a FATAL between statements
        err = decode_backend(BackendCode.ERROR_RESPONSE, payload)
        assert isinstance(err, ErrorResponse)
        kind = queue[0][0]
        if kind == QUERY:
            self._end(self._current(now), now, err=err)
            assert self._run is not None
            self._run.errored = True
            return
        if kind in (SYNC, FUNCTION):
            return
        batch: list[Req] = []
        while queue and queue[0][0] != SYNC:
            batch.append(queue.popleft())
        self._skip_to_sync = not queue
        self._copy_in = False
        st = self._cur if batch[0][0] == EXECUTE else None
        if st is None:
            st = failed_statement(
                self._dec, self._portals, self._prepared, batch, self._app_traceparent
            )
            if self._last_end > st.ts_start:
                st.ts_start = self._last_end
        self._end(st, now, err=err, queued=False)

    def _ready(self, payload: bytes, now: float) -> None:
        status = TX_STATUS.get(payload)
        if status is None:
            raise PgProtocolError(f"invalid ReadyForQuery status {payload!r}")
        queue = self._queue
        while queue:
            kind = queue.popleft()[0]
            if kind == QUERY:
                self._query_done()
                break
            if kind in (SYNC, FUNCTION):
                break
        self._cur = None
        self._copy_in = False
        if status == "idle" and self._portals:
            self._portals.clear()  # the transaction ended: so did its portals
        held = self._held
        if held:
            for row, _ in held:
                row["tx_status"] = status
            self._out.extend(held)
            held.clear()

    def _query_done(self) -> None:
        """Check that a simple Query's answers matched its split; fall back to the whole text."""
        run, self._run = self._run, None
        if run is None or run.errored or run.index == len(run.texts):
            return
        if not run.texts and run.index <= 1:
            return  # an empty query: one EmptyQueryResponse for the whole text
        whole = safe_text(self.redactor.redact_sql(run.whole))
        marker = f"statement split mismatch: {len(run.texts)} texts, {run.index} results"
        for row in run.rows:
            row["sql"] = whole
            row["error"] = f"{row['error']}; {marker}" if row.get("error") else marker

    def _parameter_status(self, payload: bytes, now: float) -> None:
        msg = decode_backend(BackendCode.PARAMETER_STATUS, payload)
        assert isinstance(msg, ParameterStatus)
        if msg.name == "application_name":
            self.session.application_name = safe_text(msg.value)
            self._app_traceparent = traceparent_of_app_name(msg.value)

    def _ignore(self, payload: bytes, now: float) -> None:
        return
