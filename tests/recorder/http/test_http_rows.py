"""flow -> row, transcript style: real mitmproxy flow objects in, tape rows out (no proxy)."""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path

import brotli
import pyarrow as pa
import pytest
import zstandard
from mitmproxy import flow as mflow
from mitmproxy import http
from mitmproxy.test import tflow

from recorder.http.decode import decode_body, parse_encodings
from recorder.http.rows import CaptureSettings, error_text, flow_to_row
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor
from understudy.tape import HTTP_SCHEMA, commit_part, open_tape

REDACTOR = Redactor(RedactionPolicy(), Pseudonymizer(b"k" * 32))
SETTINGS = CaptureSettings()


Headers = dict[str, str] | list[tuple[bytes, bytes]] | None


def _headers(h: Headers) -> http.Headers:
    if isinstance(h, dict):
        return http.Headers([(k.encode(), v.encode()) for k, v in h.items()])
    return http.Headers(h or [])


def make_flow(
    method: str = "GET",
    url: str = "http://api.example.com/v1/items?page=2",
    req_headers: Headers = None,
    req_body: bytes = b"",
    status: int | None = 200,
    resp_headers: Headers = None,
    resp_body: bytes = b"",
) -> http.HTTPFlow:
    """A flow as mitmproxy hands it to the hooks: headers and raw bodies as on the wire."""
    req = http.Request.make(method, url)
    req.headers = _headers(req_headers)
    req.raw_content = req_body
    req.timestamp_start = 1_700_000_000.0
    req.timestamp_end = 1_700_000_000.001
    f = tflow.tflow(req=req)
    if status is not None:
        resp = http.Response.make(status)
        resp.headers = _headers(resp_headers)
        resp.raw_content = resp_body
        resp.timestamp_start = 1_700_000_000.010
        resp.timestamp_end = 1_700_000_000.025
        f.response = resp
    return f


def row_of(f: http.HTTPFlow, settings: CaptureSettings = SETTINGS) -> dict:
    return flow_to_row(f, settings, REDACTOR)


def test_row_has_every_column_and_commits(tmp_path: Path) -> None:
    f = make_flow(req_headers={"traceparent": "00-abc-def-01"}, resp_body=b'{"a": 1}')
    row = row_of(f)
    assert set(row) == set(HTTP_SCHEMA.names)
    (tmp_path / "http").mkdir()
    commit_part(tmp_path / "http", "http", [row])
    back = open_tape(tmp_path).read("http").to_pylist()[0]
    assert back["method"] == "GET" and back["host"] == "api.example.com" and back["port"] == 80
    assert back["path"] == "/v1/items" and back["query"] == "page=2"
    assert back["status"] == 200 and back["response_body"] == b'{"a": 1}'
    assert back["duration_ms"] == pytest.approx(25.0, abs=0.01)
    assert back["traceparent"] == "00-abc-def-01"
    assert back["flow_kind"] == "http" and back["error"] is None
    assert back["client_addr"] == "127.0.0.1:22" and back["exchange_id"] == f.id.replace("-", "")


@pytest.mark.parametrize(
    ("coding", "encode"),
    [
        ("gzip", gzip.compress),
        ("br", brotli.compress),
        ("zstd", lambda b: zstandard.ZstdCompressor().compress(b)),
        ("deflate", zlib.compress),
        ("deflate", lambda b: zlib.compress(b)[2:-4]),  # raw deflate, no zlib header
    ],
)
def test_bodies_are_decoded_and_the_encoding_kept(coding: str, encode) -> None:
    body = json.dumps({"items": list(range(100))}).encode()
    f = make_flow(resp_headers={"content-encoding": coding}, resp_body=encode(body))
    row = row_of(f)
    assert row["response_body"] == body and row["response_body_size"] == len(body)
    assert row["response_content_encoding"] == coding and row["error"] is None


def test_invalid_encoding_keeps_raw_bytes_and_says_why() -> None:
    f = make_flow(resp_headers={"content-encoding": "gzip"}, resp_body=b"not gzip")
    row = row_of(f)
    assert row["response_body"] == b"not gzip" and row["status"] == 200
    assert row["error"].startswith("invalid content-encoding: gzip: ")


def test_unknown_encoding_is_an_error_not_a_crash() -> None:
    row = row_of(make_flow(resp_headers={"content-encoding": "rot13"}, resp_body=b"abc"))
    assert row["response_body"] == b"abc" and "unsupported coding 'rot13'" in row["error"]


def test_truncation_keeps_the_true_size() -> None:
    body = b"x" * 5000
    row = row_of(make_flow(resp_body=body, req_body=b"y" * 10), CaptureSettings(max_body=1000))
    assert row["response_body"] == b"x" * 1000 and row["response_body_size"] == 5000
    assert row["response_body_truncated"] is True
    assert row["request_body"] == b"y" * 10 and row["request_body_truncated"] is False


def test_decompression_bomb_is_bounded() -> None:
    bomb = gzip.compress(b"\0" * 50_000_000)
    d = decode_body(bomb, "gzip", keep=1000)
    assert len(d.data) == 1000 and d.size == 50_000_000 and not d.complete
    assert decode_body(bomb, "gzip", keep=1000, ceiling=1_000_000).size is None


def test_chained_encodings() -> None:
    body = b"hello " * 100
    both = brotli.compress(gzip.compress(body))
    assert parse_encodings("gzip, br") == ["gzip", "br"]
    assert decode_body(both, "gzip, br", keep=10_000).data == body


def test_concatenated_gzip_members() -> None:
    d = decode_body(gzip.compress(b"one ") + gzip.compress(b"two"), "gzip", keep=100)
    assert d.data == b"one two" and d.error is None


def test_secrets_are_redacted_in_both_directions() -> None:
    f = make_flow(
        method="POST",
        url="http://api.example.com/login?api_key=QK1&page=3",
        req_headers={
            "Authorization": "Bearer TOKEN1",
            "Cookie": "sid=CK1; theme=dark",
            "Content-Type": "application/json",
        },
        req_body=json.dumps({"user": {"password": "PW1", "name": "bob"}}).encode(),
        resp_headers={"Set-Cookie": "sid=CK2; Path=/", "Content-Type": "application/json"},
        resp_body=json.dumps({"data": {"token": "TK1"}}).encode(),
    )
    row = row_of(f)
    blob = json.dumps(row, default=lambda b: b.decode())
    for secret in ("TOKEN1", "CK1", "QK1", "PW1", "CK2", "TK1"):
        assert secret not in blob
    assert row["query"].startswith("api_key=redacted%3A") and row["query"].endswith("&page=3")
    cookie = dict(row["request_headers"])["Cookie"]
    assert cookie.startswith("sid=redacted:") and "; theme=redacted:" in cookie
    assert row["identity"] == REDACTOR.token("TOKEN1")


def test_identity_is_equal_for_equal_keys_only() -> None:
    def ident(value: str) -> str | None:
        return row_of(make_flow(req_headers={"X-Api-Key": value}))["identity"]

    assert ident("key-a") == ident("key-a") != ident("key-b")
    assert row_of(make_flow())["identity"] is None


def test_header_order_duplicates_and_bad_bytes() -> None:
    fields = [(b"X-B", b"1"), (b"X-A", b"2"), (b"X-B", b"3"), (b"X-Bin", b"\xff\xfe")]
    row = row_of(make_flow(req_headers=fields))
    assert row["request_headers"][:3] == [("X-B", "1"), ("X-A", "2"), ("X-B", "3")]
    assert row["request_headers"][3] == ("X-Bin", "\\xff\\xfe")
    pa.Table.from_pylist([row], schema=HTTP_SCHEMA)  # valid UTF-8 everywhere


def test_json_with_lone_surrogates_does_not_crash() -> None:
    body = b'{"password": "pw", "note": "\\ud800"}'
    row = row_of(make_flow(resp_headers={"content-type": "application/json"}, resp_body=body))
    assert b"pw" not in row["response_body"].replace(b"password", b"")
    pa.Table.from_pylist([row], schema=HTTP_SCHEMA)


def test_structured_bodies_beyond_the_redaction_window_are_dropped() -> None:
    doc = json.dumps({"password": "PWX", "pad": "z" * 5000}).encode()
    settings = CaptureSettings(max_body=100, redact_window=1000)
    row = row_of(
        make_flow(resp_headers={"content-type": "application/json"}, resp_body=doc), settings
    )
    assert row["response_body"] == b"" and row["response_body_truncated"] is True
    assert row["response_body_size"] == len(doc)
    # within the window the document is redacted whole, then cut
    row = row_of(
        make_flow(resp_headers={"content-type": "application/json"}, resp_body=doc),
        CaptureSettings(max_body=100),
    )
    assert len(row["response_body"]) == 100 and b"PWX" not in row["response_body"]


def test_streamed_response_records_headers_and_size() -> None:
    f = make_flow(resp_headers={"content-length": "12345"})
    assert f.response is not None
    f.response.stream = True
    f.response.raw_content = None
    row = row_of(f)
    assert row["flow_kind"] == "stream" and row["response_body"] == b""
    assert row["response_body_size"] == 12345 and row["response_body_truncated"] is True


def test_websocket_kind() -> None:
    f = make_flow(status=101)
    f.websocket = tflow.twebsocket()
    assert row_of(f)["flow_kind"] == "websocket"


def test_failed_exchange_has_error_and_no_status() -> None:
    f = make_flow(status=None)
    f.error = mflow.Error("Connect call failed ('127.0.0.1', 9)", timestamp=1_700_000_000.5)
    row = row_of(f)
    assert row["status"] is None and row["response_headers"] is None
    assert row["error"] == "upstream refused: Connect call failed ('127.0.0.1', 9)"
    assert row["duration_ms"] == pytest.approx(500.0, abs=0.01)


@pytest.mark.parametrize(
    ("msg", "short"),
    [
        ("Client disconnected.", "client disconnected"),
        ("Server disconnected.", "upstream disconnected"),
        ("peer closed connection", "upstream disconnected"),
        ("[Errno 111] Connection refused", "upstream refused"),
        ("TimeoutError: timed out", "timeout"),
        ("TLS handshake failed: certificate verify failed", "tls failure"),
        ("Connection killed.", "killed by recorder"),
        ("something new", "proxy error"),
    ],
)
def test_error_texts_are_short_and_stable(msg: str, short: str) -> None:
    assert error_text(msg) == f"{short}: {msg}"


def test_mislabelled_encoding_is_still_redacted() -> None:
    body = json.dumps({"password": "PW-MISLABELLED"}).encode()
    f = make_flow(
        resp_headers={"content-encoding": "gzip", "content-type": "application/json"},
        resp_body=body,
    )
    row = row_of(f)
    assert row["error"].startswith("invalid content-encoding: gzip")
    assert b"PW-MISLABELLED" not in row["response_body"]
    assert json.loads(row["response_body"])["password"].startswith("redacted:")


def test_failed_connect_is_recorded_with_mitmproxys_reason() -> None:
    f = make_flow(method="CONNECT", url="http://127.0.0.1:9/", status=502)
    f.request.raw_content = None  # a CONNECT has no body
    assert f.response is not None
    f.response.raw_content = (
        b"Cannot connect to 127.0.0.1:9: Connect call failed ('127.0.0.1', 9) "
        b"If you plan to redirect requests away from this server, ..."
    )
    row = row_of(f)
    assert (
        row["error"]
        == "upstream refused: Cannot connect to 127.0.0.1:9: Connect call failed ('127.0.0.1', 9)"
    )
    assert row["request_body_size"] == 0 and row["request_body_truncated"] is False
