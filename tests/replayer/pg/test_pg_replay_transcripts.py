"""Transcripts of the connection state machine: feed these messages, expect these messages.

No sockets and no real server: a small world is built from hand-written results, and
:class:`~replayer.pg.connection.PgConnection` is driven directly.
"""

from __future__ import annotations

import pytest

from replayer.pg import Behaviour, PgConnection, PgReplaySettings, SqlIndex
from replayer.pg.auth import ScramClient, ScramVerifier, md5_password
from replayer.pg.events import CancelOther, Close, Wait
from replayer.pg.results import Column
from replayer.pg.testing import Captured, SqlWorldKit
from understudy.pgwire import (
    PROTOCOL_3_2,
    AuthenticationMD5Password,
    AuthenticationOk,
    AuthenticationResponse,
    AuthenticationSASL,
    AuthenticationSASLContinue,
    AuthenticationSASLFinal,
    BackendKeyData,
    BackendParser,
    Bind,
    BindComplete,
    CancelRequest,
    CommandComplete,
    DataRow,
    Describe,
    EmptyQueryResponse,
    ErrorResponse,
    Execute,
    FieldDescription,
    Message,
    NegotiateProtocolVersion,
    NoticeResponse,
    ParameterDescription,
    ParameterStatus,
    Parse,
    ParseComplete,
    PortalSuspended,
    Query,
    ReadyForQuery,
    RowDescription,
    SSLRequest,
    StartupMessage,
    Sync,
    TargetKind,
    TransactionStatus,
    encode,
    encode_all,
)
from understudy.world import load_world

IDLE, IN_TX, FAILED = (
    TransactionStatus.IDLE,
    TransactionStatus.IN_TRANSACTION,
    TransactionStatus.FAILED,
)
BY_ID = "SELECT id, name FROM t WHERE id = "
COLS = [Column("id", 23), Column("name", 25)]


def _row(i: int, name: str) -> Captured:
    return Captured(
        f"{BY_ID}{i}",
        "simple",
        columns=COLS,
        formats=[0, 0],
        rows=[(str(i).encode(), name.encode())],
        tag="SELECT 1",
    )


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> SqlIndex:
    kit = SqlWorldKit()
    kit.add(_row(1, "one"), duration_ms=1.0)
    kit.add(_row(2, "two"), duration_ms=1.0)
    many = Captured(
        "SELECT n FROM numbers",
        "simple",
        columns=[Column("n", 23)],
        formats=[0],
        rows=[(b"1",), (b"2",), (b"3",)],
        tag="SELECT 3",
    )
    kit.add(many, duration_ms=1.0)
    kit.add(
        Captured(
            "SELECT pause FROM slow",
            "simple",
            columns=[Column("pause", 25)],
            formats=[0],
            rows=[(b"zz",)],
            tag="SELECT 1",
        ),
        duration_ms=50.0,
    )
    kit.add(
        Captured(
            "INSERT INTO t VALUES (1)",
            "simple",
            sqlstate="23505",
            error_message="duplicate key value",
        ),
        duration_ms=1.0,
    )
    path = kit.write(
        tmp_path_factory.mktemp("transcripts") / "w", pg_parameters={"server_version": "15.4"}
    )
    return SqlIndex.from_world(load_world(path))


class Client:
    """Drives one PgConnection like a client would, decoding what it sends back."""

    def __init__(self, index: SqlIndex, *, latency: str = "off", **conn: object) -> None:
        settings = PgReplaySettings(listen=("127.0.0.1", 0), latency=latency)  # type: ignore[arg-type]
        self.events: list[object] = []
        self.conn = PgConnection(
            Behaviour(index, settings),
            process_id=42,
            secret_key=b"\x01\x02\x03\x04",
            note=self.events.append,
            **conn,
        )  # type: ignore[arg-type]
        self.parser = BackendParser()
        self.actions: list[object] = []

    def _decode(self, actions: list[object]) -> list[Message]:
        out: list[Message] = []
        self.actions = [a for a in actions if not isinstance(a, bytes)]
        for a in actions:
            if isinstance(a, bytes):
                if a == b"N":  # SSLRequest refused: one bare byte
                    out.append(a)  # type: ignore[arg-type]
                else:
                    out.extend(self.parser.feed(a))
        return out

    def send(self, *messages: Message) -> list[Message]:
        return self._decode(self.conn.feed(encode_all(messages)))

    def raw(self, data: bytes) -> list[Message]:
        return self._decode(self.conn.feed(data))

    def resume(self) -> list[Message]:
        return self._decode(self.conn.resume())

    def cancel(self) -> list[Message]:
        return self._decode(self.conn.cancel())

    def start(self, **params: str) -> list[Message]:
        return self.send(StartupMessage({"user": "app", "database": "app", **params}))


def _codes(messages: list[Message]) -> list[str]:
    return [type(m).__name__ for m in messages]


def test_startup_refuses_tls_and_reports_parameters(index: SqlIndex) -> None:
    c = Client(index)
    assert c.send(SSLRequest()) == [b"N"]  # type: ignore[comparison-overlap]
    out = c.start(application_name="tests")
    assert out[0] == AuthenticationOk()
    status = {m.name: m.value for m in out if isinstance(m, ParameterStatus)}
    assert status["server_version"] == "15.4"  # as recorded
    assert status["application_name"] == "tests"
    assert status["session_authorization"] == "app"
    assert {
        "DateStyle",
        "TimeZone",
        "integer_datetimes",
        "standard_conforming_strings",
        "client_encoding",
        "server_encoding",
        "IntervalStyle",
        "is_superuser",
    } <= set(status)
    assert out[-2:] == [BackendKeyData(42, b"\x01\x02\x03\x04"), ReadyForQuery(IDLE)]


def test_protocol_versions(index: SqlIndex) -> None:
    c = Client(index)
    out = c.send(StartupMessage({"user": "app", "_pq_.thing": "1"}, PROTOCOL_3_2))
    assert out[0] == NegotiateProtocolVersion(0, ("_pq_.thing",))
    assert out[-1] == ReadyForQuery(IDLE)
    old = Client(index)
    out = old.send(StartupMessage({"user": "app"}, 2 << 16))
    assert isinstance(out[0], ErrorResponse) and out[0].sqlstate == "0A000"
    assert out[0].severity == "FATAL" and isinstance(old.actions[-1], Close)


def test_simple_query_several_statements(index: SqlIndex) -> None:
    c = Client(index)
    c.start()
    out = c.send(Query(f"{BY_ID}1; {BY_ID}2"))
    fields = (FieldDescription("id", type_oid=23, type_size=4), FieldDescription("name"))
    assert out == [
        RowDescription(fields),
        DataRow((b"1", b"one")),
        CommandComplete("SELECT 1"),
        RowDescription(fields),
        DataRow((b"2", b"two")),
        CommandComplete("SELECT 1"),
        ReadyForQuery(IDLE),
    ]
    assert c.send(Query(" ; -- nothing")) == [EmptyQueryResponse(), ReadyForQuery(IDLE)]
    kinds = [e.kind for e in c.events]  # type: ignore[attr-defined]
    assert kinds == ["exact", "exact"]


def test_unknown_parameters_get_the_representative(index: SqlIndex) -> None:
    c = Client(index)
    c.start()
    out = c.send(Query(f"{BY_ID}77"))
    assert _codes(out) == ["RowDescription", "DataRow", "CommandComplete", "ReadyForQuery"]
    assert c.events[-1].kind == "approximate"  # type: ignore[attr-defined]


def test_miss_names_nearest_and_connection_goes_on(index: SqlIndex) -> None:
    c = Client(index)
    c.start()
    out = c.send(Query("SELECT id, nickname FROM t WHERE id = 1"))
    err = out[0]
    assert isinstance(err, ErrorResponse) and err.sqlstate == "UN001"
    assert "SELECT id, name FROM t WHERE id = $1" in (err.detail or "")
    assert out[-1] == ReadyForQuery(IDLE)
    assert _codes(c.send(Query(f"{BY_ID}1")))[-1] == "ReadyForQuery"


def test_extended_pipeline(index: SqlIndex) -> None:
    c = Client(index)
    c.start()
    sql = BY_ID + "$1"
    out = c.send(
        Parse("s1", sql),
        Describe(TargetKind.STATEMENT, "s1"),
        Bind("", "s1", (), (b"1",), (1,)),
        Execute("", 0),
        Bind("p2", "s1", (), (b"2",), ()),
        Describe(TargetKind.PORTAL, "p2"),
        Execute("p2", 0),
        Sync(),
    )
    text = (FieldDescription("id", type_oid=23, type_size=4), FieldDescription("name"))
    assert out == [
        ParseComplete(),
        ParameterDescription((20,)),
        RowDescription(text),
        BindComplete(),
        DataRow((b"\x00\x00\x00\x01", b"one")),
        CommandComplete("SELECT 1"),
        BindComplete(),
        RowDescription(text),
        DataRow((b"2", b"two")),
        CommandComplete("SELECT 1"),
        ReadyForQuery(IDLE),
    ]


def test_extended_errors_discard_until_sync(index: SqlIndex) -> None:
    c = Client(index)
    c.start()
    out = c.send(
        Parse("s", f"{BY_ID}1"), Parse("s", f"{BY_ID}2"), Bind("", "s"), Execute(""), Sync()
    )
    assert _codes(out) == ["ParseComplete", "ErrorResponse", "ReadyForQuery"]
    assert out[1].sqlstate == "42P05"  # type: ignore[union-attr]
    out = c.send(Bind("", "nope"), Execute(""), Sync())
    assert out[0].sqlstate == "26000" and out[1] == ReadyForQuery(IDLE)  # type: ignore[union-attr]
    out = c.send(Execute("missing"), Sync())
    assert out[0].sqlstate == "34000"  # type: ignore[union-attr]
    out = c.send(Parse("", f"{BY_ID}1; {BY_ID}2"), Sync())
    assert out[0].sqlstate == "42601"  # type: ignore[union-attr]
    out = c.send(Bind("", "s", (), (b"1",)), Sync())
    assert out[0].sqlstate == "08P01"  # type: ignore[union-attr]  # 1 param for 0


def test_transactions_and_25p02(index: SqlIndex) -> None:
    c = Client(index)
    c.start()
    assert c.send(Query("BEGIN"))[-1] == ReadyForQuery(IN_TX)
    out = c.send(Query("INSERT INTO t VALUES (1)"))
    assert out[0].sqlstate == "23505" and out[-1] == ReadyForQuery(FAILED)  # type: ignore[union-attr]
    out = c.send(Query(f"{BY_ID}1"))
    assert out[0].sqlstate == "25P02" and out[-1] == ReadyForQuery(FAILED)  # type: ignore[union-attr]
    out = c.send(Parse("", f"{BY_ID}1"), Sync())
    assert out[0].sqlstate == "25P02"  # type: ignore[union-attr]
    assert c.send(Query("ROLLBACK")) == [CommandComplete("ROLLBACK"), ReadyForQuery(IDLE)]
    out = c.send(Query("COMMIT"))
    assert isinstance(out[0], NoticeResponse) and out[0].sqlstate == "25P01"
    out = c.send(Query("SAVEPOINT a"))
    assert out[0].sqlstate == "25P01"  # type: ignore[union-attr]
    out = c.send(Query("BEGIN; SAVEPOINT a; INSERT INTO t VALUES (1)"))
    assert out[-1] == ReadyForQuery(FAILED)
    out = c.send(Query("ROLLBACK TO SAVEPOINT a; RELEASE a; COMMIT"))
    assert _codes(out) == ["CommandComplete"] * 3 + ["ReadyForQuery"]
    assert out[-1] == ReadyForQuery(IDLE)


def test_delay_then_cancel_only_the_waiting_statement(index: SqlIndex) -> None:
    c = Client(index, latency="recorded")
    c.start()
    out = c.send(Query("SELECT pause FROM slow"), Query(f"{BY_ID}1"))
    assert out == [] and isinstance(c.actions[0], Wait)
    assert c.actions[0].seconds == pytest.approx(0.05)  # type: ignore[attr-defined]
    assert c.conn.backlog == 1  # the second query waits behind the first
    out = c.cancel()
    assert out == [out[0], ReadyForQuery(IDLE)] and out[0].sqlstate == "57014"  # type: ignore[union-attr]
    assert isinstance(c.actions[0], Wait)  # the next query runs, with its own 1 ms latency
    out = c.resume()
    assert _codes(out) == ["RowDescription", "DataRow", "CommandComplete", "ReadyForQuery"]
    assert c.cancel() == []  # nothing waits: a cancel does nothing
    out = c.send(Query("SELECT pause FROM slow"))
    assert out == [] and c.resume()[1] == DataRow((b"zz",))


def test_portal_rows_in_chunks(index: SqlIndex) -> None:
    c = Client(index)
    c.start()
    out = c.send(
        Parse("", "SELECT n FROM numbers"), Bind("", ""), Execute("", 2), Execute("", 2), Sync()
    )
    assert out[2:] == [
        DataRow((b"1",)),
        DataRow((b"2",)),
        PortalSuspended(),
        DataRow((b"3",)),
        CommandComplete("SELECT 3"),
        ReadyForQuery(IDLE),
    ]


def test_cancel_request_connection(index: SqlIndex) -> None:
    c = Client(index)
    assert c.send(CancelRequest(42, b"\x01\x02\x03\x04")) == []
    assert c.actions == [CancelOther(42, b"\x01\x02\x03\x04"), Close()]


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",  # not PostgreSQL at all
        encode(StartupMessage({"user": "a"})) + b"z\x00\x00\x00\x04",  # unknown message type
        encode(StartupMessage({"user": "a"})) + b"Q\x7f\xff\xff\xff",  # frame over the cap
        encode(StartupMessage({"user": "a"})) + b"Q\x00\x00\x00\x05x",  # Query without NUL
    ],
)
def test_bad_input_is_fatal(index: SqlIndex, data: bytes) -> None:
    c = Client(index, max_frame=1 << 20)
    out = c.raw(data)
    assert isinstance(out[-1], ErrorResponse) and out[-1].severity == "FATAL"
    assert isinstance(c.actions[-1], Close)
    assert c.raw(encode(Query("SELECT 1"))) == []  # closed: nothing more is read


def test_scram_authentication(index: SqlIndex) -> None:
    verifier = ScramVerifier.from_password("pw")
    for password, ok in (("pw", True), ("nope", False)):
        c = Client(index, password="pw", verifier=verifier)
        assert c.start() == [AuthenticationSASL(("SCRAM-SHA-256",))]
        client = ScramClient(password)
        out = c.send(
            AuthenticationResponse.from_sasl_initial_response("SCRAM-SHA-256", client.first())
        )
        assert isinstance(out[0], AuthenticationSASLContinue)
        out = c.send(AuthenticationResponse.from_sasl_response(client.final(out[0].data)))
        if ok:
            assert isinstance(out[0], AuthenticationSASLFinal) and client.verify(out[0].data)
            assert out[1] == AuthenticationOk() and out[-1] == ReadyForQuery(IDLE)
        else:
            assert out[0].sqlstate == "28P01" and isinstance(c.actions[-1], Close)  # type: ignore[union-attr]


def test_md5_authentication(index: SqlIndex) -> None:
    c = Client(index, password="pw", auth_method="md5")
    out = c.start()
    assert isinstance(out[0], AuthenticationMD5Password)
    out = c.send(AuthenticationResponse.from_password(md5_password("pw", "app", out[0].salt)))
    assert out[0] == AuthenticationOk()
    bad = Client(index, password="pw", auth_method="md5")
    bad.start()
    out = bad.send(AuthenticationResponse.from_password("md5" + "0" * 32))
    assert out[0].sqlstate == "28P01"  # type: ignore[union-attr]


def test_native_settings_transcript(index: SqlIndex) -> None:
    c = Client(index)
    c.start()
    out = c.send(
        Query("SET application_name TO 'x'; SHOW application_name; RESET application_name")
    )
    assert out[:2] == [CommandComplete("SET"), ParameterStatus("application_name", "x")]
    assert out[3] == DataRow((b"x",))
    assert ParameterStatus("application_name", "") in out
    out = c.send(Query("SHOW no_such_thing"))
    assert out[0].sqlstate == "42704"  # type: ignore[union-attr]
    out = c.send(Query("SELECT current_setting('server_version')"))
    assert out[1] == DataRow((b"15.4",))
