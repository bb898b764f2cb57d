"""Tracker transcripts: feed these messages, expect these rows (no sockets, no server)."""

from __future__ import annotations

from recorder.pg import CaptureSettings, Session, SqlRedactor, Tracker
from understudy.pgwire import (
    AuthenticationOk,
    Bind,
    BindComplete,
    Close,
    CloseComplete,
    CommandComplete,
    CopyData,
    CopyDone,
    CopyInResponse,
    CopyOutResponse,
    DataRow,
    Describe,
    EmptyQueryResponse,
    Execute,
    FieldDescription,
    NoticeResponse,
    NotificationResponse,
    ParameterDescription,
    ParameterStatus,
    Parse,
    ParseComplete,
    PortalSuspended,
    Query,
    ReadyForQuery,
    RowDescription,
    Sync,
    TargetKind,
    TransactionStatus,
    encode_all,
    error_response,
)
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor

REDACTOR = Redactor(RedactionPolicy(), Pseudonymizer(b"k" * 32))
IDLE, IN_TX, FAILED = (ReadyForQuery(s) for s in TransactionStatus)
TP = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def int4(name: str) -> RowDescription:
    return RowDescription((FieldDescription(name, type_oid=23),))


class Transcript:
    """A tracker past authentication, with helpers that feed whole message lists."""

    def __init__(self, settings: CaptureSettings | None = None, **params: str) -> None:
        session = Session("c", "127.0.0.1:5000", {"user": "u", "database": "d", **params})
        self.counts: dict[str, int] = {}
        self.t = Tracker(session, SqlRedactor(REDACTOR), settings, self.count)
        self.now = 1.0
        assert self.server(AuthenticationOk(), ParameterStatus("server_version", "15"), IDLE) == []

    def count(self, name: str, n: int) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def client(self, *messages: object) -> None:
        self.now += 1
        self.t.client_bytes(encode_all(messages), self.now)  # type: ignore[arg-type]

    def server(self, *messages: object) -> list[dict]:
        self.now += 1
        return [row for row, _ in self.t.server_bytes(encode_all(messages), self.now)]  # type: ignore[arg-type]


def pick(rows: list[dict], *keys: str) -> list[tuple]:
    return [tuple(r.get(k) for k in keys) for r in rows]


def test_pipeline_with_an_error_skips_to_sync():
    s = Transcript()
    s.client(
        Parse("", "SELECT $1::int", (23,)), Bind("", "", (1,), (b"\0\0\0\5",)), Execute(""),
        Parse("", "SELECT 1/$1", ()), Bind("", "", (0,), (b"0",)), Execute(""),
        Parse("", "SELECT 3"), Bind("", ""), Execute(""),
        Parse("s4", "SELECT 4"), Sync(),
        Parse("", "SELECT 5"), Bind("", ""), Execute(""), Sync(),
    )  # fmt: skip
    rows = s.server(
        ParseComplete(), BindComplete(), DataRow((b"5",)), CommandComplete("SELECT 1"),
        ParseComplete(), BindComplete(), error_response("22012", "division by zero"), IDLE,
        ParseComplete(), BindComplete(), DataRow((b"5",)), CommandComplete("SELECT 1"), IDLE,
    )  # fmt: skip
    assert pick(rows, "seq", "sql", "params", "command_tag", "sqlstate", "tx_status") == [
        (0, "SELECT $1::int", ["5"], "SELECT 1", None, "idle"),
        (1, "SELECT 1/$1", ["0"], None, "22012", "idle"),
        (2, "SELECT 5", [], "SELECT 1", None, "idle"),  # SELECT 3 never ran, s4 never parsed
    ]
    assert rows[0]["param_types"] == [23] and rows[0]["param_formats"] == [1]
    assert rows[0]["result_rows"] == [[b"5"]] and rows[0]["protocol"] == "extended"
    s.client(Bind("", "s4"), Execute(""), Sync())
    rows = s.server(error_response("26000", 'prepared statement "s4" does not exist'), IDLE)
    assert pick(rows, "sql", "statement_name", "sqlstate") == [(None, "s4", "26000")]
    assert rows[0]["error"].startswith("statement text unknown")


def test_error_reported_before_the_client_sent_sync():
    s = Transcript()
    s.client(Parse("", "SELEC 1"), Bind("", ""), Execute(""))  # a Flush-style pipeline
    assert s.server(error_response("42601", 'syntax error at or near "SELEC"')) == []
    s.client(Parse("", "SELECT 'skipped'"), Bind("", ""), Execute(""))  # discarded by the server
    s.client(Sync(), Query("SELECT 'next' AS n"))
    rows = s.server(IDLE, RowDescription((FieldDescription("n"),)), DataRow((b"next",)),
                    CommandComplete("SELECT 1"), IDLE)  # fmt: skip
    assert pick(rows, "sql", "sqlstate", "protocol") == [
        ("SELEC 1", "42601", "extended"),
        ("SELECT 'next' AS n", None, "simple"),
    ]


def test_failed_parse_without_execute_gives_one_row():
    s = Transcript()
    s.client(Parse("bad", "SELEC"), Describe(TargetKind.STATEMENT, "bad"), Sync())
    rows = s.server(error_response("42601", "syntax error"), IDLE)
    assert pick(rows, "sql", "statement_name", "sqlstate", "command_tag") == [
        ("SELEC", "bad", "42601", None)
    ]


def test_named_statement_described_then_executed_later():
    s = Transcript()
    s.client(Parse("q1", "SELECT name FROM t WHERE id = $1 /*x*/"),
             Describe(TargetKind.STATEMENT, "q1"), Sync())  # fmt: skip
    cols = RowDescription((FieldDescription("name", type_oid=25),))
    assert s.server(ParseComplete(), ParameterDescription((20,)), cols, IDLE) == []
    for i in (7, 8):
        s.client(Bind("p", "q1", (1,), (i.to_bytes(8, "big"),), (1,)), Execute("p"), Sync())
        rows = s.server(BindComplete(), DataRow((b"x",)), CommandComplete("SELECT 1"), IDLE)
        assert pick(rows, "sql", "statement_name", "portal_name", "params", "param_types") == [
            ("SELECT name FROM t WHERE id = $1 /*x*/", "q1", "p", [str(i)], [20])
        ]
        assert rows[0]["columns"] == [{"name": "name", "type_oid": 25}]
        assert rows[0]["result_formats"] == [1]
    s.client(Close(TargetKind.STATEMENT, "q1"), Sync(), Bind("", "q1"), Execute(""), Sync())
    rows = s.server(CloseComplete(), IDLE, error_response("26000", "gone"), IDLE)
    assert pick(rows, "sql", "sqlstate") == [(None, "26000")]  # forgotten at Close


def test_portal_suspension_gives_a_row_per_execute():
    s = Transcript()
    s.client(Query("BEGIN"))
    s.server(CommandComplete("BEGIN"), IN_TX)
    s.client(Parse("", "SELECT n FROM generate_series(1, 3) n"), Bind("c", ""),
             Describe(TargetKind.PORTAL, "c"), Execute("c", 2), Sync())  # fmt: skip
    rows = s.server(ParseComplete(), BindComplete(), int4("n"), DataRow((b"1",)),
                    DataRow((b"2",)), PortalSuspended(), IN_TX)  # fmt: skip
    s.client(Execute("c", 2), Sync())
    rows += s.server(DataRow((b"3",)), CommandComplete("SELECT 1"), IN_TX)
    assert pick(rows, "portal_name", "command_tag", "rows", "result_rows", "tx_status") == [
        ("c", None, 2, [[b"1"], [b"2"]], "in_transaction"),
        ("c", "SELECT 1", 1, [[b"3"]], "in_transaction"),
    ]


def test_simple_query_split_notices_and_notifications():
    s = Transcript()
    s.client(Query(f"SELECT 1 AS a; /* c; */ SELECT ';' AS b /*traceparent='{TP}'*/;"))
    rows = s.server(
        int4("a"), NoticeResponse({"S": "NOTICE", "C": "00000", "M": "hi"}), DataRow((b"1",)),
        CommandComplete("SELECT 1"), NotificationResponse(9, "ch", "x"),
        ParameterStatus("application_name", "app2"), RowDescription((FieldDescription("b"),)),
        DataRow((b";",)), CommandComplete("SELECT 1"), IDLE,
    )  # fmt: skip
    assert pick(rows, "sql", "result_rows", "traceparent", "application_name") == [
        ("SELECT 1 AS a", [[b"1"]], None, None),  # done before application_name changed
        (f"/* c; */ SELECT ';' AS b /*traceparent='{TP}'*/", [[b";"]], TP, "app2"),
    ]
    s.client(Query(""))
    rows = s.server(EmptyQueryResponse(), IDLE)
    assert pick(rows, "sql", "command_tag", "rows", "error") == [("", None, None, None)]


def test_traceparent_from_application_name():
    s = Transcript(application_name=TP)
    s.client(Query("SELECT 1"))
    rows = s.server(int4("x"), DataRow((b"1",)), CommandComplete("SELECT 1"), IDLE)
    assert rows[0]["traceparent"] == TP and rows[0]["application_name"] == TP


def test_copy_in_extended_ignores_the_early_sync():
    s = Transcript()
    s.client(Parse("", "COPY t FROM STDIN"), Bind("", ""), Execute(""), Sync())
    assert s.server(ParseComplete(), BindComplete(), CopyInResponse(0, (0,))) == []
    s.client(CopyData(b"1\n"), CopyData(b"22\n"), CopyDone(), Sync())
    rows = s.server(CommandComplete("COPY 2"), IDLE)
    assert pick(rows, "sql", "command_tag", "rows", "copy_bytes", "tx_status") == [
        ("COPY t FROM STDIN", "COPY 2", 2, 5, "idle")
    ]
    s.client(Query("COPY t TO STDOUT"))
    rows = s.server(CopyOutResponse(0, (0,)), CopyData(b"1\n"), CopyData(b"22\n"), CopyDone(),
                    CommandComplete("COPY 2"), IDLE)  # fmt: skip
    assert pick(rows, "copy_bytes", "rows", "result_rows") == [(5, 2, None)]
    assert s.counts["sql.copy_statements"] == 2


def test_results_are_capped_and_secrets_redacted():
    s = Transcript(CaptureSettings(max_result_rows=2))
    cols = RowDescription((FieldDescription("id", type_oid=23), FieldDescription("api_token")))
    s.client(Query("SELECT id, api_token FROM t"))
    rows = s.server(cols, *(DataRow((str(i).encode(), b"tok%d" % i)) for i in range(5)),
                    CommandComplete("SELECT 5"), IDLE)  # fmt: skip
    tok = REDACTOR.token
    assert rows[0]["rows"] == 5 and rows[0]["result_truncated"] is True
    assert rows[0]["result_rows"] == [[b"0", tok("tok0").encode()], [b"1", tok("tok1").encode()]]
    assert s.counts["sql.result_truncated"] == 1


def test_secret_parameters_and_literals():
    s = Transcript()
    s.client(Parse("", "UPDATE users SET password = $1 WHERE id = $2"),
             Bind("", "", (), (b"hunter2", b"7")), Execute(""), Sync())  # fmt: skip
    rows = s.server(ParseComplete(), BindComplete(), CommandComplete("UPDATE 1"), IDLE)
    assert rows[0]["params"] == [REDACTOR.token("hunter2"), "7"]
    s.client(Query("ALTER ROLE bob PASSWORD 'hunter3'"))
    rows = s.server(CommandComplete("ALTER ROLE"), IDLE)
    assert rows[0]["sql"] == f"ALTER ROLE bob PASSWORD '{REDACTOR.token('hunter3')}'"


def test_garbage_stops_tracking_with_a_marker():
    s = Transcript()
    s.client(Query("SELECT pg_sleep(1)"))
    s.t.client_bytes(b"\x01\0\0\0\x08abcd", 5.0)
    rows = [r for r, _ in s.t.server_bytes(encode_all([IDLE]), 6.0)]
    assert pick(rows, "sql", "command_tag") == [("SELECT pg_sleep(1)", None)]
    assert rows[0]["error"].startswith("parse error (client): unknown frontend message code")
    assert s.t.broken and s.counts == {"sql.parse_errors": 1}
    s.client(Query("SELECT 2"))  # ignored from now on
    assert s.server(CommandComplete("SELECT 1"), IDLE) == []


def test_unexpected_answer_is_a_parse_error():
    s = Transcript()
    rows = s.server(BindComplete())
    assert len(rows) == 1 and "BindComplete with no request pending" in rows[0]["error"]
    assert rows[0].get("sql") is None


def test_close_flushes_in_flight_statements():
    s = Transcript()
    s.client(Query("BEGIN; SELECT 1"))
    assert s.server(CommandComplete("BEGIN")) == []  # held until ReadyForQuery
    s.client(Parse("", "SELECT $1"), Bind("", "", (), (b"x",)), Execute(""), Sync())
    rows = [r for r, _ in s.t.close("client disconnected", 9.0)]
    assert pick(rows, "sql", "command_tag", "tx_status", "error", "params") == [
        ("BEGIN", "BEGIN", None, None, None),
        ("SELECT 1", None, None, "client disconnected", None),
        ("SELECT $1", None, None, "client disconnected", ["x"]),
    ]


def test_frames_split_across_chunks_keep_the_first_byte_time():
    s = Transcript()
    data = encode_all([Query("SELECT 1")])
    s.t.client_bytes(data[:3], 10.0)
    s.t.client_bytes(data[3:], 11.0)
    rows = [
        r
        for r, _ in s.t.server_bytes(
            encode_all([int4("x"), CommandComplete("SELECT 0"), IDLE]), 12.0
        )
    ]
    assert rows[0]["ts_start"] == 10_000_000 and rows[0]["duration_ms"] == 2000.0


def test_rows_waiting_for_ready_are_bounded():
    s = Transcript(CaptureSettings(max_held=2))
    s.client(*[m for i in range(3) for m in (Parse("", f"SELECT {i}"), Bind("", ""), Execute(""))])
    answers = [ParseComplete(), BindComplete(), CommandComplete("SELECT 0")]
    rows = s.server(*answers * 3)
    assert pick(rows, "sql", "tx_status") == [("SELECT 0", None), ("SELECT 1", None)]
    s.client(Sync())
    assert pick(s.server(IDLE), "sql", "tx_status") == [("SELECT 2", "idle")]
