"""A sans-IO codec for the PostgreSQL frontend/backend protocol v3, for both directions.

Layers, each usable alone:

- :class:`Framer` splits a byte stream into :class:`Frame` ``(code, payload)`` without
  decoding anything (``framing.py``);
- :func:`decode_frontend` / :func:`decode_backend` turn one frame into a message through a
  table of decoders, :func:`encode` turns any message back into bytes (``codec.py``);
- :class:`FrontendParser` (what a client sends) and :class:`BackendParser` (what a server
  sends) combine the two and know the startup phase (``parser.py``);
- messages are frozen dataclasses (``messages.py``, ``backend.py``), codes are enums
  (``codes.py``), value conversions live in ``types.py`` and SQLSTATEs in ``sqlstate.py``.

Malformed input raises :class:`understudy.errors.PgProtocolError` and nothing else.
Strings are UTF-8 decoded with ``surrogateescape``, so no byte is ever lost.

Example::

    >>> from understudy.pgwire import BackendParser, encode_all, DataRow, ReadyForQuery
    >>> BackendParser().feed(encode_all([DataRow((b"1", None)), ReadyForQuery()]))
    [DataRow(values=(b'1', None)), ReadyForQuery(status=<TransactionStatus.IDLE: b'I'>)]
"""

from __future__ import annotations

from understudy.pgwire._wire import has_undecodable
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
    FieldDescription,
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
from understudy.pgwire.codec import decode_backend, decode_frontend, encode, encode_all
from understudy.pgwire.codes import (
    CANCEL_REQUEST_CODE,
    GSSENC_REQUEST_CODE,
    MAX_FRAME,
    MAX_STARTUP_PACKET,
    PROTOCOL_3_0,
    PROTOCOL_3_2,
    SSL_REQUEST_CODE,
    AuthType,
    BackendCode,
    FormatCode,
    FrontendCode,
    PseudoCode,
    TargetKind,
    TransactionStatus,
)
from understudy.pgwire.framing import Frame, Framer
from understudy.pgwire.messages import (
    AuthenticationResponse,
    BackendMessage,
    Bind,
    CancelRequest,
    Close,
    CopyData,
    CopyDone,
    CopyFail,
    Describe,
    Execute,
    Flush,
    FrontendMessage,
    FunctionCall,
    GSSENCRequest,
    Message,
    Parse,
    Query,
    SSLRequest,
    StartupMessage,
    Sync,
    Terminate,
)
from understudy.pgwire.parser import BackendParser, FrontendParser
from understudy.pgwire.sqlstate import ERROR_FIELDS, SqlState, error_response, notice_response
from understudy.pgwire.types import (
    Oid,
    binary_to_text,
    text_to_binary,
    text_to_value,
    value_to_text,
)

__all__ = [
    "CANCEL_REQUEST_CODE",
    "ERROR_FIELDS",
    "GSSENC_REQUEST_CODE",
    "MAX_FRAME",
    "MAX_STARTUP_PACKET",
    "PROTOCOL_3_0",
    "PROTOCOL_3_2",
    "SSL_REQUEST_CODE",
    "AuthType",
    "AuthenticationCleartextPassword",
    "AuthenticationMD5Password",
    "AuthenticationOk",
    "AuthenticationOther",
    "AuthenticationResponse",
    "AuthenticationSASL",
    "AuthenticationSASLContinue",
    "AuthenticationSASLFinal",
    "BackendCode",
    "BackendKeyData",
    "BackendMessage",
    "BackendParser",
    "Bind",
    "BindComplete",
    "CancelRequest",
    "Close",
    "CloseComplete",
    "CommandComplete",
    "CopyBothResponse",
    "CopyData",
    "CopyDone",
    "CopyFail",
    "CopyInResponse",
    "CopyOutResponse",
    "DataRow",
    "Describe",
    "EmptyQueryResponse",
    "ErrorResponse",
    "Execute",
    "FieldDescription",
    "Flush",
    "FormatCode",
    "Frame",
    "Framer",
    "FrontendCode",
    "FrontendMessage",
    "FrontendParser",
    "FunctionCall",
    "FunctionCallResponse",
    "GSSENCRequest",
    "GSSENCResponse",
    "Message",
    "NegotiateProtocolVersion",
    "NoData",
    "NoticeResponse",
    "NotificationResponse",
    "Oid",
    "ParameterDescription",
    "ParameterStatus",
    "Parse",
    "ParseComplete",
    "PortalSuspended",
    "PseudoCode",
    "Query",
    "ReadyForQuery",
    "RowDescription",
    "SSLRequest",
    "SSLResponse",
    "SqlState",
    "StartupMessage",
    "Sync",
    "TargetKind",
    "Terminate",
    "TransactionStatus",
    "binary_to_text",
    "decode_backend",
    "decode_frontend",
    "encode",
    "encode_all",
    "error_response",
    "has_undecodable",
    "notice_response",
    "text_to_binary",
    "text_to_value",
    "value_to_text",
]
