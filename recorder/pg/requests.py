"""Client requests waiting for the server's answer, and the statements they stand for.

A pending request is a plain tuple ``(kind, payload, ts)``: the kind of client message (a
small int), its undecoded payload, and when its first byte arrived. Payloads are decoded
only when the server answers, through :class:`Decoder`, which caches the decoding of payloads
that repeat byte for byte (a prepared statement's Parse, ``Execute ""``, ``Describe P ""``,
a RowDescription, ``SELECT 1``): repeated traffic costs a dict lookup, not a decode.

:func:`exec_statement`, :func:`failed_statement` and :func:`query_statement` build the
:class:`~recorder.pg.rows.Statement` an Execute, a failed message or a simple Query stands
for, from what the connection knows (named statements and portals) and, for requests the
server never confirmed (after an error, or in flight at the end), from the requests
before them in the same batch.
"""

from __future__ import annotations

from typing import Final

from recorder.pg.lean import BoundValues, datarow_values, decode_bind
from recorder.pg.rows import Columns, Portal, Prepared, Statement, safe_text
from recorder.pg.sqltext import find_traceparent, split_statements
from understudy.errors import PgProtocolError
from understudy.pgwire import (
    BackendCode,
    CommandComplete,
    Describe,
    Execute,
    FrontendCode,
    Parse,
    Query,
    RowDescription,
    decode_backend,
    decode_frontend,
)
from understudy.sqlredact import SqlRedactor

__all__ = [
    "BIND",
    "CLOSE_P",
    "CLOSE_S",
    "DESCRIBE_P",
    "DESCRIBE_S",
    "EXECUTE",
    "FUNCTION",
    "KIND_NAMES",
    "PARSE",
    "QUERY",
    "SYNC",
    "Decoder",
    "QueryRun",
    "Req",
    "exec_statement",
    "failed_statement",
    "query_statement",
    "unexpected",
]

PARSE, BIND, DESCRIBE_S, DESCRIBE_P, EXECUTE, CLOSE_S, CLOSE_P, SYNC, QUERY, FUNCTION = range(10)
KIND_NAMES: Final = (
    "Parse", "Bind", "Describe statement", "Describe portal", "Execute", "Close statement",
    "Close portal", "Sync", "Query", "FunctionCall",
)  # fmt: skip

#: ``(kind, payload, ts)``: a client message waiting for its answer.
Req = tuple[int, bytes, float]

_CACHE_MAX = 1024
_CACHE_PAYLOAD_MAX = 16 * 1024
_SMALL = 256  # Bind and DataRow payloads worth caching (they repeat only when small)
_UNKNOWN_PORTAL = "portal unknown (bound before the recording started)"
_UNKNOWN_TEXT = "statement text unknown (prepared before recording, or by SQL PREPARE)"


class QueryRun:
    """A simple Query being answered: its statements and the rows made so far."""

    __slots__ = ("errored", "index", "rows", "texts", "whole")

    def __init__(self, whole: str) -> None:
        self.whole = whole
        self.texts = split_statements(whole)
        self.index = 0
        self.errored = False
        self.rows: list[dict[str, object]] = []

    @property
    def current_text(self) -> str:
        """The text of the statement being answered (the whole text past the split)."""
        return self.texts[self.index] if self.index < len(self.texts) else self.whole


class Decoder:
    """Decode request and response payloads through the pgwire codec, with caches."""

    def __init__(self, redactor: SqlRedactor) -> None:
        self.redactor = redactor
        self._parse: dict[bytes, tuple[str, Prepared]] = {}
        self._executes: dict[bytes, str] = {}  # Execute payload -> portal
        self._targets: dict[bytes, str] = {}  # Describe/Close payload -> name
        self._columns: dict[bytes, Columns] = {}
        self._tags: dict[bytes, tuple[str, int | None]] = {}
        self._binds: dict[bytes, BoundValues] = {}
        self._values: dict[bytes, list[bytes | None]] = {}

    def clear(self) -> None:
        self._parse.clear()
        self._executes.clear()
        self._targets.clear()
        self._columns.clear()
        self._tags.clear()
        self._binds.clear()
        self._values.clear()

    def parse(self, payload: bytes) -> tuple[str, Prepared]:
        """A Parse's statement name and a template :class:`Prepared` (call ``fresh()``)."""
        hit = self._parse.get(payload)
        if hit is None:
            msg = decode_frontend(FrontendCode.PARSE, payload)
            assert isinstance(msg, Parse)
            hit = (msg.name, Prepared.parse(msg.query, msg.param_types, self.redactor))
            _remember(self._parse, payload, hit)
        return hit

    def bind(self, payload: bytes) -> BoundValues:
        """A Bind (repeated parameter sets share one: do not modify it)."""
        msg = self._binds.get(payload)
        if msg is None:
            msg = decode_bind(payload)
            if len(payload) <= _SMALL:
                _remember(self._binds, payload, msg)
        return msg

    def values(self, payload: bytes) -> list[bytes | None]:
        """A DataRow's values; the list is shared by equal small rows: do not modify it."""
        values = self._values.get(payload)
        if values is None:
            values = datarow_values(payload)
            if len(payload) <= _SMALL:
                _remember(self._values, payload, values)
        return values

    def portal_of_execute(self, payload: bytes) -> str:
        name = self._executes.get(payload)
        if name is None:
            msg = decode_frontend(FrontendCode.EXECUTE, payload)
            assert isinstance(msg, Execute)
            name = _remember(self._executes, payload, safe_text(msg.portal))
        return name

    def target(self, payload: bytes) -> str:
        """The statement or portal a Describe or Close names (same layout)."""
        name = self._targets.get(payload)
        if name is None:
            msg = decode_frontend(FrontendCode.DESCRIBE, payload)
            assert isinstance(msg, Describe)
            name = _remember(self._targets, payload, msg.name)
        return name

    def columns(self, payload: bytes) -> Columns:
        cols = self._columns.get(payload)
        if cols is None:
            msg = decode_backend(BackendCode.ROW_DESCRIPTION, payload)
            assert isinstance(msg, RowDescription)
            cols = _remember(self._columns, payload, Columns(msg, self.redactor))
        return cols

    def tag(self, payload: bytes) -> tuple[str, int | None]:
        """A CommandComplete's tag and the row count it carries, if any."""
        hit = self._tags.get(payload)
        if hit is None:
            msg = decode_backend(BackendCode.COMMAND_COMPLETE, payload)
            assert isinstance(msg, CommandComplete)
            hit = _remember(self._tags, payload, (safe_text(msg.tag), msg.rows))
        return hit

    def query(self, payload: bytes) -> QueryRun:
        msg = decode_frontend(FrontendCode.QUERY, payload)
        assert isinstance(msg, Query)
        return QueryRun(msg.sql)


def _remember[V](cache: dict[bytes, V], payload: bytes, value: V) -> V:
    if len(payload) <= _CACHE_PAYLOAD_MAX:
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[payload] = value
    return value


def exec_statement(
    dec: Decoder,
    portals: dict[str, Portal],
    prepared: dict[str, Prepared],
    req: Req,
    prior: list[Req] | None,
    app_traceparent: str | None,
) -> Statement:
    """The statement an Execute runs; ``prior``: unanswered requests before it, if any."""
    name = dec.portal_of_execute(req[1])
    portal = portals.get(name)
    if prior:  # a Bind (and Parse) the server never confirmed, in the same batch
        for i in range(len(prior) - 1, -1, -1):
            if prior[i][0] == BIND:
                bind = dec.bind(prior[i][1])
                if bind.portal == name:
                    portal = Portal(_unconfirmed(dec, prepared, bind.statement, prior[:i]), bind)
                    break
    if portal is None:
        st = Statement("extended", None, req[2], None, name)
        st.error = _UNKNOWN_PORTAL
        return st
    prep = portal.prepared
    if prep is None:
        st = Statement("extended", None, req[2], safe_text(portal.bind.statement), name, portal)
        st.error = _UNKNOWN_TEXT
        return st
    return Statement(
        "extended",
        prep.sql,
        req[2],
        safe_text(portal.bind.statement),
        name,
        portal,
        portal.columns or prep.columns,
        prep.traceparent or app_traceparent,
    )


def _unconfirmed(
    dec: Decoder, prepared: dict[str, Prepared], name: str, prior: list[Req]
) -> Prepared | None:
    for kind, payload, _ in reversed(prior):
        if kind == PARSE:
            parsed_name, template = dec.parse(payload)
            if parsed_name == name:
                return template.fresh()
    return prepared.get(name)


def failed_statement(
    dec: Decoder,
    portals: dict[str, Portal],
    prepared: dict[str, Prepared],
    batch: list[Req],
    app_traceparent: str | None,
) -> Statement:
    """The statement an extended-protocol error belongs to: the first Execute of ``batch``
    (which starts with the failed message), else the failed message itself."""
    for i, req in enumerate(batch):
        if req[0] == EXECUTE:
            return exec_statement(dec, portals, prepared, req, batch[:i], app_traceparent)
    kind, payload, ts = batch[0]
    if kind == PARSE:
        name, template = dec.parse(payload)
        tp = template.traceparent or app_traceparent
        return Statement("extended", template.sql, ts, safe_text(name), None, None, None, tp)
    if kind == BIND:
        bind = dec.bind(payload)
        prep = prepared.get(bind.statement)
        sql = prep.sql if prep is not None else None
        names = safe_text(bind.statement), safe_text(bind.portal)
        return Statement("extended", sql, ts, *names, Portal(prep, bind))
    target = safe_text(dec.target(payload))
    if kind in (DESCRIBE_P, CLOSE_P):
        return Statement("extended", None, ts, None, target)
    prep = prepared.get(target)
    return Statement("extended", prep.sql if prep is not None else None, ts, target)


def query_statement(
    redactor: SqlRedactor, run: QueryRun, ts: float, app_traceparent: str | None
) -> Statement:
    """The next statement of a simple Query."""
    text = run.current_text
    sql = safe_text(redactor.redact_sql(text))
    tp = find_traceparent(text) or app_traceparent
    return Statement("simple", sql, ts, None, None, None, None, tp)


def unexpected(what: str, queue_head: Req | None) -> PgProtocolError:
    """The error for a server message that answers nothing the client asked."""
    if queue_head is None:
        return PgProtocolError(f"server sent {what} with no request pending")
    expected = KIND_NAMES[queue_head[0]]
    return PgProtocolError(f"server sent {what}; the client's next is {expected}")
