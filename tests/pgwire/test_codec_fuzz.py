"""Hypothesis: every message survives encode -> decode, and no input makes a parser raise
anything but PgProtocolError (or lose a message that was complete)."""

from __future__ import annotations

import itertools
import typing

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from understudy.errors import PgProtocolError
from understudy.pgwire import (
    PROTOCOL_3_0,
    AuthenticationCleartextPassword,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationOther,
    AuthenticationResponse,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    AuthType,
    BackendCode,
    BackendKeyData,
    BackendMessage,
    BackendParser,
    Bind,
    BindComplete,
    CancelRequest,
    Close,
    CloseComplete,
    CommandComplete,
    CopyBothResponse,
    CopyData,
    CopyDone,
    CopyFail,
    CopyInResponse,
    CopyOutResponse,
    DataRow,
    Describe,
    EmptyQueryResponse,
    ErrorResponse,
    Execute,
    FieldDescription,
    Flush,
    Framer,
    FrontendCode,
    FrontendMessage,
    FrontendParser,
    FunctionCall,
    FunctionCallResponse,
    GSSENCRequest,
    GSSENCResponse,
    NegotiateProtocolVersion,
    NoData,
    NoticeResponse,
    NotificationResponse,
    ParameterDescription,
    ParameterStatus,
    Parse,
    ParseComplete,
    PortalSuspended,
    PseudoCode,
    Query,
    ReadyForQuery,
    RowDescription,
    SSLRequest,
    SSLResponse,
    StartupMessage,
    Sync,
    TargetKind,
    Terminate,
    TransactionStatus,
    decode_backend,
    decode_frontend,
    encode,
    encode_all,
)

FAST = settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
SLOW = settings(FAST, max_examples=40)

# -- strategies -------------------------------------------------------------------------------

text = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=12)
name = text.filter(bool)
raw = st.binary(max_size=24)
value = st.none() | raw
int16 = st.integers(-(2**15), 2**15 - 1)
int32 = st.integers(-(2**31), 2**31 - 1)
uint32 = st.integers(0, 2**32 - 1)
cancel_key = st.binary(min_size=4, max_size=256)


def few[T](s: st.SearchStrategy[T], max_size: int = 4) -> st.SearchStrategy[tuple[T, ...]]:
    return st.lists(s, max_size=max_size).map(tuple)


UNTYPED_FRONTEND: dict[type, st.SearchStrategy[typing.Any]] = {
    StartupMessage: st.builds(
        StartupMessage,
        st.dictionaries(name, text, max_size=4),
        st.integers(0, 0xFFFF).map(lambda minor: PROTOCOL_3_0 | minor),
    ),
    SSLRequest: st.just(SSLRequest()),
    GSSENCRequest: st.just(GSSENCRequest()),
    CancelRequest: st.builds(CancelRequest, int32, cancel_key),
}
TYPED_FRONTEND: dict[type, st.SearchStrategy[typing.Any]] = {
    AuthenticationResponse: st.builds(AuthenticationResponse, raw),
    Query: st.builds(Query, text),
    Parse: st.builds(Parse, text, text, few(uint32)),
    Bind: st.builds(Bind, text, text, few(int16), few(value), few(int16)),
    Describe: st.builds(Describe, st.sampled_from(TargetKind), text),
    Execute: st.builds(Execute, text, int32),
    Close: st.builds(Close, st.sampled_from(TargetKind), text),
    Sync: st.just(Sync()),
    Flush: st.just(Flush()),
    Terminate: st.just(Terminate()),
    CopyData: st.builds(CopyData, raw),
    CopyDone: st.just(CopyDone()),
    CopyFail: st.builds(CopyFail, text),
    FunctionCall: st.builds(FunctionCall, uint32, few(int16), few(value), int16),
}
UNTYPED_BACKEND: dict[type, st.SearchStrategy[typing.Any]] = {
    SSLResponse: st.builds(SSLResponse, st.booleans()),
    GSSENCResponse: st.builds(GSSENCResponse, st.booleans()),
}
_SPECIFIC_AUTH = {
    AuthType.OK,
    AuthType.CLEARTEXT_PASSWORD,
    AuthType.MD5_PASSWORD,
    AuthType.SASL,
    AuthType.SASL_CONTINUE,
    AuthType.SASL_FINAL,
}
notice_fields = st.dictionaries(st.characters(min_codepoint=1, max_codepoint=255), text, max_size=6)
TYPED_BACKEND: dict[type, st.SearchStrategy[typing.Any]] = {
    AuthenticationOk: st.just(AuthenticationOk()),
    AuthenticationCleartextPassword: st.just(AuthenticationCleartextPassword()),
    AuthenticationMD5Password: st.builds(
        AuthenticationMD5Password, st.binary(min_size=4, max_size=4)
    ),
    AuthenticationSASL: st.builds(AuthenticationSASL, few(name)),
    AuthenticationSASLContinue: st.builds(AuthenticationSASLContinue, raw),
    AuthenticationSASLFinal: st.builds(AuthenticationSASLFinal, raw),
    AuthenticationOther: st.builds(
        AuthenticationOther, int32.filter(lambda t: t not in _SPECIFIC_AUTH), raw
    ),
    BackendKeyData: st.builds(BackendKeyData, int32, cancel_key),
    BindComplete: st.just(BindComplete()),
    CloseComplete: st.just(CloseComplete()),
    CommandComplete: st.builds(CommandComplete, text),
    CopyInResponse: st.builds(CopyInResponse, st.integers(-128, 127), few(int16)),
    CopyOutResponse: st.builds(CopyOutResponse, st.integers(-128, 127), few(int16)),
    CopyBothResponse: st.builds(CopyBothResponse, st.integers(-128, 127), few(int16)),
    CopyData: st.builds(CopyData, raw),
    CopyDone: st.just(CopyDone()),
    DataRow: st.builds(DataRow, few(value, 8)),
    EmptyQueryResponse: st.just(EmptyQueryResponse()),
    ErrorResponse: st.builds(ErrorResponse, notice_fields),
    NoticeResponse: st.builds(NoticeResponse, notice_fields),
    FunctionCallResponse: st.builds(FunctionCallResponse, value),
    NegotiateProtocolVersion: st.builds(NegotiateProtocolVersion, int32, few(text)),
    NoData: st.just(NoData()),
    NotificationResponse: st.builds(NotificationResponse, int32, text, text),
    ParameterDescription: st.builds(ParameterDescription, few(uint32)),
    ParameterStatus: st.builds(ParameterStatus, text, text),
    ParseComplete: st.just(ParseComplete()),
    PortalSuspended: st.just(PortalSuspended()),
    ReadyForQuery: st.builds(ReadyForQuery, st.sampled_from(TransactionStatus)),
    RowDescription: st.builds(
        RowDescription,
        few(st.builds(FieldDescription, text, uint32, int16, uint32, int16, int32, int16)),
    ),
}

typed_frontend = st.one_of(*TYPED_FRONTEND.values())
typed_backend = st.one_of(*TYPED_BACKEND.values())


@st.composite
def client_session(draw: st.DrawFn) -> list[FrontendMessage]:
    """What a client sends: maybe SSL/GSSENC requests, a StartupMessage, then messages."""
    requests = draw(st.lists(st.sampled_from([SSLRequest(), GSSENCRequest()]), max_size=2))
    startup = draw(UNTYPED_FRONTEND[StartupMessage])
    return [*requests, startup, *draw(st.lists(typed_frontend, max_size=12))]


server_session = st.lists(typed_backend, max_size=12)


def ends(messages: list[typing.Any]) -> list[int]:
    """Offset in the stream just after each message."""
    return list(itertools.accumulate(len(encode(m)) for m in messages))


def feed_or_protocol_error(parser: FrontendParser | BackendParser, data: bytes) -> list:
    try:
        return parser.feed(data)
    except PgProtocolError:
        return []


# -- coverage of the strategies ---------------------------------------------------------------


def test_every_message_class_has_a_strategy() -> None:
    assert set(UNTYPED_FRONTEND) | set(TYPED_FRONTEND) == set(typing.get_args(FrontendMessage))
    assert set(UNTYPED_BACKEND) | set(TYPED_BACKEND) == set(typing.get_args(BackendMessage))


# -- round trips ------------------------------------------------------------------------------


@FAST
@given(st.one_of(*UNTYPED_FRONTEND.values(), *TYPED_FRONTEND.values()))
def test_frontend_round_trip(message: FrontendMessage) -> None:
    wire = encode(message)
    untyped = type(message) in UNTYPED_FRONTEND
    assert FrontendParser(startup=untyped).feed(wire) == [message]
    code, payload = (PseudoCode.STARTUP, wire[4:]) if untyped else (wire[:1], wire[5:])
    assert decode_frontend(code, payload) == message
    assert encode(decode_frontend(code, payload)) == wire


@FAST
@given(st.one_of(*UNTYPED_BACKEND.values(), *TYPED_BACKEND.values()))
def test_backend_round_trip(message: BackendMessage) -> None:
    wire = encode(message)
    parser = BackendParser()
    if isinstance(message, SSLResponse):
        parser.expect_ssl_response()
        code = PseudoCode.SSL_RESPONSE
    elif isinstance(message, GSSENCResponse):
        parser.expect_gssenc_response()
        code = PseudoCode.GSSENC_RESPONSE
    else:
        code = wire[:1]
    assert parser.feed(wire) == [message]
    assert decode_backend(code, wire if len(code) > 1 else wire[5:]) == message


@FAST
@given(st.binary(max_size=64).map(lambda b: b.decode("utf-8", "surrogateescape")))
def test_any_bytes_in_a_string_round_trip(sql: str) -> None:
    if "\x00" in sql:
        return
    wire = encode(Query(sql))
    assert FrontendParser(startup=False).feed(wire) == [Query(sql)]


# -- streams: chunking and truncation ---------------------------------------------------------


@FAST
@given(client_session(), st.data())
def test_client_stream_in_any_chunks(messages: list[FrontendMessage], data: st.DataObject) -> None:
    wire = encode_all(messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    parser = FrontendParser()
    out = []
    for start, end in itertools.pairwise([0, *cuts, len(wire)]):
        out += parser.feed(wire[start:end])
    assert out == messages
    assert parser.buffered == 0


@FAST
@given(server_session, st.data())
def test_server_stream_in_any_chunks(messages: list[BackendMessage], data: st.DataObject) -> None:
    wire = encode_all(messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=20)))
    parser = BackendParser()
    out = []
    for start, end in itertools.pairwise([0, *cuts, len(wire)]):
        out += parser.feed(wire[start:end])
    assert out == messages


@SLOW
@given(client_session())
def test_truncated_client_stream_yields_the_complete_prefix(
    messages: list[FrontendMessage],
) -> None:
    wire = encode_all(messages)
    boundaries = ends(messages)
    for cut in range(len(wire) + 1):
        got = FrontendParser().feed(wire[:cut])
        assert got == messages[: sum(1 for e in boundaries if e <= cut)]


@SLOW
@given(server_session)
def test_truncated_server_stream_yields_the_complete_prefix(
    messages: list[BackendMessage],
) -> None:
    wire = b"N" + encode_all(messages)
    expected = [SSLResponse(False), *messages]
    boundaries = [1] + [1 + e for e in ends(messages)]
    for cut in range(len(wire) + 1):
        parser = BackendParser()
        parser.expect_ssl_response()
        got = parser.feed(wire[:cut])
        assert got == expected[: sum(1 for e in boundaries if e <= cut)]


# -- hostile input ----------------------------------------------------------------------------


@FAST
@given(st.binary(max_size=300), st.booleans())
def test_random_bytes_to_a_frontend_parser(data: bytes, startup: bool) -> None:
    feed_or_protocol_error(FrontendParser(startup=startup), data)


@FAST
@given(st.binary(max_size=300))
def test_random_bytes_to_a_backend_parser(data: bytes) -> None:
    feed_or_protocol_error(BackendParser(), data)


@FAST
@given(st.sampled_from([*FrontendCode, PseudoCode.STARTUP]), st.binary(max_size=64))
def test_random_frontend_payloads(code: bytes, payload: bytes) -> None:
    try:
        message = decode_frontend(code, payload)
    except PgProtocolError:
        return
    assert encode(message)  # whatever decodes can be sent again


@FAST
@given(st.sampled_from([*BackendCode, PseudoCode.SSL_RESPONSE]), st.binary(max_size=64))
def test_random_backend_payloads(code: bytes, payload: bytes) -> None:
    try:
        message = decode_backend(code, payload)
    except PgProtocolError:
        return
    assert encode(message)


@st.composite
def mutated(draw: st.DrawFn, wire: bytes) -> bytes:
    """``wire`` with a few bytes flipped, inserted or deleted, or a random suffix."""
    data = bytearray(wire)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        match draw(st.sampled_from(["flip", "insert", "delete", "suffix"])):
            case "flip" if at < len(data):
                data[at] ^= draw(st.integers(1, 255))
            case "insert":
                data[at:at] = draw(st.binary(min_size=1, max_size=4))
            case "delete":
                del data[at : at + draw(st.integers(1, 4))]
            case _:
                data += draw(st.binary(max_size=16))
    return bytes(data)


@FAST
@given(st.data())
def test_mutated_client_streams(data: st.DataObject) -> None:
    wire = encode_all(data.draw(client_session()))
    bad = data.draw(mutated(wire))
    chunks = data.draw(st.integers(1, 7))
    parser = FrontendParser()
    for i in range(chunks):
        try:
            parser.feed(bad[i * len(bad) // chunks : (i + 1) * len(bad) // chunks])
        except PgProtocolError:
            pass


@FAST
@given(st.data())
def test_mutated_server_streams(data: st.DataObject) -> None:
    wire = encode_all(data.draw(server_session))
    bad = data.draw(mutated(wire))
    parser = BackendParser()
    try:
        for message in parser.feed(bad):
            encode(message)
    except PgProtocolError:
        pass


@FAST
@given(st.data())
def test_framer_frames_match_messages(data: st.DataObject) -> None:
    messages = data.draw(server_session)
    wire = encode_all(messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    framer = Framer()
    frames = []
    for start, end in itertools.pairwise([0, *cuts, len(wire)]):
        frames += framer.feed(memoryview(wire)[start:end])
    assert [decode_backend(*f) for f in frames] == messages
    assert b"".join(encode(m) for m in messages) == wire
