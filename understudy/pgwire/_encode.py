"""Encoders: one function per message class, gathered in one table for both directions."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

from understudy.errors import PgProtocolError
from understudy.pgwire._wire import (
    FIELD,
    I16,
    I32,
    U32,
    check_cancel_key,
    count16,
    cstring,
    encode_values,
    frame,
)
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
from understudy.pgwire.codes import (
    CANCEL_REQUEST_CODE,
    GSSENC_REQUEST_CODE,
    SSL_REQUEST_CODE,
    AuthType,
    BackendCode,
    FrontendCode,
    TransactionStatus,
)
from understudy.pgwire.messages import (
    AuthenticationResponse,
    Bind,
    CancelRequest,
    Close,
    CopyData,
    CopyDone,
    CopyFail,
    Describe,
    Execute,
    Flush,
    FunctionCall,
    GSSENCRequest,
    Parse,
    Query,
    SSLRequest,
    StartupMessage,
    Sync,
    Terminate,
)

__all__ = ["ENCODERS"]

#: Message class -> function returning its complete wire bytes.
ENCODERS: dict[type[Any], Callable[[Any], bytes]] = {}

_I8 = struct.Struct("!b")
_TARGETS = {"S": b"S", "P": b"P"}
_STATUSES = {s.value: s.value for s in TransactionStatus}
_SPECIFIC_AUTH = frozenset(
    {AuthType.OK, AuthType.CLEARTEXT_PASSWORD, AuthType.MD5_PASSWORD}
    | {AuthType.SASL, AuthType.SASL_CONTINUE, AuthType.SASL_FINAL}
)

_EMPTY = {
    CopyDone: FrontendCode.COPY_DONE,
    Flush: FrontendCode.FLUSH,
    Sync: FrontendCode.SYNC,
    Terminate: FrontendCode.TERMINATE,
    BindComplete: BackendCode.BIND_COMPLETE,
    CloseComplete: BackendCode.CLOSE_COMPLETE,
    EmptyQueryResponse: BackendCode.EMPTY_QUERY_RESPONSE,
    NoData: BackendCode.NO_DATA,
    ParseComplete: BackendCode.PARSE_COMPLETE,
    PortalSuspended: BackendCode.PORTAL_SUSPENDED,
}


def _encodes[M](cls: type[M]) -> Callable[[Callable[[M], bytes]], Callable[[M], bytes]]:
    def register(fn: Callable[[M], bytes]) -> Callable[[M], bytes]:
        ENCODERS[cls] = fn
        return fn

    return register


def _constant(data: bytes) -> Callable[[object], bytes]:
    return lambda _message: data


for _cls, _code in _EMPTY.items():
    ENCODERS[_cls] = _constant(frame(_code, b""))


def _int16s(items: tuple[int, ...]) -> bytes:
    return count16(len(items)) + b"".join(I16.pack(i) for i in items)


def _oids(items: tuple[int, ...]) -> bytes:
    return count16(len(items)) + b"".join(U32.pack(i) for i in items)


def _untyped(body: bytes) -> bytes:
    return I32.pack(len(body) + 4) + body


def _target(kind: str) -> bytes:
    try:
        return _TARGETS[kind]
    except KeyError:
        raise PgProtocolError(f"invalid Describe/Close kind {kind!r}: use 'S' or 'P'") from None


# -- frontend ---------------------------------------------------------------------------------


@_encodes(StartupMessage)
def _startup(m: StartupMessage) -> bytes:
    if "" in m.parameters:
        raise PgProtocolError("a startup parameter needs a non-empty name")
    pairs = b"".join(cstring(k) + cstring(v) for k, v in m.parameters.items())
    return _untyped(U32.pack(m.protocol_version) + pairs + b"\0")


ENCODERS[SSLRequest] = _constant(_untyped(U32.pack(SSL_REQUEST_CODE)))
ENCODERS[GSSENCRequest] = _constant(_untyped(U32.pack(GSSENC_REQUEST_CODE)))


@_encodes(CancelRequest)
def _cancel(m: CancelRequest) -> bytes:
    key = check_cancel_key(m.secret_key)
    return _untyped(U32.pack(CANCEL_REQUEST_CODE) + I32.pack(m.process_id) + key)


@_encodes(AuthenticationResponse)
def _auth_response(m: AuthenticationResponse) -> bytes:
    return frame(FrontendCode.AUTHENTICATION_RESPONSE, m.payload)


@_encodes(Query)
def _query(m: Query) -> bytes:
    return frame(FrontendCode.QUERY, cstring(m.sql))


@_encodes(Parse)
def _parse(m: Parse) -> bytes:
    return frame(FrontendCode.PARSE, cstring(m.name) + cstring(m.query) + _oids(m.param_types))


@_encodes(Bind)
def _bind(m: Bind) -> bytes:
    head = cstring(m.portal) + cstring(m.statement) + _int16s(m.param_formats)
    params = b"".join(encode_values(m.params))
    tail = _int16s(m.result_formats)
    return frame(FrontendCode.BIND, head + count16(len(m.params)) + params + tail)


@_encodes(Describe)
def _describe(m: Describe) -> bytes:
    return frame(FrontendCode.DESCRIBE, _target(m.kind) + cstring(m.name))


@_encodes(Close)
def _close(m: Close) -> bytes:
    return frame(FrontendCode.CLOSE, _target(m.kind) + cstring(m.name))


@_encodes(Execute)
def _execute(m: Execute) -> bytes:
    return frame(FrontendCode.EXECUTE, cstring(m.portal) + I32.pack(m.max_rows))


@_encodes(CopyData)
def _copy_data(m: CopyData) -> bytes:
    return frame(FrontendCode.COPY_DATA, m.data)


@_encodes(CopyFail)
def _copy_fail(m: CopyFail) -> bytes:
    return frame(FrontendCode.COPY_FAIL, cstring(m.message))


@_encodes(FunctionCall)
def _function_call(m: FunctionCall) -> bytes:
    args = count16(len(m.args)) + b"".join(encode_values(m.args))
    body = U32.pack(m.function_oid) + _int16s(m.arg_formats) + args + I16.pack(m.result_format)
    return frame(FrontendCode.FUNCTION_CALL, body)


# -- backend ----------------------------------------------------------------------------------


@_encodes(SSLResponse)
def _ssl_response(m: SSLResponse) -> bytes:
    return b"S" if m.accepted else b"N"


@_encodes(GSSENCResponse)
def _gssenc_response(m: GSSENCResponse) -> bytes:
    return b"G" if m.accepted else b"N"


def _auth(auth_type: int, body: bytes = b"") -> bytes:
    return frame(BackendCode.AUTHENTICATION, I32.pack(auth_type) + body)


ENCODERS[AuthenticationOk] = _constant(_auth(AuthType.OK))
ENCODERS[AuthenticationCleartextPassword] = _constant(_auth(AuthType.CLEARTEXT_PASSWORD))


@_encodes(AuthenticationMD5Password)
def _md5(m: AuthenticationMD5Password) -> bytes:
    if len(m.salt) != 4:
        raise PgProtocolError(f"an MD5 salt is 4 bytes, not {len(m.salt)}")
    return _auth(AuthType.MD5_PASSWORD, m.salt)


@_encodes(AuthenticationSASL)
def _sasl(m: AuthenticationSASL) -> bytes:
    if not all(m.mechanisms):
        raise PgProtocolError("a SASL mechanism name cannot be empty")
    return _auth(AuthType.SASL, b"".join(cstring(n) for n in m.mechanisms) + b"\0")


@_encodes(AuthenticationSASLContinue)
def _sasl_continue(m: AuthenticationSASLContinue) -> bytes:
    return _auth(AuthType.SASL_CONTINUE, m.data)


@_encodes(AuthenticationSASLFinal)
def _sasl_final(m: AuthenticationSASLFinal) -> bytes:
    return _auth(AuthType.SASL_FINAL, m.data)


@_encodes(AuthenticationOther)
def _auth_other(m: AuthenticationOther) -> bytes:
    if m.auth_type in _SPECIFIC_AUTH:
        raise PgProtocolError(f"authentication type {m.auth_type} has its own message class")
    return _auth(m.auth_type, m.data)


@_encodes(BackendKeyData)
def _backend_key_data(m: BackendKeyData) -> bytes:
    key = check_cancel_key(m.secret_key)
    return frame(BackendCode.BACKEND_KEY_DATA, I32.pack(m.process_id) + key)


@_encodes(CommandComplete)
def _command_complete(m: CommandComplete) -> bytes:
    return frame(BackendCode.COMMAND_COMPLETE, cstring(m.tag))


def _copy_response(code: bytes) -> Callable[[Any], bytes]:
    def encode(m: CopyInResponse | CopyOutResponse | CopyBothResponse) -> bytes:
        return frame(code, _I8.pack(m.format) + _int16s(m.column_formats))

    return encode


ENCODERS[CopyInResponse] = _copy_response(BackendCode.COPY_IN_RESPONSE)
ENCODERS[CopyOutResponse] = _copy_response(BackendCode.COPY_OUT_RESPONSE)
ENCODERS[CopyBothResponse] = _copy_response(BackendCode.COPY_BOTH_RESPONSE)


@_encodes(DataRow)
def _data_row(m: DataRow) -> bytes:
    return frame(BackendCode.DATA_ROW, count16(len(m.values)) + b"".join(encode_values(m.values)))


def _notice_fields(fields: dict[str, str]) -> bytes:
    parts: list[bytes] = []
    for code, value in fields.items():
        if len(code) != 1 or not "\x01" <= code <= "\xff":
            raise PgProtocolError(f"invalid error field code {code!r}: one character, not NUL")
        parts.append(code.encode("latin-1"))
        parts.append(cstring(value))
    parts.append(b"\0")
    return b"".join(parts)


@_encodes(ErrorResponse)
def _error(m: ErrorResponse) -> bytes:
    return frame(BackendCode.ERROR_RESPONSE, _notice_fields(m.fields))


@_encodes(NoticeResponse)
def _notice(m: NoticeResponse) -> bytes:
    return frame(BackendCode.NOTICE_RESPONSE, _notice_fields(m.fields))


@_encodes(FunctionCallResponse)
def _function_call_response(m: FunctionCallResponse) -> bytes:
    return frame(BackendCode.FUNCTION_CALL_RESPONSE, b"".join(encode_values((m.value,))))


@_encodes(NegotiateProtocolVersion)
def _negotiate(m: NegotiateProtocolVersion) -> bytes:
    names = b"".join(cstring(n) for n in m.unrecognized)
    body = I32.pack(m.newest_minor) + I32.pack(len(m.unrecognized)) + names
    return frame(BackendCode.NEGOTIATE_PROTOCOL_VERSION, body)


@_encodes(NotificationResponse)
def _notification(m: NotificationResponse) -> bytes:
    body = I32.pack(m.process_id) + cstring(m.channel) + cstring(m.payload)
    return frame(BackendCode.NOTIFICATION_RESPONSE, body)


@_encodes(ParameterDescription)
def _parameter_description(m: ParameterDescription) -> bytes:
    return frame(BackendCode.PARAMETER_DESCRIPTION, _oids(m.type_oids))


@_encodes(ParameterStatus)
def _parameter_status(m: ParameterStatus) -> bytes:
    return frame(BackendCode.PARAMETER_STATUS, cstring(m.name) + cstring(m.value))


@_encodes(ReadyForQuery)
def _ready_for_query(m: ReadyForQuery) -> bytes:
    status = _STATUSES.get(m.status)
    if status is None:
        raise PgProtocolError(f"invalid ReadyForQuery status {m.status!r}: use b'I', b'T', b'E'")
    return frame(BackendCode.READY_FOR_QUERY, status)


@_encodes(RowDescription)
def _row_description(m: RowDescription) -> bytes:
    parts = [count16(len(m.fields))]
    for f in m.fields:
        parts.append(cstring(f.name))
        parts.append(
            FIELD.pack(
                f.table_oid, f.column_attr, f.type_oid, f.type_size, f.type_modifier, f.format_code
            )
        )
    return frame(BackendCode.ROW_DESCRIPTION, b"".join(parts))
