"""What the tracker remembers about statements, and how a finished one becomes a tape row.

Pure data and functions, no IO. :class:`Statement` is one execution in flight (results are
appended as they arrive, capped); :func:`finish_row` turns it into one ``SQL_SCHEMA`` row.
:class:`Prepared`, :class:`Portal` and :class:`Columns` are what a connection keeps between
messages (a named statement's text, a portal's bound values, a RowDescription).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from recorder.pg.lean import BoundValues
from recorder.pg.sqltext import find_traceparent
from understudy.errors import PgProtocolError
from understudy.pgwire import ErrorResponse, RowDescription, binary_to_text
from understudy.sqlredact import SqlRedactor

__all__ = [
    "TX_STATUS",
    "CaptureSettings",
    "Columns",
    "Portal",
    "Prepared",
    "Session",
    "Statement",
    "finish_row",
    "redact_values",
    "result_formats",
    "safe_text",
]

TX_STATUS: Final = {b"I": "idle", b"T": "in_transaction", b"E": "failed"}
_ROW_OVERHEAD = 512


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """Limits of one connection's tracker; every one keeps memory bounded."""

    max_result_rows: int = 1000  # DataRows stored per statement (all are counted)
    max_result_bytes: int = 1024 * 1024  # bytes of stored DataRow values per statement
    max_frame: int = 256 * 1024 * 1024  # a longer frame ends tracking (still relayed)
    max_prepared: int = 10_000  # named statements remembered per connection
    max_portals: int = 1_000  # named portals remembered per connection
    max_pending: int = 100_000  # client messages awaiting the server's answer
    max_held: int = 1_000  # finished rows waiting for their ReadyForQuery


def safe_text(text: str) -> str:
    """``text`` as valid UTF-8 for Arrow: undecodable bytes become ``\\xNN`` escapes."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape")
        return raw.decode("utf-8", "backslashreplace")
    return text


class Session:
    """Who is connected: fixed at startup, ``application_name`` follows ParameterStatus."""

    __slots__ = ("application_name", "client_addr", "conn_id", "database", "user")

    def __init__(self, conn_id: str, client_addr: str | None, params: dict[str, str]) -> None:
        self.conn_id = conn_id
        self.client_addr = client_addr
        self.user = safe_text(params["user"]) if "user" in params else None
        self.database = safe_text(params.get("database") or params.get("user") or "") or None
        app = params.get("application_name")
        self.application_name = safe_text(app) if app is not None else None


class Columns:
    """A decoded RowDescription: names, type OIDs, and which columns are secret."""

    __slots__ = ("columns", "formats", "names", "secret", "type_oids")

    def __init__(self, desc: RowDescription, redactor: SqlRedactor) -> None:
        fields = desc.fields
        self.names = [safe_text(f.name) for f in fields]
        self.type_oids = [f.type_oid for f in fields]
        self.formats = [f.format_code for f in fields]
        self.columns = [
            {"name": n, "type_oid": t} for n, t in zip(self.names, self.type_oids, strict=True)
        ]
        self.secret = redactor.secret_columns(self.names)


class Prepared:
    """A parsed statement: its (redacted) text, declared and described parameter types."""

    __slots__ = (
        "_described",
        "_oids",
        "columns",
        "param_types",
        "secret_params",
        "sql",
        "traceparent",
    )

    def __init__(
        self,
        sql: str,
        param_types: tuple[int, ...],
        secret_params: frozenset[int],
        traceparent: str | None,
    ) -> None:
        self.sql = sql
        self.param_types = param_types
        self.secret_params = secret_params
        self.traceparent = traceparent
        self._described: tuple[int, ...] | None = None
        self.columns: Columns | None = None
        self._oids: list[int] | None = None

    @property
    def described(self) -> tuple[int, ...] | None:
        """Parameter types from the server's ParameterDescription, if a Describe asked."""
        return self._described

    @described.setter
    def described(self, oids: tuple[int, ...] | None) -> None:
        self._described = oids
        self._oids = None

    @classmethod
    def parse(cls, sql: str, param_types: tuple[int, ...], redactor: SqlRedactor) -> Prepared:
        """From a Parse message: redact the text once, find its parameters' columns."""
        return cls(
            safe_text(redactor.redact_sql(sql)),
            param_types,
            redactor.secret_params(sql),
            find_traceparent(sql),
        )

    def fresh(self) -> Prepared:
        """A copy without what Describe learnt (a new Parse of the same text)."""
        return Prepared(self.sql, self.param_types, self.secret_params, self.traceparent)

    def param_oids(self, n: int) -> list[int]:
        """Type OIDs of ``n`` parameters: declared by Parse, else described, else 0."""
        oids = self._oids
        if oids is not None and len(oids) == n:
            return oids
        declared = self.param_types
        described = self._described or ()
        oids = []
        for i in range(n):
            oid = declared[i] if i < len(declared) else 0
            if not oid and i < len(described):
                oid = described[i]
            oids.append(oid)
        self._oids = oids
        return oids


class Portal:
    """A bound portal: the statement it runs, its Bind, and its Describe, if any."""

    __slots__ = ("bind", "columns", "prepared")

    def __init__(self, prepared: Prepared | None, bind: BoundValues) -> None:
        self.prepared = prepared
        self.bind = bind
        self.columns: Columns | None = None


class Statement:
    """One statement execution in flight; results accumulate until it ends."""

    __slots__ = (
        "columns",
        "copy",
        "copy_bytes",
        "error",
        "nbytes",
        "nrows",
        "portal",
        "portal_name",
        "protocol",
        "result_rows",
        "sql",
        "statement_name",
        "traceparent",
        "truncated",
        "ts_start",
    )

    def __init__(
        self,
        protocol: str,
        sql: str | None,
        ts_start: float,
        statement_name: str | None = None,
        portal_name: str | None = None,
        portal: Portal | None = None,
        columns: Columns | None = None,
        traceparent: str | None = None,
    ) -> None:
        self.protocol = protocol
        self.sql = sql
        self.ts_start = ts_start
        self.statement_name = statement_name
        self.portal_name = portal_name
        self.portal = portal
        self.columns = columns
        self.traceparent = traceparent
        self.result_rows: list[list[bytes | None]] = []
        self.nrows = 0
        self.nbytes = 0
        self.truncated = False
        self.copy = False
        self.copy_bytes = 0
        self.error: str | None = None


def _expand(formats: tuple[int, ...] | list[int], n: int) -> list[int]:
    """Per-item formats from a Bind's list: none means text, one applies to all."""
    if len(formats) == n:
        return list(formats)
    if not formats:
        return [0] * n
    if len(formats) == 1:
        return [formats[0]] * n
    return list(formats)


def _value_text(oid: int, data: bytes, fmt: int) -> str:
    if not fmt:
        if data.isascii():
            return data.decode("ascii")
        return safe_text(data.decode("utf-8", "surrogateescape"))
    try:
        return safe_text(binary_to_text(oid, data))
    except PgProtocolError:
        return "\\x" + data.hex()


def _params(portal: Portal, redactor: SqlRedactor) -> list[str | None]:
    """An extended-protocol run's parameters as text, secrets pseudonymised."""
    bind = portal.bind
    values = bind.params
    if not values:
        return []
    prepared = portal.prepared
    oids = prepared.param_oids(len(values)) if prepared is not None else [0] * len(values)
    formats = bind.param_formats
    nformats = len(formats)
    texts: list[str | None] = []
    for i, value in enumerate(values):
        if value is None:
            texts.append(None)
        elif nformats == 0 or (formats[i] if nformats > 1 else formats[0]) == 0:
            texts.append(value.decode("ascii") if value.isascii() else _value_text(0, value, 0))
        else:
            texts.append(_value_text(oids[i], value, 1))
    if prepared is not None and prepared.secret_params:
        for i in prepared.secret_params:
            text = texts[i] if i < len(texts) else None
            if text is not None:
                texts[i] = redactor.token(text)
    return texts


def redact_values(
    values: list[bytes | None], cols: Columns, formats: list[int], redactor: SqlRedactor
) -> list[bytes | None]:
    """A DataRow's values with the secret columns' values pseudonymised."""
    out = list(values)
    for i in cols.secret:
        if i < len(out) and (v := out[i]) is not None:
            fmt = formats[i] if i < len(formats) else 0
            out[i] = redactor.token(_value_text(cols.type_oids[i], v, fmt)).encode()
    return out


def result_formats(st: Statement) -> list[int] | None:
    """Per-column result formats: from the Bind (extended), else the RowDescription."""
    cols = st.columns
    if st.portal is not None:
        n = len(cols.names) if cols is not None else len(st.portal.bind.result_formats)
        return _expand(st.portal.bind.result_formats, n)
    return cols.formats if cols is not None else None


def finish_row(
    st: Statement,
    session: Session,
    seq: int,
    ts_end: float,
    redactor: SqlRedactor,
    tag: str | None = None,
    rows: int | None = None,
    err: ErrorResponse | None = None,
    marker: str | None = None,
) -> tuple[dict[str, Any], int]:
    """One ``SQL_SCHEMA`` row (``tx_status`` still unknown) and its estimated size in bytes.

    Null columns are absent from the dict (the writer fills them with nulls).
    """
    portal = st.portal
    cols = st.columns
    sql = st.sql
    ts_start = st.ts_start
    # Columns that are null are left out: cheaper here and in the writer's conversion.
    row: dict[str, Any] = {
        "statement_id": f"{session.conn_id}-{seq}",
        "conn_id": session.conn_id,
        "seq": seq,
        "ts_start": int(ts_start * 1_000_000),
        "ts_end": int(ts_end * 1_000_000),
        "duration_ms": (ts_end - ts_start) * 1000.0 if ts_end > ts_start else 0.0,
        "database": session.database,
        "user": session.user,
        "application_name": session.application_name,
        "client_addr": session.client_addr,
        "protocol": st.protocol,
        "sql": sql,
        "result_truncated": st.truncated,
    }
    if portal is not None:
        bind = portal.bind
        prepared = portal.prepared
        n = len(bind.params)
        row["params"] = _params(portal, redactor)
        row["param_types"] = prepared.param_oids(n) if prepared is not None else [0] * n
        row["param_formats"] = list(bind.param_formats)
        row["result_formats"] = _expand(
            bind.result_formats, len(cols.names) if cols is not None else len(bind.result_formats)
        )
    elif cols is not None:
        row["result_formats"] = cols.formats
    if st.statement_name is not None:
        row["statement_name"] = st.statement_name
    if st.portal_name is not None:
        row["portal_name"] = st.portal_name
    if tag is not None:
        row["command_tag"] = tag
    if rows is not None:
        row["rows"] = rows
    if cols is not None:
        row["columns"] = cols.columns
        row["result_rows"] = st.result_rows
    elif st.result_rows:
        row["result_rows"] = st.result_rows
    if err is not None:
        row["sqlstate"] = err.sqlstate
        row["error_message"] = safe_text(err.message or "")
    if st.traceparent is not None:
        row["traceparent"] = st.traceparent
    if st.copy:
        row["copy_bytes"] = st.copy_bytes
    error = st.error
    if marker:
        error = f"{error}; {marker}" if error else marker
    if error:
        row["error"] = error
    return row, _ROW_OVERHEAD + st.nbytes + (len(sql) if sql else 0)
