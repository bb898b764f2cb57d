"""`understudy record` as a regular HTTP(S) proxy: real clients, real upstreams, real tape."""

from __future__ import annotations

import gzip
import json
import socket
import subprocess
import time
from pathlib import Path

import duckdb
import httpx
import polars as pl
import pytest
import requests
from http_tape_helpers import header, marker, trusting, wait_rows, with_query

from fixtures.http_upstream import PAYLOAD
from understudy.testing.postgres import free_port


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, start_module_recorder):
    tape = tmp_path_factory.mktemp("proxy") / "proxy.tape"
    return start_module_recorder(
        tape, "--flush-interval", "100ms", "--max-body", "64KiB", "--identity-header", "X-Api-Key"
    )


@pytest.fixture(scope="module")
def client(proxy):
    with httpx.Client(proxy=proxy.url, verify=trusting(proxy.ca), timeout=30) as c:
        yield c


def test_httpx_plain_http(proxy, client, upstream) -> None:
    m = marker()
    r = client.get(f"{upstream.url}/json?m={m}&page=2")
    assert r.status_code == 200 and r.json() == PAYLOAD
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert (row["method"], row["scheme"], row["host"], row["port"]) == (
        "GET", "http", "127.0.0.1", upstream.port,
    )  # fmt: skip
    assert row["path"] == "/json" and row["query"] == f"m={m}&page=2"
    assert row["status"] == 200 and json.loads(row["response_body"]) == PAYLOAD
    assert row["http_version"] == "HTTP/1.1" and row["flow_kind"] == "http"
    assert row["error"] is None and row["duration_ms"] >= 0
    assert row["ts_end"] >= row["ts_start"]
    assert row["client_addr"].startswith("127.0.0.1:")
    assert row["server_addr"] == f"127.0.0.1:{upstream.port}"


def test_requests_https_through_the_ca(proxy, tls_upstream) -> None:
    m = marker()
    proxies = {"https": proxy.url, "http": proxy.url}
    r = requests.get(f"{tls_upstream.url}/json?m={m}", proxies=proxies, verify=str(proxy.ca))
    assert r.status_code == 200 and r.json() == PAYLOAD
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert row["scheme"] == "https" and row["port"] == tls_upstream.port
    assert json.loads(row["response_body"]) == PAYLOAD


def test_curl_https(proxy, tls_upstream) -> None:
    m = marker()
    out = subprocess.run(
        ["curl", "-sS", "--fail", "-x", proxy.url, "--cacert", str(proxy.ca),
         "-H", "Authorization: Basic dXNlcjpwYXNz", f"{tls_upstream.url}/json?m={m}"],
        capture_output=True, check=True, timeout=30,
    )  # fmt: skip
    assert json.loads(out.stdout) == PAYLOAD
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert header(row["request_headers"], "user-agent").startswith("curl/")
    assert header(row["request_headers"], "authorization").startswith("Basic redacted:")


def test_http2_curl(proxy, h2_upstream) -> None:
    m = marker()
    out = subprocess.run(
        ["curl", "-sS", "--fail", "--http2", "-x", proxy.url, "--cacert", str(proxy.ca),
         "-o", "/dev/null", "-w", "%{http_version}", f"{h2_upstream.url}/json?m={m}"],
        capture_output=True, check=True, timeout=30, text=True,
    )  # fmt: skip
    assert out.stdout == "2"
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert row["http_version"] == "HTTP/2.0" and row["status"] == 200
    assert json.loads(row["response_body"]) == PAYLOAD


def test_http2_httpx(proxy, h2_upstream) -> None:
    m = marker()
    with httpx.Client(proxy=proxy.url, verify=trusting(proxy.ca, http2=True), http2=True) as c:
        r = c.post(f"{h2_upstream.url}/items?m={m}", json={"password": "hunter2"})
    assert r.http_version == "HTTP/2" and r.json() == PAYLOAD
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert row["http_version"] == "HTTP/2.0" and row["method"] == "POST"
    assert row["scheme"] == "https" and row["path"] == "/items"
    assert json.loads(row["request_body"])["password"].startswith("redacted:")


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd", "deflate"])
def test_encoded_bodies_are_stored_decoded(proxy, client, upstream, coding) -> None:
    m = marker()
    r = client.get(f"{upstream.url}/encoded/{coding}?m={m}", headers={"Accept-Encoding": coding})
    assert r.json() == PAYLOAD
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert row["response_content_encoding"] == coding
    assert json.loads(row["response_body"]) == PAYLOAD
    assert row["response_body_size"] == len(row["response_body"])


def test_invalid_content_encoding_is_recorded_with_an_error(proxy, client, upstream) -> None:
    m = marker()
    with client.stream("GET", f"{upstream.url}/bad-encoding?m={m}") as r:
        assert r.status_code == 200 and b"".join(r.iter_raw()) == b"this is not gzip at all"
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert row["response_body"] == b"this is not gzip at all"
    assert row["error"].startswith("invalid content-encoding: gzip")


def test_large_body_is_truncated_with_its_true_size(proxy, client, upstream) -> None:
    m = marker()
    r = client.get(f"{upstream.url}/large?size=200000&m={m}")
    assert len(r.content) == 200000
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert len(row["response_body"]) == 64 * 1024 and row["response_body_truncated"]
    assert row["response_body_size"] == 200000 and row["response_body"] == r.content[: 64 * 1024]


def test_streamed_body_records_headers_and_size(proxy, client, upstream) -> None:
    m = marker()
    r = client.get(f"{upstream.url}/large?size=3000000&m={m}")  # above stream_large_bodies
    assert len(r.content) == 3000000
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert row["flow_kind"] == "stream" and row["response_body"] == b""
    assert row["response_body_size"] == 3000000 and row["status"] == 200


def test_gzip_request_body_is_decoded(proxy, client, upstream) -> None:
    m = marker()
    body = json.dumps({"name": "bob", "n": 1}).encode()
    r = client.post(
        f"{upstream.url}/sink?m={m}",
        content=gzip.compress(body),
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 200
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert row["method"] == "POST" and row["request_body"] == body
    assert row["request_content_encoding"] == "gzip"


def test_header_order_and_duplicates_are_kept(proxy, client, upstream) -> None:
    m = marker()
    client.get(
        f"{upstream.url}/echo?m={m}",
        headers=[("X-Dup", "one"), ("X-Other", "x"), ("X-Dup", "two")],
    )
    (row,) = wait_rows(proxy.tape, with_query(m))
    mine = [
        (h["name"].lower(), h["value"])
        for h in row["request_headers"]
        if h["name"].lower() in ("x-dup", "x-other")
    ]
    assert mine == [("x-dup", "one"), ("x-other", "x"), ("x-dup", "two")]


def test_identity_follows_the_key(proxy, client, upstream) -> None:
    m = marker()
    for key in ("key-a", "key-a", "key-b"):
        client.get(f"{upstream.url}/json?m={m}", headers={"X-Api-Key": key})
    rows = wait_rows(proxy.tape, with_query(m), n=3)
    a1, a2, b = (r["identity"] for r in sorted(rows, key=lambda r: r["ts_start"]))
    assert a1 == a2 != b and a1.startswith("redacted:")


def test_upstream_down_is_recorded(proxy, client) -> None:
    m = marker()
    r = client.get(f"http://127.0.0.1:{free_port()}/nothing?m={m}")
    assert r.status_code == 502
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert row["status"] is None and row["error"].startswith("upstream refused: ")


def test_https_upstream_down_is_recorded(proxy) -> None:
    port = free_port()
    with httpx.Client(proxy=proxy.url, verify=trusting(proxy.ca)) as c:
        with pytest.raises(httpx.ProxyError):
            c.get(f"https://127.0.0.1:{port}/nothing")
    (row,) = wait_rows(proxy.tape, lambda r: r["method"] == "CONNECT" and r["port"] == port)
    assert row["status"] == 502  # mitmproxy answers the failed CONNECT itself
    assert row["error"].startswith("upstream refused: ")


def test_upstream_reset_is_recorded(proxy, client, upstream) -> None:
    m = marker()
    r = client.get(f"{upstream.url}/reset?m={m}")
    assert r.status_code == 502
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert row["status"] is None and row["error"].startswith("upstream disconnected: ")


def test_client_disconnect_mid_body_is_recorded(proxy, client, upstream) -> None:
    m = marker()
    with socket.create_connection(("127.0.0.1", proxy.port)) as s:
        s.sendall(
            f"POST http://127.0.0.1:{upstream.port}/sink?m={m} HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{upstream.port}\r\nContent-Length: 100000\r\n\r\n".encode()
            + b"partial body"
        )
        time.sleep(0.3)
    (row,) = wait_rows(proxy.tape, with_query(m))
    assert row["error"].startswith("client disconnected: ")
    assert client.get(f"{upstream.url}/json").status_code == 200  # still serving


def test_malformed_client_traffic_does_not_stop_the_recorder(proxy, client, upstream) -> None:
    for garbage in (
        b"\x16\x03\x01\x00\x05hello",
        b"NOT HTTP AT ALL\r\n\r\n",
        b"GET / HTTP/9\r\n\r\n",
    ):
        with socket.create_connection(("127.0.0.1", proxy.port)) as s:
            s.sendall(garbage)
            s.settimeout(2)
            try:
                s.recv(1024)
            except OSError:
                pass
    assert proxy.proc.poll() is None
    assert client.get(f"{upstream.url}/json").status_code == 200


def test_every_engine_reads_the_tape(proxy, client, upstream) -> None:
    m = marker()
    client.get(f"{upstream.url}/json?m={m}")
    wait_rows(proxy.tape, with_query(m))
    glob = f"{proxy.tape}/http/*.parquet"
    n_polars = pl.scan_parquet(glob).filter(pl.col("query").str.contains(m)).collect().height
    ((n_duck,),) = duckdb.sql(
        f"select count(*) from read_parquet('{glob}') where query like '%{m}%'"
    ).fetchall()
    assert n_polars == n_duck == 1
    statuses = duckdb.sql(
        f"select status, count(*) from read_parquet('{glob}') group by 1"
    ).fetchall()
    assert (200,) in {(s,) for s, _ in statuses}


def test_files_are_owner_only(proxy) -> None:
    assert (proxy.tape.stat().st_mode & 0o777) == 0o700
    for p in [proxy.tape / "tape.json", *Path(proxy.tape, "http").glob("part-*.parquet")]:
        assert (p.stat().st_mode & 0o777) == 0o600, p
