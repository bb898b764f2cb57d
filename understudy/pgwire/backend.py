"""Messages a PostgreSQL server (backend) sends, one frozen dataclass each.

CopyData and CopyDone, which both sides send, live in :mod:`understudy.pgwire.messages`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import overload

from understudy.pgwire.codes import TransactionStatus

__all__ = [
    "AuthenticationCleartextPassword",
    "AuthenticationMD5Password",
    "AuthenticationOk",
    "AuthenticationOther",
    "AuthenticationSASL",
    "AuthenticationSASLContinue",
    "AuthenticationSASLFinal",
    "BackendKeyData",
    "BindComplete",
    "CloseComplete",
    "CommandComplete",
    "CopyBothResponse",
    "CopyInResponse",
    "CopyOutResponse",
    "DataRow",
    "EmptyQueryResponse",
    "ErrorResponse",
    "FieldDescription",
    "FunctionCallResponse",
    "GSSENCResponse",
    "NegotiateProtocolVersion",
    "NoData",
    "NoticeResponse",
    "NotificationResponse",
    "ParameterDescription",
    "ParameterStatus",
    "ParseComplete",
    "PortalSuspended",
    "ReadyForQuery",
    "RowDescription",
    "SSLResponse",
]

# Command tags whose last word is a row count ("INSERT 0 5", "SELECT 3", "COPY 10").
_COUNTED = frozenset({"INSERT", "DELETE", "UPDATE", "MERGE", "SELECT", "MOVE", "FETCH", "COPY"})


# -- answers to the encryption requests (one byte, no frame) ----------------------------------


@dataclass(frozen=True, slots=True)
class SSLResponse:
    """The byte answering an SSLRequest: ``S`` (TLS follows) or ``N``."""

    accepted: bool


@dataclass(frozen=True, slots=True)
class GSSENCResponse:
    """The byte answering a GSSENCRequest: ``G`` (GSSAPI encryption follows) or ``N``."""

    accepted: bool


# -- authentication (``R``) -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthenticationOk:
    """Authentication succeeded."""


@dataclass(frozen=True, slots=True)
class AuthenticationCleartextPassword:
    """The server asks for the password in clear text."""


@dataclass(frozen=True, slots=True)
class AuthenticationMD5Password:
    """The server asks for an MD5-hashed password salted with these 4 bytes."""

    salt: bytes


@dataclass(frozen=True, slots=True)
class AuthenticationSASL:
    """The server offers these SASL mechanisms (``SCRAM-SHA-256``, ...)."""

    mechanisms: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AuthenticationSASLContinue:
    """A SASL challenge."""

    data: bytes


@dataclass(frozen=True, slots=True)
class AuthenticationSASLFinal:
    """The SASL outcome ("additional data")."""

    data: bytes


@dataclass(frozen=True, slots=True)
class AuthenticationOther:
    """Any other authentication request: GSS (7), GSSContinue (8), SSPI (9), ...

    ``auth_type`` is never one of the types above that have their own class.
    """

    auth_type: int
    data: bytes = b""


# -- session ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackendKeyData:
    """The key a client needs to cancel queries on this session (4 to 256 bytes in 3.2)."""

    process_id: int
    secret_key: bytes


@dataclass(frozen=True, slots=True)
class ParameterStatus:
    """``S``: the current value of a reported run-time parameter."""

    name: str
    value: str


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion:
    """``v``: the newest minor version the server speaks and the options it did not know."""

    newest_minor: int
    unrecognized: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ReadyForQuery:
    """``Z``: the server waits for a query; ``status`` is ``I``, ``T`` or ``E``."""

    status: TransactionStatus = TransactionStatus.IDLE


@dataclass(frozen=True, slots=True)
class NotificationResponse:
    """``A``: a NOTIFY on ``channel`` from process ``process_id``."""

    process_id: int
    channel: str
    payload: str


# -- query results ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ParseComplete:
    """``1``"""


@dataclass(frozen=True, slots=True)
class BindComplete:
    """``2``"""


@dataclass(frozen=True, slots=True)
class CloseComplete:
    """``3``"""


@dataclass(frozen=True, slots=True)
class NoData:
    """``n``: the described statement or portal returns no rows."""


@dataclass(frozen=True, slots=True)
class PortalSuspended:
    """``s``: Execute stopped at ``max_rows``; the portal has more."""


@dataclass(frozen=True, slots=True)
class EmptyQueryResponse:
    """``I``: the query string was empty."""


@dataclass(frozen=True, slots=True)
class ParameterDescription:
    """``t``: the type OIDs of a statement's parameters."""

    type_oids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FieldDescription:
    """One column of a RowDescription."""

    name: str
    table_oid: int = 0
    column_attr: int = 0
    type_oid: int = 25
    type_size: int = -1
    type_modifier: int = -1
    format_code: int = 0


@dataclass(frozen=True, slots=True)
class RowDescription:
    """``T``: the columns of the rows that follow."""

    fields: tuple[FieldDescription, ...]


@dataclass(frozen=True, slots=True)
class DataRow:
    """``D``: one row; each value is raw bytes in its column's format, or None for NULL."""

    values: tuple[bytes | None, ...]


@dataclass(frozen=True, slots=True)
class CommandComplete:
    """``C``: a statement finished; ``tag`` is e.g. ``SELECT 3`` or ``INSERT 0 1``."""

    tag: str

    @property
    def command(self) -> str:
        """The command word(s) of the tag: ``INSERT``, ``CREATE TABLE``, ..."""
        words = self.tag.split(" ")
        if words[0] in _COUNTED and len(words) > 1:
            return words[0]
        return self.tag

    @property
    def rows(self) -> int | None:
        """The row count the tag carries, if any."""
        words = self.tag.split(" ")
        if words[0] in _COUNTED and len(words) > 1 and _is_count(words[-1]):
            return int(words[-1])
        return None


@dataclass(frozen=True, slots=True)
class FunctionCallResponse:
    """``V``: the result of a FunctionCall, or None for NULL."""

    value: bytes | None


@dataclass(frozen=True, slots=True)
class CopyInResponse:
    """``G``: the server is ready for COPY FROM STDIN data."""

    format: int
    column_formats: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CopyOutResponse:
    """``H``: COPY TO STDOUT data follows."""

    format: int
    column_formats: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class CopyBothResponse:
    """``W``: a bidirectional copy (streaming replication) starts."""

    format: int
    column_formats: tuple[int, ...] = ()


# -- errors and notices -----------------------------------------------------------------------


class _Field:
    """A read-only property for one field code of an ErrorResponse or NoticeResponse."""

    __slots__ = ("code",)

    def __init__(self, code: str) -> None:
        self.code = code

    @overload
    def __get__(self, obj: None, owner: type) -> _Field: ...
    @overload
    def __get__(self, obj: _Notice, owner: type) -> str | None: ...
    def __get__(self, obj: _Notice | None, owner: type) -> _Field | str | None:
        return self if obj is None else obj.fields.get(self.code)


@dataclass(frozen=True, slots=True)
class _Notice:
    """Fields keyed by their one-character code (``"S"``, ``"C"``, ``"M"``, ...)."""

    fields: dict[str, str]

    severity = _Field("S")
    #: The severity in English, never localized (PostgreSQL 9.6+).
    severity_nonlocalized = _Field("V")
    sqlstate = _Field("C")
    code = _Field("C")
    message = _Field("M")
    detail = _Field("D")
    hint = _Field("H")
    internal_query = _Field("q")
    where = _Field("W")
    schema_name = _Field("s")
    table_name = _Field("t")
    column_name = _Field("c")
    data_type_name = _Field("d")
    constraint_name = _Field("n")
    file = _Field("F")
    line = _Field("L")
    routine = _Field("R")

    @property
    def position(self) -> int | None:
        """1-based character position of the error in the query string, if given."""
        return _int_field(self.fields.get("P"))

    @property
    def internal_position(self) -> int | None:
        """Like :attr:`position`, in :attr:`internal_query`."""
        return _int_field(self.fields.get("p"))


@dataclass(frozen=True, slots=True)
class ErrorResponse(_Notice):
    """``E``: an error; the current statement was abandoned. See :func:`error_response`."""


@dataclass(frozen=True, slots=True)
class NoticeResponse(_Notice):
    """``N``: a notice or warning; nothing was abandoned."""


def _int_field(text: str | None) -> int | None:
    return int(text) if text is not None and _is_count(text) else None


def _is_count(text: str) -> bool:
    return text.isascii() and text.isdigit()
