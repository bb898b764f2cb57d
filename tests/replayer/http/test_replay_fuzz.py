"""Hostile and broken clients: the reverse-mode front door keeps serving everyone else."""

from __future__ import annotations

import http.client
import socket
import time

import pytest
from http_worlds import HOST, auth
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from replayer.http.parser import HttpParseError, RequestParser

GOOD = b"GET /api/items/1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pro-key-1\r\n\r\n"
VALID = [
    GOOD,
    b"POST /api/orders HTTP/1.1\r\nContent-Length: 24\r\nContent-Type: application/json\r\n"
    b'\r\n{"sku": "a-1", "qty": 2}',
    b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
]


@pytest.fixture(scope="module")
def server(world_dir, start_module_replayer):
    return start_module_replayer(world_dir, "--mode", f"reverse:https://{HOST}",
                                 "--header-timeout", "1s", "--max-body", "64KiB")  # fmt: skip


@pytest.fixture(scope="module")
def witness(server):
    """A well-behaved client on its own keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    yield conn
    conn.close()


def well_served(conn: http.client.HTTPConnection) -> bool:
    conn.request("GET", "/api/items/2", headers=auth("pro-key-1"))
    resp = conn.getresponse()
    return resp.status == 200 and resp.read() == b'{"id": 2, "name": "item 2", "tags": ["x"]}'


def exchange(port: int, data: bytes, *, read_for: float = 0.3) -> bytes:
    """Send ``data`` on a fresh connection; what came back within ``read_for`` seconds."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_for) as s:
        try:
            s.sendall(data)
        except OSError:
            return b""
        out = b""
        try:
            while chunk := s.recv(65536):
                out += chunk
        except OSError:
            pass
        return out


mutated = st.sampled_from(VALID).flatmap(
    lambda raw: st.tuples(st.just(raw), st.integers(0, len(raw)), st.binary(max_size=12),
                          st.integers(0, len(raw))).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[3] :]
    )
)  # fmt: skip
requests_ = st.one_of(st.binary(max_size=300), mutated, st.sampled_from(VALID).map(
    lambda raw: raw[: len(raw) // 2]))  # fmt: skip


@given(st.lists(st.binary(max_size=64), max_size=8))
@settings(max_examples=300, deadline=None)
def test_parser_only_raises_parse_errors(chunks: list[bytes]) -> None:
    p = RequestParser(max_body=1000, max_head=512)
    try:
        for c in chunks:
            p.feed(c)
            while p.next_request() is not None:
                pass
    except HttpParseError as exc:
        assert 400 <= exc.status < 600


@given(requests_)
@settings(max_examples=70, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
def test_front_door_survives_garbage(server, witness, data: bytes) -> None:
    answer = exchange(server.port, data, read_for=0.1)
    assert answer == b"" or answer.startswith(b"HTTP/1.1 ")
    assert well_served(witness)


def test_oversized_head_and_body_are_refused(server, witness) -> None:
    huge_head = b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    assert exchange(server.port, huge_head, read_for=2).startswith(b"HTTP/1.1 431 ")
    big_body = b"POST /api/orders HTTP/1.1\r\nContent-Length: 70000\r\n\r\n" + b"x" * 70_000
    assert exchange(server.port, big_body, read_for=2).startswith(b"HTTP/1.1 413 ")
    assert exchange(server.port, b"NOT HTTP AT ALL\r\n\r\n", read_for=2).startswith(
        b"HTTP/1.1 400 "
    )
    assert well_served(witness)


def test_slowloris_is_cut_off_and_others_are_served(server, witness) -> None:
    slow = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(30)]
    try:
        for s in slow:
            s.sendall(b"GET /api/items/1 HTTP/1.1\r\n")
        start = time.monotonic()
        while time.monotonic() - start < 0.8:
            for s in slow:
                s.sendall(b"X: y\r\n")  # a header line at a time, never the end
            assert well_served(witness)
            time.sleep(0.1)
        time.sleep(1.5)  # past --header-timeout 1s (deadlines are checked twice a second)
        for s in slow:
            s.settimeout(2)
            got = b""
            try:
                while chunk := s.recv(4096):
                    got += chunk
            except OSError:
                pass
            assert got.startswith(b"HTTP/1.1 408 ") or got == b""
    finally:
        for s in slow:
            s.close()
    assert well_served(witness)


def test_clients_leaving_during_a_delay_do_not_disturb_others(server, witness) -> None:
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", server.port))
        s.sendall(b"GET /api/slow HTTP/1.1\r\nHost: x\r\n\r\n")  # 20-160 ms recorded delay
        s.close()
    half = socket.create_connection(("127.0.0.1", server.port))
    half.sendall(b"POST /api/orders HTTP/1.1\r\nContent-Length: 100\r\n\r\nonly part")
    half.close()
    time.sleep(0.3)
    assert well_served(witness)
    report_probe = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    report_probe.request("GET", "/api/slow", headers=auth("pro-key-1"))
    assert report_probe.getresponse().status == 200
    report_probe.close()


def test_report_counts_clients_that_left(server) -> None:
    report = server.stop()
    assert report["totals"]["outcomes"].get("client_gone", 0) >= 1
    assert report["totals"]["requests"] > 0
