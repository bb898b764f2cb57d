"""The reverse-mode HTTP/1.1 parser as transcripts: feed these bytes, expect these requests."""

from __future__ import annotations

import pytest

from replayer.http.parser import HttpParseError, RequestParser, parse_head


def feed(*chunks: bytes, **limits: int) -> list[tuple[str, str, bytes, bool]]:
    p = RequestParser(**limits)
    out = []
    for chunk in chunks:
        p.feed(chunk)
        while (r := p.next_request()) is not None:
            out.append((r.method, r.target, r.body, r.keep_alive))
    return out


def test_pipelined_requests_in_one_read() -> None:
    data = (
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
        b"POST /b?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
        b"GET /c HTTP/1.1\r\nConnection: close\r\n\r\n"
    )
    assert feed(data) == [
        ("GET", "/a", b"", True), ("POST", "/b?q=1", b"hello", True), ("GET", "/c", b"", False),
    ]  # fmt: skip


def test_byte_at_a_time() -> None:
    data = b"PUT /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
    assert feed(*(data[i : i + 1] for i in range(len(data)))) == [("PUT", "/x", b"abc", True)]


def test_chunked_body_with_extensions_and_trailers() -> None:
    data = (
        b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: yes\r\n\r\n"
        b"GET /next HTTP/1.1\r\n\r\n"
    )
    assert feed(data) == [("POST", "/up", b"Wikipedia", True), ("GET", "/next", b"", True)]


def test_http10_closes_unless_keep_alive() -> None:
    assert feed(b"GET / HTTP/1.0\r\n\r\n")[0][3] is False
    assert feed(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")[0][3] is True


def test_leading_empty_lines_are_ignored() -> None:
    assert feed(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n") == [("GET", "/", b"", True)]


def test_expect_100_continue_is_announced() -> None:
    p = RequestParser()
    p.feed(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
    assert p.next_request() is None and p.expects_continue
    p.continue_sent = True
    p.feed(b"ok")
    assert p.next_request().body == b"ok"


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (b"GET  / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nName : x\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nA: b\x00c\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400),
        (b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 400),
        (b"POST / HTTP/1.1\r\nExpect: teapot\r\n\r\n", 417),
        (b"POST / HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", 413),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * 70_000 + b"\r\n\r\n", 431),
        (b"GET / HTTP/1.1\r\n" + b"X: a\r\n" * 300 + b"\r\n", 431),
    ],
)
def test_refused_requests(data: bytes, status: int) -> None:
    with pytest.raises(HttpParseError) as exc:
        feed(data, max_body=1_000_000)
    assert exc.value.status == status


def test_chunked_body_over_the_cap_is_413() -> None:
    with pytest.raises(HttpParseError) as exc:
        feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"400\r\n" + b"a" * 1024,
             max_body=1000)  # fmt: skip
    assert exc.value.status == 413


def test_heads_are_memoised_and_shared() -> None:
    heads: dict = {}
    a, b = RequestParser(heads=heads), RequestParser(heads=heads)
    raw = b"GET /same HTTP/1.1\r\nHost: x\r\n\r\n"
    a.feed(raw)
    b.feed(raw)
    assert a.next_request().head is b.next_request().head
    assert list(heads) == [raw]


def test_parse_head_is_pure() -> None:
    h = parse_head(b"DELETE /x HTTP/1.1\r\nconnection: Keep-Alive, Close")
    assert (h.method, h.keep_alive, h.length, h.headers) == (
        "DELETE", False, 0, (("connection", "Keep-Alive, Close"),),
    )  # fmt: skip
