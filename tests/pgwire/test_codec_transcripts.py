"""Transcripts: feed these bytes, expect these messages; encode these messages, expect these bytes.

The bytes are written out by hand from the protocol documentation ("Message Formats"), as a
real client (psql, psycopg) and a real server put them on the wire.
"""

from __future__ import annotations

import random

import pytest

from understudy.errors import PgProtocolError
from understudy.pgwire import (
    PROTOCOL_3_2,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationOther,
    AuthenticationResponse,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendCode,
    BackendKeyData,
    BackendParser,
    Bind,
    BindComplete,
    CancelRequest,
    Close,
    CloseComplete,
    CommandComplete,
    CopyData,
    CopyDone,
    CopyFail,
    CopyInResponse,
    DataRow,
    Describe,
    EmptyQueryResponse,
    ErrorResponse,
    Execute,
    FieldDescription,
    Flush,
    Frame,
    Framer,
    FrontendCode,
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
    SqlState,
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
    error_response,
    has_undecodable,
    notice_response,
)

# -- what psql sends and receives for `SELECT 1;` -----------------------------------------------

PSQL_STARTUP = (
    b"\x00\x00\x00\x54"  # length 84, including itself
    b"\x00\x03\x00\x00"  # protocol 3.0
    b"user\x00postgres\x00"
    b"database\x00postgres\x00"
    b"application_name\x00psql\x00"
    b"client_encoding\x00UTF8\x00"
    b"\x00"
)
PSQL_QUERY = b"Q\x00\x00\x00\x0eSELECT 1;\x00"
CLIENT_TERMINATE = b"X\x00\x00\x00\x04"

SERVER_HELLO = (
    b"R\x00\x00\x00\x08\x00\x00\x00\x00"  # AuthenticationOk
    b"S\x00\x00\x00\x19client_encoding\x00UTF8\x00"  # ParameterStatus
    b"K\x00\x00\x00\x0c\x00\x00\x30\x39\xde\xad\xbe\xef"  # BackendKeyData pid 12345
    b"Z\x00\x00\x00\x05I"  # ReadyForQuery, idle
)
SERVER_SELECT_1 = (
    b"T\x00\x00\x00\x21\x00\x01"  # RowDescription, 1 field
    b"?column?\x00"
    b"\x00\x00\x00\x00\x00\x00"  # table oid 0, column 0
    b"\x00\x00\x00\x17\x00\x04"  # type int4, size 4
    b"\xff\xff\xff\xff\x00\x00"  # typmod -1, text format
    b"D\x00\x00\x00\x0b\x00\x01\x00\x00\x00\x011"  # DataRow ("1")
    b"C\x00\x00\x00\x0dSELECT 1\x00"  # CommandComplete
    b"Z\x00\x00\x00\x05I"  # ReadyForQuery
)

CLIENT_SESSION = PSQL_STARTUP + PSQL_QUERY + CLIENT_TERMINATE
CLIENT_MESSAGES = [
    StartupMessage(
        {
            "user": "postgres",
            "database": "postgres",
            "application_name": "psql",
            "client_encoding": "UTF8",
        }
    ),
    Query("SELECT 1;"),
    Terminate(),
]
SERVER_SESSION = SERVER_HELLO + SERVER_SELECT_1
SERVER_MESSAGES = [
    AuthenticationOk(),
    ParameterStatus("client_encoding", "UTF8"),
    BackendKeyData(12345, b"\xde\xad\xbe\xef"),
    ReadyForQuery(TransactionStatus.IDLE),
    RowDescription((FieldDescription("?column?", 0, 0, 23, 4, -1, 0),)),
    DataRow((b"1",)),
    CommandComplete("SELECT 1"),
    ReadyForQuery(TransactionStatus.IDLE),
]

# -- what psycopg sends for `cur.execute("SELECT %b::int4", [42], binary=True)` ---------------

EXTENDED_QUERY = (
    b"P\x00\x00\x00\x1b\x00SELECT $1::int4\x00\x00\x01\x00\x00\x00\x17"
    b"B\x00\x00\x00\x18\x00\x00"  # unnamed portal, unnamed statement
    b"\x00\x01\x00\x01"  # one parameter format: binary
    b"\x00\x01\x00\x00\x00\x04\x00\x00\x00\x2a"  # one parameter: int4 42
    b"\x00\x01\x00\x01"  # one result format: binary
    b"D\x00\x00\x00\x06P\x00"
    b"E\x00\x00\x00\x09\x00\x00\x00\x00\x00"
    b"S\x00\x00\x00\x04"
)
EXTENDED_MESSAGES = [
    Parse("", "SELECT $1::int4", (23,)),
    Bind("", "", (1,), (b"\x00\x00\x00\x2a",), (1,)),
    Describe(TargetKind.PORTAL, ""),
    Execute("", 0),
    Sync(),
]
EXTENDED_REPLY = (
    b"1\x00\x00\x00\x04"
    b"2\x00\x00\x00\x04"
    b"T\x00\x00\x00\x1d\x00\x01int4\x00\x00\x00\x00\x00\x00\x00"
    b"\x00\x00\x00\x17\x00\x04\xff\xff\xff\xff\x00\x01"
    b"D\x00\x00\x00\x0e\x00\x01\x00\x00\x00\x04\x00\x00\x00\x2a"
    b"C\x00\x00\x00\x0dSELECT 1\x00"
    b"Z\x00\x00\x00\x05I"
)
EXTENDED_REPLY_MESSAGES = [
    ParseComplete(),
    BindComplete(),
    RowDescription((FieldDescription("int4", 0, 0, 23, 4, -1, 1),)),
    DataRow((b"\x00\x00\x00\x2a",)),
    CommandComplete("SELECT 1"),
    ReadyForQuery(TransactionStatus.IDLE),
]

ERROR_BYTES = (
    b"E\x00\x00\x00\x67"
    b'SERROR\x00VERROR\x00C42P01\x00Mrelation "nope" does not exist\x00P15\x00'
    b"Fparse_relation.c\x00L1449\x00RparserOpenTable\x00\x00"
)


def feed_in_pieces(parser: FrontendParser | BackendParser, data: bytes, cuts: list[int]) -> list:
    out: list = []
    start = 0
    for cut in [*sorted(cuts), len(data)]:
        out += parser.feed(data[start:cut])
        start = cut
    return out


# -- client side --------------------------------------------------------------------------------


def test_psql_session_from_the_client() -> None:
    assert FrontendParser().feed(CLIENT_SESSION) == CLIENT_MESSAGES


def test_psql_session_encodes_to_the_same_bytes() -> None:
    assert encode_all(CLIENT_MESSAGES) == CLIENT_SESSION
    assert encode(Query("SELECT 1;")) == PSQL_QUERY


def test_extended_query_from_psycopg() -> None:
    parser = FrontendParser(startup=False)
    assert parser.feed(EXTENDED_QUERY) == EXTENDED_MESSAGES
    assert encode_all(EXTENDED_MESSAGES) == EXTENDED_QUERY


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"C\x00\x00\x00\x08Ss1\x00", Close(TargetKind.STATEMENT, "s1")),
        (b"D\x00\x00\x00\x08Ss1\x00", Describe(TargetKind.STATEMENT, "s1")),
        (b"E\x00\x00\x00\x0bp1\x00\x00\x00\x00\x64", Execute("p1", 100)),
        (b"H\x00\x00\x00\x04", Flush()),
        (b"d\x00\x00\x00\x0a1\tfoo\n", CopyData(b"1\tfoo\n")),
        (b"c\x00\x00\x00\x04", CopyDone()),
        (b"f\x00\x00\x00\x0fcanceled 1\x00", CopyFail("canceled 1")),
        (b"p\x00\x00\x00\x0bsecret\x00", AuthenticationResponse(b"secret\x00")),
        (
            b"F\x00\x00\x00\x19\x00\x00\x04\xd2\x00\x01\x00\x00\x00\x02"
            b"\x00\x00\x00\x013\xff\xff\xff\xff\x00\x00",
            FunctionCall(1234, (0,), (b"3", None), 0),
        ),
        (b"Q\x00\x00\x00\x05\x00", Query("")),
    ],
)
def test_frontend_message_transcripts(wire: bytes, message: object) -> None:
    assert FrontendParser(startup=False).feed(wire) == [message]
    assert encode(message) == wire  # type: ignore[arg-type]


def test_ssl_negotiation_refused_then_startup() -> None:
    client = b"\x00\x00\x00\x08\x04\xd2\x16\x2f" + PSQL_STARTUP
    parser = FrontendParser()
    assert parser.feed(client) == [SSLRequest(), CLIENT_MESSAGES[0]]
    assert not parser.in_startup
    server = BackendParser()
    server.expect_ssl_response()
    assert server.feed(b"N" + SERVER_HELLO) == [SSLResponse(accepted=False), *SERVER_MESSAGES[:4]]
    assert encode(SSLRequest()) == client[:8]
    assert encode(SSLResponse(True)) == b"S" and encode(SSLResponse(False)) == b"N"


def test_ssl_accepted_leaves_the_client_in_the_startup_phase() -> None:
    parser = FrontendParser()
    assert parser.feed(b"\x00\x00\x00\x08\x04\xd2\x16\x2f") == [SSLRequest()]
    assert parser.in_startup  # the StartupMessage comes next, inside TLS
    server = BackendParser()
    server.expect_ssl_response()
    assert server.feed(b"S") == [SSLResponse(accepted=True)]


def test_gssenc_negotiation() -> None:
    parser = FrontendParser()
    assert parser.feed(b"\x00\x00\x00\x08\x04\xd2\x16\x30") == [GSSENCRequest()]
    server = BackendParser()
    server.expect_gssenc_response()
    assert server.feed(b"G") == [GSSENCResponse(accepted=True)]
    server.expect_gssenc_response()
    assert server.feed(b"N") == [GSSENCResponse(accepted=False)]
    assert encode(GSSENCRequest()) == b"\x00\x00\x00\x08\x04\xd2\x16\x30"


def test_ssl_request_answered_by_an_error() -> None:
    server = BackendParser()
    server.expect_ssl_response()
    (message,) = server.feed(ERROR_BYTES)
    assert isinstance(message, ErrorResponse)


def test_cancel_request_with_short_and_long_keys() -> None:
    short = b"\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x30\x39\xde\xad\xbe\xef"
    assert FrontendParser().feed(short) == [CancelRequest(12345, b"\xde\xad\xbe\xef")]
    key = bytes(range(32))  # protocol 3.2 keys are longer
    long = b"\x00\x00\x00\x2c\x04\xd2\x16\x2e\x00\x00\x30\x39" + key
    assert FrontendParser().feed(long) == [CancelRequest(12345, key)]
    assert encode(CancelRequest(12345, key)) == long


def test_nothing_may_follow_a_cancel_request() -> None:
    short = b"\x00\x00\x00\x10\x04\xd2\x16\x2e\x00\x00\x30\x39\xde\xad\xbe\xef"
    with pytest.raises(PgProtocolError, match="after a CancelRequest"):
        FrontendParser().feed(short + PSQL_QUERY)


def test_protocol_3_2_startup() -> None:
    wire = b"\x00\x00\x00\x12\x00\x03\x00\x02user\x00bob\x00\x00"
    (message,) = FrontendParser().feed(wire)
    assert message == StartupMessage({"user": "bob"}, PROTOCOL_3_2)
    assert isinstance(message, StartupMessage) and (message.major, message.minor) == (3, 2)
    assert encode(message) == wire


def test_scram_exchange() -> None:
    server_offer = b"R\x00\x00\x00\x2a\x00\x00\x00\x0aSCRAM-SHA-256\x00SCRAM-SHA-256-PLUS\x00\x00"
    offer = AuthenticationSASL(("SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"))
    assert BackendParser().feed(server_offer) == [offer]
    assert encode(offer) == server_offer

    first = b"n,,n=,r=rOprNGfwEbeRWgbNEkqO"
    client_first = b"p\x00\x00\x00\x32SCRAM-SHA-256\x00\x00\x00\x00\x1c" + first
    (message,) = FrontendParser(startup=False).feed(client_first)
    assert isinstance(message, AuthenticationResponse)
    assert message.sasl_initial_response() == ("SCRAM-SHA-256", first)
    assert AuthenticationResponse.from_sasl_initial_response("SCRAM-SHA-256", first) == message

    assert BackendParser().feed(b"R\x00\x00\x00\x0b\x00\x00\x00\x0br=x") == [
        AuthenticationSASLContinue(b"r=x")
    ]
    assert BackendParser().feed(b"R\x00\x00\x00\x0b\x00\x00\x00\x0cv=y") == [
        AuthenticationSASLFinal(b"v=y")
    ]
    final = AuthenticationResponse.from_sasl_response(b"c=biws,r=x,p=z")
    assert final.sasl_response() == b"c=biws,r=x,p=z"


def test_password_messages() -> None:
    wire = b"R\x00\x00\x00\x0c\x00\x00\x00\x05\x01\x02\x03\x04"
    assert BackendParser().feed(wire) == [AuthenticationMD5Password(b"\x01\x02\x03\x04")]
    md5 = AuthenticationResponse.from_password("md5" + "0" * 32)
    assert md5.password() == "md5" + "0" * 32
    assert encode(md5) == b"p\x00\x00\x00\x28md5" + b"0" * 32 + b"\x00"
    assert AuthenticationResponse(b"n,,").sasl_response() == b"n,,"
    with pytest.raises(PgProtocolError):
        AuthenticationResponse(b"no terminator").password()
    with pytest.raises(PgProtocolError):
        AuthenticationResponse(b"SCRAM\x00\x00\x00").sasl_initial_response()


def test_gss_and_sspi_requests_are_generic() -> None:
    assert BackendParser().feed(b"R\x00\x00\x00\x08\x00\x00\x00\x07") == [
        AuthenticationOther(7, b"")
    ]
    assert BackendParser().feed(b"R\x00\x00\x00\x0a\x00\x00\x00\x08ok") == [
        AuthenticationOther(8, b"ok")
    ]


# -- server side --------------------------------------------------------------------------------


def test_psql_session_from_the_server() -> None:
    assert BackendParser().feed(SERVER_SESSION) == SERVER_MESSAGES
    assert encode_all(SERVER_MESSAGES) == SERVER_SESSION


def test_extended_query_reply() -> None:
    assert BackendParser().feed(EXTENDED_REPLY) == EXTENDED_REPLY_MESSAGES
    assert encode_all(EXTENDED_REPLY_MESSAGES) == EXTENDED_REPLY


def test_error_response_fields() -> None:
    (error,) = BackendParser().feed(ERROR_BYTES)
    assert isinstance(error, ErrorResponse)
    assert error.severity == "ERROR" and error.severity_nonlocalized == "ERROR"
    assert error.sqlstate == error.code == SqlState.UNDEFINED_TABLE
    assert error.message == 'relation "nope" does not exist'
    assert error.position == 15
    assert (error.file, error.line, error.routine) == (
        "parse_relation.c",
        "1449",
        "parserOpenTable",
    )
    assert error.detail is None and error.hint is None
    assert encode(error) == ERROR_BYTES


def test_error_response_builder() -> None:
    error = error_response(
        SqlState.DUPLICATE_PREPARED_STATEMENT,
        'prepared statement "s1" already exists',
        hint="DEALLOCATE it first",
        position=3,
    )
    assert error.fields == {
        "S": "ERROR",
        "V": "ERROR",
        "C": "42P05",
        "M": 'prepared statement "s1" already exists',
        "H": "DEALLOCATE it first",
        "P": "3",
    }
    assert encode(error) == (
        b"E\x00\x00\x00\x5aSERROR\x00VERROR\x00C42P05\x00"
        b'Mprepared statement "s1" already exists\x00HDEALLOCATE it first\x00P3\x00\x00'
    )
    fatal = error_response(SqlState.INVALID_PASSWORD, "password authentication failed", "FATAL")
    assert fatal.severity == "FATAL" and fatal.sqlstate == "28P01"
    with pytest.raises(TypeError, match="unknown error field"):
        error_response(SqlState.INTERNAL_ERROR, "x", colour="red")


def test_notice_response() -> None:
    notice = notice_response("there is no transaction in progress", "WARNING", "25P01")
    wire = encode(notice)
    assert wire[:1] == b"N"
    assert BackendParser().feed(wire) == [notice]
    assert NoticeResponse(notice.fields) != ErrorResponse(notice.fields)


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"3\x00\x00\x00\x04", CloseComplete()),
        (b"n\x00\x00\x00\x04", NoData()),
        (b"s\x00\x00\x00\x04", PortalSuspended()),
        (b"I\x00\x00\x00\x04", EmptyQueryResponse()),
        (b"Z\x00\x00\x00\x05T", ReadyForQuery(TransactionStatus.IN_TRANSACTION)),
        (b"Z\x00\x00\x00\x05E", ReadyForQuery(TransactionStatus.FAILED)),
        (
            b"t\x00\x00\x00\x0e\x00\x02\x00\x00\x00\x17\x00\x00\x00\x19",
            ParameterDescription((23, 25)),
        ),
        (b"G\x00\x00\x00\x0b\x00\x00\x02\x00\x00\x00\x00", CopyInResponse(0, (0, 0))),
        (
            b"A\x00\x00\x00\x13\x00\x00\x30\x39chan\x00hello\x00",
            NotificationResponse(12345, "chan", "hello"),
        ),
        (
            b"v\x00\x00\x00\x15\x00\x00\x00\x00\x00\x00\x00\x01_pq_.foo\x00",
            NegotiateProtocolVersion(0, ("_pq_.foo",)),
        ),
        (b"V\x00\x00\x00\x0a\x00\x00\x00\x02ok", FunctionCallResponse(b"ok")),
        (b"V\x00\x00\x00\x08\xff\xff\xff\xff", FunctionCallResponse(None)),
        (b"D\x00\x00\x00\x0e\x00\x02\xff\xff\xff\xff\x00\x00\x00\x00", DataRow((None, b""))),
    ],
)
def test_backend_message_transcripts(wire: bytes, message: object) -> None:
    assert BackendParser().feed(wire) == [message]
    assert encode(message) == wire  # type: ignore[arg-type]


def test_command_complete_tags() -> None:
    assert CommandComplete("INSERT 0 5").rows == 5
    assert CommandComplete("INSERT 0 5").command == "INSERT"
    assert CommandComplete("SELECT 3").rows == 3
    assert CommandComplete("CREATE TABLE").rows is None
    assert CommandComplete("CREATE TABLE").command == "CREATE TABLE"


# -- chunking -----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_chunking_never_changes_the_messages(seed: int) -> None:
    rng = random.Random(seed)
    client = CLIENT_SESSION[:-5] + EXTENDED_QUERY + CLIENT_TERMINATE
    server = SERVER_SESSION + EXTENDED_REPLY + ERROR_BYTES
    for data, make in ((client, FrontendParser), (server, BackendParser)):
        whole = make().feed(data)
        cuts = [rng.randrange(len(data) + 1) for _ in range(rng.randrange(1, 30))]
        assert feed_in_pieces(make(), data, cuts) == whole


def test_one_byte_at_a_time() -> None:
    for data, make, expected in (
        (CLIENT_SESSION, FrontendParser, CLIENT_MESSAGES),
        (SERVER_SESSION, BackendParser, SERVER_MESSAGES),
    ):
        parser = make()
        out = []
        for i in range(len(data)):
            out += parser.feed(data[i : i + 1])
        assert out == expected
        assert parser.buffered == 0


def test_a_partial_frame_waits_for_the_rest() -> None:
    parser = BackendParser()
    assert parser.feed(SERVER_SELECT_1[:40]) == [SERVER_MESSAGES[4]]
    assert parser.buffered == 40 - 34
    assert parser.feed(SERVER_SELECT_1[40:]) == SERVER_MESSAGES[5:]


# -- frames for a relay -------------------------------------------------------------------------


def test_feed_frames_and_decode_only_what_matters() -> None:
    parser = BackendParser()
    frames = parser.feed_frames(SERVER_SELECT_1)
    assert [f.code for f in frames] == [b"T", b"D", b"C", b"Z"]
    assert frames[1] == Frame(BackendCode.DATA_ROW, b"\x00\x01\x00\x00\x00\x011")
    wanted = {BackendCode.COMMAND_COMPLETE, BackendCode.READY_FOR_QUERY}
    decoded = [parser.decode_frame(f) for f in frames if f.code in wanted]
    assert decoded == [CommandComplete("SELECT 1"), ReadyForQuery()]


def test_startup_frames_carry_a_pseudo_code() -> None:
    frames = FrontendParser().feed_frames(PSQL_STARTUP + PSQL_QUERY)
    assert frames == [
        Frame(PseudoCode.STARTUP, PSQL_STARTUP[4:]),
        Frame(FrontendCode.QUERY, b"SELECT 1;\x00"),
    ]
    assert FrontendParser.decode_frame(frames[0]) == CLIENT_MESSAGES[0]


def test_unknown_codes_are_framed_but_not_decoded() -> None:
    unknown = b"?\x00\x00\x00\x06hi"
    assert Framer().feed(unknown + PSQL_QUERY) == [
        Frame(b"?", b"hi"),
        Frame(b"Q", b"SELECT 1;\x00"),
    ]
    with pytest.raises(PgProtocolError, match="unknown frontend message code"):
        FrontendParser(startup=False).feed(unknown)
    with pytest.raises(PgProtocolError, match="unknown backend message code"):
        decode_backend(b"?", b"hi")


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        (b"Q\x00\x00\x00\x03", "length 3"),
        (b"Q\xff\xff\xff\xff", "length 4294967295"),
        (b"Q\x00\x00\x00\x05x", "unterminated string"),
        (b"Q\x00\x00\x00\x07a\x00b", "unexpected bytes"),
        (b"S\x00\x00\x00\x05x", "unexpected bytes in an empty message"),
        (b"D\x00\x00\x00\x06X\x00", "invalid Describe/Close target"),
        (b"B\x00\x00\x00\x0a\x00\x00\x00\x00\x00\x01", "truncated"),
        (b"B\x00\x00\x00\x10\x00\x00\x00\x00\x00\x01\xff\xff\xff\xfe\x00\x00", "length -2"),
        (b"E\x00\x00\x00\x06\x00\x00", "truncated"),
    ],
)
def test_malformed_frontend_frames(wire: bytes, match: str) -> None:
    with pytest.raises(PgProtocolError, match=match):
        FrontendParser(startup=False).feed(wire)


@pytest.mark.parametrize(
    ("wire", "match"),
    [
        (b"Z\x00\x00\x00\x05X", "invalid ReadyForQuery status"),
        (b"D\x00\x00\x00\x08\x00\x01\x00\x00", "malformed DataRow .*truncated"),
        (b"D\x00\x00\x00\x0a\x00\x01\x00\x00\x00\x05", "malformed DataRow .*truncated"),
        (b"D\x00\x00\x00\x0a\x00\x01\xff\xff\xff\xfe", "invalid value length -2"),
        (b"D\x00\x00\x00\x07\x00\x00\x00", "unexpected bytes"),
        (b"K\x00\x00\x00\x0a\x00\x00\x00\x01\x00\x00", "cancel key of 2 bytes"),
        (b"R\x00\x00\x00\x0a\x00\x00\x00\x05\x00\x00", "truncated"),
        (b"v\x00\x00\x00\x0c\x00\x00\x00\x00\xff\xff\xff\xff", "negative option count"),
        (b"E\x00\x00\x00\x08SERR", "unterminated string"),
    ],
)
def test_malformed_backend_frames(wire: bytes, match: str) -> None:
    with pytest.raises(PgProtocolError, match=match):
        BackendParser().feed(wire)


def test_bad_startup_packets() -> None:
    with pytest.raises(PgProtocolError, match=r"unsupported frontend protocol 2\.0"):
        FrontendParser().feed(b"\x00\x00\x00\x09\x00\x02\x00\x00\x00")
    with pytest.raises(PgProtocolError, match="startup packet declares length 20000"):
        FrontendParser().feed(b"\x00\x00\x4e\x20\x00\x03\x00\x00")
    with pytest.raises(PgProtocolError, match="length 4"):
        FrontendParser().feed(b"\x00\x00\x00\x04\x00\x03\x00\x00")
    with pytest.raises(PgProtocolError, match="unterminated string"):
        FrontendParser().feed(b"\x00\x00\x00\x0c\x00\x03\x00\x00user")


def test_invalid_encryption_answer() -> None:
    server = BackendParser()
    server.expect_ssl_response()
    with pytest.raises(PgProtocolError, match="invalid answer"):
        server.feed(b"X")


def test_max_frame_is_configurable() -> None:
    big = encode(CopyData(b"x" * 100))
    assert FrontendParser(startup=False, max_frame=104).feed(big) == [CopyData(b"x" * 100)]
    with pytest.raises(PgProtocolError, match="must be 4 to 103"):
        FrontendParser(startup=False, max_frame=103).feed(big[:5])


def test_a_broken_stream_stays_broken() -> None:
    framer = Framer()
    with pytest.raises(PgProtocolError):
        framer.feed(b"Q\x00\x00\x00\x01")
    with pytest.raises(PgProtocolError, match="already failed"):
        framer.feed(PSQL_QUERY)


def test_a_bad_message_does_not_break_the_framing() -> None:
    parser = FrontendParser(startup=False)
    frames = parser.feed_frames(b"Q\x00\x00\x00\x05x" + PSQL_QUERY)
    with pytest.raises(PgProtocolError):
        parser.decode_frame(frames[0])
    assert parser.decode_frame(frames[1]) == Query("SELECT 1;")
    assert parser.feed(PSQL_QUERY) == [Query("SELECT 1;")]


# -- strings ------------------------------------------------------------------------------------


def test_invalid_utf8_survives_a_round_trip() -> None:
    wire = b"Q\x00\x00\x00\x10SELECT '\xff\xfe'\x00"
    (query,) = FrontendParser(startup=False).feed(wire)
    assert isinstance(query, Query)
    assert query.sql == "SELECT '\udcff\udcfe'"
    assert has_undecodable(query.sql) and not has_undecodable("SELECT 'é'")
    assert encode(query) == wire


def test_latin1_text_is_kept_byte_for_byte() -> None:
    wire = b"S\x00\x00\x00\x0can\x00caf\xe9\x00"
    (status,) = BackendParser().feed(wire)
    assert encode(status) == wire


# -- what cannot be encoded ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "match"),
    [
        (Query("SELECT '\x00'"), "NUL"),
        (Parse("", "q", tuple(range(70_000))), "65535"),
        (BackendKeyData(2**31, b"abcd"), "cannot encode"),
        (BackendKeyData(1, b"abc"), "cancel key of 3 bytes"),
        (AuthenticationMD5Password(b"12345"), "4 bytes"),
        (AuthenticationOther(0), "own message class"),
        (AuthenticationSASL(("",)), "cannot be empty"),
        (StartupMessage({"": "x"}), "non-empty name"),
        (ErrorResponse({"MM": "x"}), "invalid error field code"),
        (ReadyForQuery(b"X"), "invalid ReadyForQuery status"),  # type: ignore[arg-type]
        (Describe("X", ""), "invalid Describe/Close kind"),  # type: ignore[arg-type]
        (Query("\ud800"), "cannot encode Query"),
    ],
)
def test_unencodable_messages(message: object, match: str) -> None:
    with pytest.raises(PgProtocolError, match=match):
        encode(message)  # type: ignore[arg-type]


def test_encode_rejects_non_messages() -> None:
    with pytest.raises(TypeError, match="not a pgwire message"):
        encode("Q")  # type: ignore[arg-type]


def test_decode_functions_take_a_code_and_payload() -> None:
    assert decode_frontend(b"Q", b"SELECT 1\x00") == Query("SELECT 1")
    assert decode_backend(b"D", b"\x00\x00") == DataRow(())
    assert decode_frontend(b"C", b"Pp\x00") == Close(TargetKind.PORTAL, "p")
