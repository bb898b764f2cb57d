"""Decoders: one function per message code, gathered in one table per direction.

Every decoder takes a complete payload (the bytes after the length field) and returns a
message or raises :class:`PgProtocolError`; :mod:`understudy.pgwire.codec` turns any stray
low-level exception into one as well. Payloads must be consumed exactly: trailing bytes are
an error, as they are for PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Callable

from understudy.errors import PgProtocolError
from understudy.pgwire._wire import FIELD, Reader, check_cancel_key
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
from understudy.pgwire.codes import (
    CANCEL_REQUEST_CODE,
    GSSENC_REQUEST_CODE,
    SSL_REQUEST_CODE,
    AuthType,
    BackendCode,
    FrontendCode,
    PseudoCode,
    TargetKind,
    TransactionStatus,
)
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
    Parse,
    Query,
    SSLRequest,
    StartupMessage,
    Sync,
    Terminate,
)

__all__ = ["BACKEND_DECODERS", "FRONTEND_DECODERS"]

_TARGETS = {b"S": TargetKind.STATEMENT, b"P": TargetKind.PORTAL}
_STATUSES = {s.value: s for s in TransactionStatus}


def _empty[M](message: M) -> Callable[[bytes], M]:
    """Decoder of a message without contents; the one instance is shared."""

    def decode(payload: bytes) -> M:
        if payload:
            raise PgProtocolError(f"{len(payload)} unexpected bytes in an empty message")
        return message

    return decode


def _string(payload: bytes) -> str:
    r = Reader(payload)
    out = r.cstring()
    r.done()
    return out


def _target(r: Reader) -> TargetKind:
    byte = r.byte()
    kind = _TARGETS.get(byte)
    if kind is None:
        raise PgProtocolError(f"invalid Describe/Close target {byte!r}: expected b'S' or b'P'")
    return kind


# -- frontend ---------------------------------------------------------------------------------


def _startup(payload: bytes) -> FrontendMessage:
    r = Reader(payload)
    code = r.uint32()
    if code == CANCEL_REQUEST_CODE:
        return CancelRequest(r.int32(), check_cancel_key(r.rest()))
    if code in (SSL_REQUEST_CODE, GSSENC_REQUEST_CODE):
        r.done()
        return SSLRequest() if code == SSL_REQUEST_CODE else GSSENCRequest()
    if code >> 16 != 3:
        raise PgProtocolError(f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}")
    parameters: dict[str, str] = {}
    while name := r.cstring():
        parameters[name] = r.cstring()
    r.done()
    return StartupMessage(parameters, code)


def _parse(payload: bytes) -> Parse:
    r = Reader(payload)
    out = Parse(r.cstring(), r.cstring(), r.uint32s())
    r.done()
    return out


def _bind(payload: bytes) -> Bind:
    r = Reader(payload)
    out = Bind(r.cstring(), r.cstring(), r.int16s(), r.values(), r.int16s())
    r.done()
    return out


def _describe(payload: bytes) -> Describe:
    r = Reader(payload)
    out = Describe(_target(r), r.cstring())
    r.done()
    return out


def _close(payload: bytes) -> Close:
    r = Reader(payload)
    out = Close(_target(r), r.cstring())
    r.done()
    return out


def _execute(payload: bytes) -> Execute:
    r = Reader(payload)
    out = Execute(r.cstring(), r.int32())
    r.done()
    return out


def _function_call(payload: bytes) -> FunctionCall:
    r = Reader(payload)
    out = FunctionCall(r.uint32(), r.int16s(), r.values(), r.int16())
    r.done()
    return out


FRONTEND_DECODERS: dict[bytes, Callable[[bytes], FrontendMessage]] = {
    PseudoCode.STARTUP: _startup,
    FrontendCode.BIND: _bind,
    FrontendCode.CLOSE: _close,
    FrontendCode.COPY_DATA: CopyData,
    FrontendCode.COPY_DONE: _empty(CopyDone()),
    FrontendCode.COPY_FAIL: lambda p: CopyFail(_string(p)),
    FrontendCode.DESCRIBE: _describe,
    FrontendCode.EXECUTE: _execute,
    FrontendCode.FLUSH: _empty(Flush()),
    FrontendCode.FUNCTION_CALL: _function_call,
    FrontendCode.PARSE: _parse,
    FrontendCode.AUTHENTICATION_RESPONSE: AuthenticationResponse,
    FrontendCode.QUERY: lambda p: Query(_string(p)),
    FrontendCode.SYNC: _empty(Sync()),
    FrontendCode.TERMINATE: _empty(Terminate()),
}


# -- backend ----------------------------------------------------------------------------------


def _encryption_answer(
    accept: bytes, cls: type[SSLResponse | GSSENCResponse]
) -> Callable[[bytes], BackendMessage]:
    def decode(payload: bytes) -> BackendMessage:
        if payload not in (accept, b"N"):
            raise PgProtocolError(f"invalid answer {payload!r}: expected {accept!r} or b'N'")
        return cls(payload == accept)

    return decode


def _sasl(r: Reader) -> AuthenticationSASL:
    mechanisms: list[str] = []
    while name := r.cstring():
        mechanisms.append(name)
    return AuthenticationSASL(tuple(mechanisms))


_AUTH: dict[int, Callable[[Reader], BackendMessage]] = {
    AuthType.OK: lambda r: AuthenticationOk(),
    AuthType.CLEARTEXT_PASSWORD: lambda r: AuthenticationCleartextPassword(),
    AuthType.MD5_PASSWORD: lambda r: AuthenticationMD5Password(r.take(4)),
    AuthType.SASL: _sasl,
    AuthType.SASL_CONTINUE: lambda r: AuthenticationSASLContinue(r.rest()),
    AuthType.SASL_FINAL: lambda r: AuthenticationSASLFinal(r.rest()),
}


def _authentication(payload: bytes) -> BackendMessage:
    r = Reader(payload)
    auth_type = r.int32()
    specific = _AUTH.get(auth_type)
    out = AuthenticationOther(auth_type, r.rest()) if specific is None else specific(r)
    r.done()
    return out


def _backend_key_data(payload: bytes) -> BackendKeyData:
    r = Reader(payload)
    return BackendKeyData(r.int32(), check_cancel_key(r.rest()))


def _copy_response[C: (CopyInResponse, CopyOutResponse, CopyBothResponse)](
    cls: type[C],
) -> Callable[[bytes], C]:
    def decode(payload: bytes) -> C:
        r = Reader(payload)
        out = cls(r.int8(), r.int16s())
        r.done()
        return out

    return decode


def _data_row(payload: bytes) -> DataRow:
    r = Reader(payload)
    out = DataRow(r.values())
    r.done()
    return out


def _notice_fields(payload: bytes) -> dict[str, str]:
    r = Reader(payload)
    fields: dict[str, str] = {}
    while (code := r.byte()) != b"\0":
        fields[code.decode("latin-1")] = r.cstring()
    r.done()
    return fields


def _negotiate(payload: bytes) -> NegotiateProtocolVersion:
    r = Reader(payload)
    newest, count = r.int32(), r.int32()
    if count < 0:
        raise PgProtocolError(f"negative option count {count} in NegotiateProtocolVersion")
    names = []
    for _ in range(count):
        names.append(r.cstring())
    r.done()
    return NegotiateProtocolVersion(newest, tuple(names))


def _notification(payload: bytes) -> NotificationResponse:
    r = Reader(payload)
    out = NotificationResponse(r.int32(), r.cstring(), r.cstring())
    r.done()
    return out


def _parameter_status(payload: bytes) -> ParameterStatus:
    r = Reader(payload)
    out = ParameterStatus(r.cstring(), r.cstring())
    r.done()
    return out


def _parameter_description(payload: bytes) -> ParameterDescription:
    r = Reader(payload)
    out = ParameterDescription(r.uint32s())
    r.done()
    return out


def _ready_for_query(payload: bytes) -> ReadyForQuery:
    status = _STATUSES.get(payload)
    if status is None:
        raise PgProtocolError(f"invalid ReadyForQuery status {payload!r}")
    return ReadyForQuery(status)


def _row_description(payload: bytes) -> RowDescription:
    r = Reader(payload)
    fields = []
    for _ in range(r.uint16()):
        name = r.cstring()
        fields.append(FieldDescription(name, *r.unpack(FIELD)))
    r.done()
    return RowDescription(tuple(fields))


def _function_call_response(payload: bytes) -> FunctionCallResponse:
    r = Reader(payload)
    out = FunctionCallResponse(r.value())
    r.done()
    return out


BACKEND_DECODERS: dict[bytes, Callable[[bytes], BackendMessage]] = {
    PseudoCode.SSL_RESPONSE: _encryption_answer(b"S", SSLResponse),
    PseudoCode.GSSENC_RESPONSE: _encryption_answer(b"G", GSSENCResponse),
    BackendCode.AUTHENTICATION: _authentication,
    BackendCode.BACKEND_KEY_DATA: _backend_key_data,
    BackendCode.BIND_COMPLETE: _empty(BindComplete()),
    BackendCode.CLOSE_COMPLETE: _empty(CloseComplete()),
    BackendCode.COMMAND_COMPLETE: lambda p: CommandComplete(_string(p)),
    BackendCode.COPY_BOTH_RESPONSE: _copy_response(CopyBothResponse),
    BackendCode.COPY_DATA: CopyData,
    BackendCode.COPY_DONE: _empty(CopyDone()),
    BackendCode.COPY_IN_RESPONSE: _copy_response(CopyInResponse),
    BackendCode.COPY_OUT_RESPONSE: _copy_response(CopyOutResponse),
    BackendCode.DATA_ROW: _data_row,
    BackendCode.EMPTY_QUERY_RESPONSE: _empty(EmptyQueryResponse()),
    BackendCode.ERROR_RESPONSE: lambda p: ErrorResponse(_notice_fields(p)),
    BackendCode.FUNCTION_CALL_RESPONSE: _function_call_response,
    BackendCode.NEGOTIATE_PROTOCOL_VERSION: _negotiate,
    BackendCode.NO_DATA: _empty(NoData()),
    BackendCode.NOTICE_RESPONSE: lambda p: NoticeResponse(_notice_fields(p)),
    BackendCode.NOTIFICATION_RESPONSE: _notification,
    BackendCode.PARAMETER_DESCRIPTION: _parameter_description,
    BackendCode.PARAMETER_STATUS: _parameter_status,
    BackendCode.PARSE_COMPLETE: _empty(ParseComplete()),
    BackendCode.PORTAL_SUSPENDED: _empty(PortalSuspended()),
    BackendCode.READY_FOR_QUERY: _ready_for_query,
    BackendCode.ROW_DESCRIPTION: _row_description,
}
