"""`understudy record --mode reverse:URL`: clients talk to the recorder as if it were the API."""

from __future__ import annotations

import asyncio
import json
import signal

import aiohttp
import httpx
import pytest
from http_tape_helpers import marker, read_rows, trusting, wait_rows, with_query

from fixtures.http_upstream import PAYLOAD, UpstreamServer, make_self_signed
from understudy.tape import read_meta


@pytest.fixture(scope="module")
def reverse(tmp_path_factory, start_module_recorder, upstream):
    tape = tmp_path_factory.mktemp("reverse") / "reverse.tape"
    return start_module_recorder(
        tape, "--mode", f"reverse:{upstream.url}", "--flush-interval", "100ms"
    )


def test_get_and_post(reverse, upstream) -> None:
    m = marker()
    with httpx.Client(base_url=reverse.url) as c:
        assert c.get(f"/json?m={m}").json() == PAYLOAD
        body = {"name": "bob", "tags": ["a", "b"]}
        assert c.post(f"/sink?m={m}", json=body).status_code == 200
    rows = sorted(wait_rows(reverse.tape, with_query(m), n=2), key=lambda r: r["ts_start"])
    assert [(r["method"], r["path"], r["status"]) for r in rows] == [
        ("GET", "/json", 200), ("POST", "/sink", 200),
    ]  # fmt: skip
    assert all(r["host"] == "127.0.0.1" and r["port"] == upstream.port for r in rows)
    assert json.loads(rows[1]["request_body"]) == body


def test_httpx_http2_over_tls(tmp_path, start_recorder, h2_upstream) -> None:
    rec = start_recorder(tmp_path / "h2.tape", "--mode", f"reverse:{h2_upstream.url}",
                         "--flush-interval", "100ms")  # fmt: skip
    m = marker()
    with httpx.Client(verify=trusting(rec.ca, http2=True), http2=True) as c:
        r = c.get(f"https://127.0.0.1:{rec.port}/json?m={m}")
    assert r.http_version == "HTTP/2" and r.json() == PAYLOAD
    (row,) = wait_rows(rec.tape, with_query(m))
    assert row["http_version"] == "HTTP/2.0" and row["scheme"] == "https"
    assert row["port"] == h2_upstream.port


async def _websocket_session(url: str, messages: list[str]) -> list[str]:
    got = []
    async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
        for text in messages:
            await ws.send_str(text)
            got.append((await ws.receive()).data)
    return got


def test_websocket_and_exit_counters(tmp_path, start_recorder, upstream) -> None:
    rec = start_recorder(tmp_path / "ws.tape", "--mode", f"reverse:{upstream.url}")
    m = marker()
    echoed = asyncio.run(_websocket_session(f"ws://127.0.0.1:{rec.port}/ws?m={m}", ["a", "bb"]))
    assert echoed == ["a", "bb"]
    with httpx.Client(base_url=rec.url) as c:
        for _ in range(3):
            c.get(f"/large?size=2000000&m={m}")  # 2 MB: above --max-body (1 MiB)
    assert rec.stop(signal.SIGTERM) == 0
    err = rec.stderr
    assert "4 http exchanges captured" in err
    assert "4 http exchanges committed to the tape" in err
    assert "0 http exchanges dropped" in err
    assert "3 http bodies truncated" in err
    assert "4 http websocket messages" in err  # 2 sent + 2 echoed
    assert "Traceback" not in err
    rows = read_rows(rec.tape)
    ws = [r for r in rows if r["flow_kind"] == "websocket"]
    assert len(ws) == 1 and ws[0]["status"] == 101 and ws[0]["path"] == "/ws"
    assert read_meta(rec.tape)["ended"]  # stamped on a clean exit


def test_untrusted_upstream_certificate_is_a_recorded_tls_failure(tmp_path, start_recorder) -> None:
    cert = make_self_signed(tmp_path / "untrusted")  # not in the recorder's trust store
    with UpstreamServer.start(cert=cert) as bad:
        rec = start_recorder(tmp_path / "tls.tape", "--mode", f"reverse:{bad.url}",
                             "--flush-interval", "100ms")  # fmt: skip
        m = marker()
        r = httpx.get(f"{rec.url}/json?m={m}")
        assert r.status_code == 502
        (row,) = wait_rows(rec.tape, with_query(m))
    assert row["status"] is None and row["error"].startswith("tls failure: ")
    assert bad.counts["total"] == 0  # nothing reached the upstream
