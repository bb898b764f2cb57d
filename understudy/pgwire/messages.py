"""Messages of the PostgreSQL protocol v3, one frozen dataclass each.

Messages are plain data: the wire format lives in :mod:`understudy.pgwire.codec`. Sequences
are tuples; ``dict`` fields (startup parameters, error fields) keep their wire order. Strings
are decoded as described in :mod:`understudy.pgwire._wire` (UTF-8, lossless escapes).
Server messages live in :mod:`understudy.pgwire.backend`; this module holds the client's
messages, the two that both sides send (CopyData, CopyDone) and the unions of all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from understudy.pgwire._wire import I32, Reader, cstring
from understudy.pgwire.backend import (
    AuthenticationCleartextPassword,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationOther,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendKeyData,
    BindComplete,
    CloseComplete,
    CommandComplete,
    CopyBothResponse,
    CopyInResponse,
    CopyOutResponse,
    DataRow,
    EmptyQueryResponse,
    ErrorResponse,
    FunctionCallResponse,
    GSSENCResponse,
    NegotiateProtocolVersion,
    NoData,
    NoticeResponse,
    NotificationResponse,
    ParameterDescription,
    ParameterStatus,
    ParseComplete,
    PortalSuspended,
    ReadyForQuery,
    RowDescription,
    SSLResponse,
)
from understudy.pgwire.codes import PROTOCOL_3_0, TargetKind

__all__ = [
    "AuthenticationResponse",
    "BackendMessage",
    "Bind",
    "CancelRequest",
    "Close",
    "CopyData",
    "CopyDone",
    "CopyFail",
    "Describe",
    "Execute",
    "Flush",
    "FrontendMessage",
    "FunctionCall",
    "GSSENCRequest",
    "Message",
    "Parse",
    "Query",
    "SSLRequest",
    "StartupMessage",
    "Sync",
    "Terminate",
]


# -- sent by both sides ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CopyData:
    """``d``: a chunk of a COPY data stream (either direction)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class CopyDone:
    """``c``: the end of a COPY data stream (either direction)."""


# -- startup phase (no type byte) -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartupMessage:
    """The first packet of a session: protocol version and parameters (``user``, ...)."""

    parameters: dict[str, str] = field(default_factory=dict)
    protocol_version: int = PROTOCOL_3_0

    @property
    def major(self) -> int:
        return self.protocol_version >> 16

    @property
    def minor(self) -> int:
        return self.protocol_version & 0xFFFF


@dataclass(frozen=True, slots=True)
class SSLRequest:
    """Asks the server to start TLS; answered by one byte (:class:`SSLResponse`)."""


@dataclass(frozen=True, slots=True)
class GSSENCRequest:
    """Asks the server to start GSSAPI encryption; answered by :class:`GSSENCResponse`."""


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Cancels the query running on another session (sent on a fresh connection).

    ``secret_key`` is 4 bytes in protocol 3.0 and up to 256 in 3.2, so it stays bytes.
    """

    process_id: int
    secret_key: bytes


# -- authentication ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthenticationResponse:
    """``p``: PasswordMessage, SASLInitialResponse, SASLResponse or GSSResponse.

    They share one code and only the authentication exchange tells them apart, so the
    payload stays raw; interpret it with :meth:`password`, :meth:`sasl_initial_response`
    or :meth:`sasl_response`, and build one with the ``from_*`` constructors.
    """

    payload: bytes

    @classmethod
    def from_password(cls, password: str) -> AuthenticationResponse:
        """A PasswordMessage (cleartext, or ``"md5" + hex`` for MD5)."""
        return cls(cstring(password))

    @classmethod
    def from_sasl_initial_response(
        cls, mechanism: str, data: bytes | None
    ) -> AuthenticationResponse:
        """A SASLInitialResponse: the chosen mechanism and optional initial client data."""
        body = b"\xff\xff\xff\xff" if data is None else I32.pack(len(data)) + data
        return cls(cstring(mechanism) + body)

    @classmethod
    def from_sasl_response(cls, data: bytes) -> AuthenticationResponse:
        """A SASLResponse (or GSSResponse): the mechanism's data, unframed."""
        return cls(data)

    def password(self) -> str:
        """Read the payload as a PasswordMessage."""
        r = Reader(self.payload)
        out = r.cstring()
        r.done()
        return out

    def sasl_initial_response(self) -> tuple[str, bytes | None]:
        """Read the payload as a SASLInitialResponse: ``(mechanism, data or None)``."""
        r = Reader(self.payload)
        mechanism = r.cstring()
        data = r.value()
        r.done()
        return mechanism, data

    def sasl_response(self) -> bytes:
        """Read the payload as a SASLResponse or GSSResponse: the data itself."""
        return self.payload


# -- simple and extended query ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    """``Q``: a simple-protocol query string (possibly several statements)."""

    sql: str


@dataclass(frozen=True, slots=True)
class Parse:
    """``P``: prepare ``query`` as statement ``name`` ("" is the unnamed statement)."""

    name: str
    query: str
    param_types: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Bind:
    """``B``: bind parameter values to ``statement``, making ``portal``."""

    portal: str
    statement: str
    param_formats: tuple[int, ...] = ()
    params: tuple[bytes | None, ...] = ()
    result_formats: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Describe:
    """``D``: describe a statement (``S``) or a portal (``P``)."""

    kind: TargetKind
    name: str


@dataclass(frozen=True, slots=True)
class Execute:
    """``E``: run ``portal``; ``max_rows`` 0 means all rows."""

    portal: str
    max_rows: int = 0


@dataclass(frozen=True, slots=True)
class Close:
    """``C``: close a statement (``S``) or a portal (``P``)."""

    kind: TargetKind
    name: str


@dataclass(frozen=True, slots=True)
class Sync:
    """``S``: end of an extended-query batch; the server answers ReadyForQuery."""


@dataclass(frozen=True, slots=True)
class Flush:
    """``H``: ask the server to send what it has buffered."""


@dataclass(frozen=True, slots=True)
class Terminate:
    """``X``: the client is closing the session."""


@dataclass(frozen=True, slots=True)
class CopyFail:
    """``f``: the client aborts COPY FROM STDIN with this message."""

    message: str


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """``F``: the legacy fast-path function call."""

    function_oid: int
    arg_formats: tuple[int, ...] = ()
    args: tuple[bytes | None, ...] = ()
    result_format: int = 0


FrontendMessage = (
    StartupMessage
    | SSLRequest
    | GSSENCRequest
    | CancelRequest
    | AuthenticationResponse
    | Query
    | Parse
    | Bind
    | Describe
    | Execute
    | Close
    | Sync
    | Flush
    | Terminate
    | CopyData
    | CopyDone
    | CopyFail
    | FunctionCall
)

BackendMessage = (
    SSLResponse
    | GSSENCResponse
    | AuthenticationOk
    | AuthenticationCleartextPassword
    | AuthenticationMD5Password
    | AuthenticationSASL
    | AuthenticationSASLContinue
    | AuthenticationSASLFinal
    | AuthenticationOther
    | BackendKeyData
    | BindComplete
    | CloseComplete
    | CommandComplete
    | CopyInResponse
    | CopyOutResponse
    | CopyBothResponse
    | CopyData
    | CopyDone
    | DataRow
    | EmptyQueryResponse
    | ErrorResponse
    | NoticeResponse
    | FunctionCallResponse
    | NegotiateProtocolVersion
    | NoData
    | NotificationResponse
    | ParameterDescription
    | ParameterStatus
    | ParseComplete
    | PortalSuspended
    | ReadyForQuery
    | RowDescription
)

Message = FrontendMessage | BackendMessage
