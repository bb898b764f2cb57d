"""Answers to statements, and their wire bytes, encoded once per requested format.

A :class:`Result` is what a statement returns: columns, rows and a command tag, or an error.
Recorded results keep each value in the format it was recorded in (per column); a client may
ask for the other one (psycopg text, asyncpg binary), and the value is converted by type OID
with :mod:`understudy.pgwire.types`. The bytes of a RowDescription and of the DataRows plus
CommandComplete are built the first time a format combination is asked for and reused after
that, so serving a recorded result is a dict lookup and one ``write``.

Columns of user-defined types (OID >= 16384: enums, domains, composites) are announced as
``text``: their OIDs mean nothing outside the recorded database, and a driver that meets an
unknown OID would query ``pg_type`` to learn it (asyncpg does). Their values are served as
recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from replayer.pg.arrays import ARRAY_ELEMENTS, binary_to_text_array, text_to_binary_array
from replayer.pg.errors import ReplaySqlState, StatementFailed
from understudy.errors import PgProtocolError
from understudy.pgwire import (
    CommandComplete,
    DataRow,
    ErrorResponse,
    FieldDescription,
    NoData,
    RowDescription,
    SqlState,
    binary_to_text,
    encode,
    error_response,
    notice_response,
    text_to_binary,
)
from understudy.pgwire._wire import decode_str, encode_str

__all__ = [
    "CANCELLED",
    "FIRST_USER_OID",
    "IN_FAILED_TRANSACTION",
    "NO_DATA",
    "Column",
    "Result",
    "resolve_formats",
]

#: OIDs from here on are created by users (PostgreSQL's ``FirstNormalObjectId``).
FIRST_USER_OID: Final = 16384
_TEXT_OID: Final = 25
NO_DATA: Final = encode(NoData())
_SIMPLE: Final = (-1,)  # cache key of the simple-protocol answer (never a real format list)
# typlen of common built-in types, for RowDescription (-1: variable length).
_TYPE_SIZES: Final = {
    16: 1,
    18: 1,
    19: 64,
    20: 8,
    21: 2,
    23: 4,
    24: 4,
    26: 4,
    27: 6,
    28: 4,
    29: 4,
    700: 4,
    701: 8,
    1082: 4,
    1083: 8,
    1114: 8,
    1184: 8,
    1186: 16,
    1266: 12,
    2950: 16,
}


@dataclass(frozen=True, slots=True)
class Column:
    """One result column: its name and type OID as recorded."""

    name: str
    type_oid: int


def resolve_formats(requested: Sequence[int], n: int) -> tuple[int, ...]:
    """Bind's result format codes for ``n`` columns: none (all text), one for all, or each."""
    if len(requested) == n:
        return tuple(requested)
    if not requested:
        return (0,) * n
    if len(requested) == 1:
        return (requested[0],) * n
    raise StatementFailed(
        error_response(
            SqlState.PROTOCOL_VIOLATION,
            f"bind message has {len(requested)} result formats but query has {n} columns",
        )
    )


def _convert(col: Column, value: bytes, have: int, want: int) -> bytes:
    oid = col.type_oid
    try:
        if oid in ARRAY_ELEMENTS:
            if want:
                return text_to_binary_array(oid, decode_str(value))
            return encode_str(binary_to_text_array(oid, value))
        if want:
            return text_to_binary(oid, decode_str(value))
        return encode_str(binary_to_text(oid, value))
    except (PgProtocolError, KeyError, IndexError, ValueError) as exc:
        wanted = "binary" if want else "text"
        raise StatementFailed(
            error_response(
                ReplaySqlState.FORMAT_UNAVAILABLE,
                f"understudy: column {col.name!r} (type oid {col.type_oid}) was recorded in "
                f"{'binary' if have else 'text'} format and cannot be served in {wanted}: {exc}",
                hint=f"ask for this column in {'binary' if have else 'text'} format",
            )
        ) from exc


class Result:
    """An answer: rows (values in ``formats``, per column) and a tag, or an ``error``.

    ``prefix`` and ``suffix`` are extra messages sent before the rows and after the tag
    (NoticeResponse warnings, ParameterStatus after a SET), already encoded.
    """

    __slots__ = (
        "_bodies",
        "_described",
        "_row_lists",
        "columns",
        "error",
        "formats",
        "prefix",
        "result_id",
        "rows",
        "suffix",
        "tag",
        "truncated",
    )

    def __init__(
        self,
        columns: Sequence[Column] = (),
        rows: Sequence[Sequence[bytes | None]] = (),
        tag: str = "",
        *,
        formats: Sequence[int] = (),
        error: ErrorResponse | None = None,
        truncated: bool = False,
        result_id: str | None = None,
        prefix: bytes = b"",
        suffix: bytes = b"",
    ) -> None:
        self.columns = tuple(columns)
        n = len(self.columns)
        self.formats = tuple(formats[:n]) + (0,) * (n - len(formats[:n]))
        self.rows = tuple(tuple(r) for r in rows)
        self.tag = tag or (f"SELECT {len(self.rows)}" if self.columns else "")
        self.error = error
        self.truncated = truncated
        self.result_id = result_id
        self.prefix = prefix
        self.suffix = suffix
        self._described: dict[tuple[int, ...], bytes] = {}
        self._bodies: dict[tuple[int, ...], bytes] = {}
        self._row_lists: dict[tuple[int, ...], tuple[bytes, ...]] = {}

    def __repr__(self) -> str:
        what = f"error {self.sqlstate}" if self.error else f"{self.tag!r}, {len(self.rows)} rows"
        return f"Result({what}, id={self.result_id!r})"

    @classmethod
    def failure(cls, error: ErrorResponse, *, result_id: str | None = None) -> Result:
        """A result that is an error."""
        return cls(error=error, result_id=result_id)

    @property
    def sqlstate(self) -> str | None:
        return None if self.error is None else self.error.sqlstate

    # -- encoding -----------------------------------------------------------------------------
    def describe(self, requested: Sequence[int] = ()) -> bytes:
        """RowDescription for the result formats asked for (NoData when there are no rows)."""
        key = tuple(requested)
        out = self._described.get(key)
        if out is None:
            if not self.columns or self.error is not None:
                out = NO_DATA
            else:
                fmts = resolve_formats(key, len(self.columns))
                out = encode(
                    RowDescription(
                        tuple(_field(c, f) for c, f in zip(self.columns, fmts, strict=True))
                    )
                )
            self._described[key] = out
        return out

    def row_messages(self, requested: Sequence[int] = ()) -> tuple[bytes, ...]:
        """One encoded DataRow per row, in the formats asked for."""
        key = tuple(requested)
        out = self._row_lists.get(key)
        if out is None:
            out = self._encode_rows(resolve_formats(key, len(self.columns)))
            self._row_lists[key] = out
        return out

    def body(self, requested: Sequence[int] = ()) -> bytes:
        """Everything Execute sends: rows and CommandComplete, or the ErrorResponse."""
        key = tuple(requested)
        out = self._bodies.get(key)
        if out is None:
            if self.error is not None:
                out = self.prefix + encode(self.error)
            else:
                out = b"".join((self.prefix, *self.row_messages(key), self.completion()))
            self._bodies[key] = out
        return out

    def completion(self) -> bytes:
        """The end of a successful result: a truncation warning, CommandComplete, suffix."""
        warn = b""
        if self.truncated:
            warn = encode(
                notice_response(
                    f"understudy: this result was truncated when recorded; {len(self.rows)} rows "
                    "are served",
                    severity="WARNING",
                    sqlstate=SqlState.WARNING,
                )
            )
        return warn + encode(CommandComplete(self.tag)) + self.suffix

    def simple(self) -> bytes:
        """The answer to a simple Query: RowDescription (if rows), rows, tag; all in text."""
        out = self._bodies.get(_SIMPLE)
        if out is None:
            out = self.body()
            if self.columns and self.error is None:
                out = self.describe() + out
            self._bodies[_SIMPLE] = out
        return out

    def _encode_rows(self, fmts: tuple[int, ...]) -> tuple[bytes, ...]:
        plan = [
            (i, c, have, want)
            for i, (c, have, want) in enumerate(zip(self.columns, self.formats, fmts, strict=True))
            if have != want and c.type_oid < FIRST_USER_OID
        ]
        if not plan:
            return tuple(encode(DataRow(r)) for r in self.rows)
        out = []
        for row in self.rows:
            values = list(row)
            for i, col, have, want in plan:
                v = values[i]
                if v is not None:
                    values[i] = _convert(col, v, have, want)
            out.append(encode(DataRow(tuple(values))))
        return tuple(out)


def _field(col: Column, fmt: int) -> FieldDescription:
    oid = col.type_oid if col.type_oid < FIRST_USER_OID else _TEXT_OID
    return FieldDescription(
        name=col.name,
        type_oid=oid,
        type_size=_TYPE_SIZES.get(oid, -1),
        format_code=fmt,
    )


#: What a statement gets when a CancelRequest stops it.
CANCELLED: Final = Result.failure(
    error_response(SqlState.QUERY_CANCELED, "canceling statement due to user request")
)
#: What every statement but ROLLBACK gets in an aborted transaction.
IN_FAILED_TRANSACTION: Final = Result.failure(
    error_response(
        SqlState.IN_FAILED_SQL_TRANSACTION,
        "current transaction is aborted, commands ignored until end of transaction block",
    )
)
