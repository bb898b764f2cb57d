"""`understudy replay` in proxy mode: candidates keep their real URLs, HTTPS via mitmproxy's CA.

Nothing listens for ``api.example.test`` (the name does not even resolve): every answer here
comes from the world, so a replayer that dialled the upstream would answer 502 instead.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import requests
from http_worlds import HOST, LIMITED_BODY, REFUSED_BODY, WorldBuilder, auth, empty_doc

from fixtures.http_upstream import PAYLOAD
from understudy.tape import open_tape

BASE = f"https://{HOST}"


@pytest.fixture(scope="module")
def confdir(tmp_path_factory):
    return tmp_path_factory.mktemp("mitm-confdir")


@pytest.fixture(scope="module")
def proxy(world_dir, start_module_replayer, confdir):
    return start_module_replayer(world_dir, "--latency", "off", confdir=confdir)


def trusting(proxy) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(proxy.ca))


def test_httpx_https_exact_replay(proxy) -> None:
    with httpx.Client(proxy=proxy.url, verify=trusting(proxy)) as c:
        r = c.get(f"{BASE}/api/items/2", headers=auth("pro-key-1"))
    assert r.status_code == 200
    assert r.content == b'{"id": 2, "name": "item 2", "tags": ["x"]}'


def test_requests_https_route_answer_and_refusal(proxy) -> None:
    proxies = {"https": proxy.url, "http": proxy.url}
    r = requests.get(f"{BASE}/api/items/55", headers=auth("pro-key-1"), proxies=proxies,
                     verify=str(proxy.ca), timeout=10)  # fmt: skip
    assert r.status_code == 200 and r.json()["id"] == 55
    refused = requests.get(f"{BASE}/api/admin/stats", headers=auth("free-key-1"),
                           proxies=proxies, verify=str(proxy.ca), timeout=10)  # fmt: skip
    assert refused.status_code == 403 and refused.content == REFUSED_BODY


def test_curl_https_miss_is_599_not_an_upstream_error(proxy, tmp_path) -> None:
    body_file = tmp_path / "body"
    out = subprocess.run(["curl", "-sS", "-D", "-", "-o", str(body_file), "-x", proxy.url,
                          "--cacert", str(proxy.ca), f"{BASE}/api/nothing/here"],
                         capture_output=True, check=True, timeout=30)  # fmt: skip
    head = out.stdout.strip().split(b"\r\n\r\n")[-1].lower()  # after the CONNECT answer
    assert head.split(b"\r\n")[0].split()[1] == b"599"
    assert b"x-understudy-miss: 1" in head
    assert json.loads(body_file.read_bytes())["nearest"][0]["host"] == HOST


async def _hammer(proxy, key: str, seconds: float) -> tuple[int, float]:
    accepted = 0
    async with httpx.AsyncClient(proxy=proxy.url, verify=trusting(proxy),
                                 headers=auth(key)) as client:  # fmt: skip

        async def worker(stop: float) -> None:
            nonlocal accepted
            while time.monotonic() < stop:
                r = await client.get(f"{BASE}/api/search", params={"q": "x"})
                if r.status_code == 200:
                    accepted += 1
                else:
                    assert r.status_code == 429 and r.content == LIMITED_BODY
                    assert int(r.headers["retry-after"]) >= 1

        start = time.monotonic()
        await asyncio.gather(*(worker(start + seconds) for _ in range(4)))
        return accepted, time.monotonic() - start


def test_rate_limit_through_the_proxy(proxy) -> None:
    accepted, duration = asyncio.run(_hammer(proxy, "proxy-free-client", 3.0))
    assert accepted / duration == pytest.approx(5.0 + 5 / duration, rel=0.15)


def test_delays_do_not_block_the_proxy(world_dir, start_replayer, confdir) -> None:
    rep = start_replayer(world_dir, "--seed", "1", confdir=confdir)

    def one(_: int) -> float:
        with httpx.Client(proxy=rep.url, verify=trusting(rep)) as c:
            t = time.perf_counter()
            assert c.get(f"{BASE}/api/slow").status_code == 200
            return time.perf_counter() - t

    one(0)  # warm up (TLS, CA)
    start = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        each = list(pool.map(one, range(8)))
    wall = time.perf_counter() - start
    assert min(each) >= 0.018  # recorded delays: 20-160 ms
    assert wall < sum(each) * 0.6  # served concurrently, not one after another
    report = rep.stop()
    (slow,) = [r for r in report["routes"] if r["route"] == "/api/slow"]
    assert slow["requests"] == 9 and slow["served_latency_ms"]["p50"] >= 20


def _loopback_world(tmp_path):
    b = WorldBuilder()
    b.exchange("GET", "/json", "/json", b.response(200, PAYLOAD), host="127.0.0.1")
    return b.write(tmp_path / "loopback.world", empty_doc())


def test_default_deny_and_forwarding(tmp_path, start_replayer, confdir, upstream) -> None:
    world = _loopback_world(tmp_path)
    deny = start_replayer(world, "--latency", "off", confdir=confdir)
    before = upstream.counts["total"]
    with httpx.Client(proxy=deny.url) as c:
        assert c.get(f"{upstream.url}/json").json() == PAYLOAD
        assert c.get(f"{upstream.url}/n/3").status_code == 599
    deny.stop()
    assert upstream.counts["total"] == before

    tape = tmp_path / "proxy-session.tape"
    fwd = start_replayer(world, "--latency", "off", "--on-miss", "forward",
                         "--session-tape", str(tape), confdir=confdir)  # fmt: skip
    with httpx.Client(proxy=fwd.url) as c:
        r = c.get(f"{upstream.url}/n/3")
        assert r.status_code == 200 and r.text == "3"
        assert c.get(f"{upstream.url}/json").json() == PAYLOAD
    report = fwd.stop()
    assert upstream.counts["total"] == before + 1
    assert report["misses"][0]["forwarded"] == 1
    rows = open_tape(tape).read("http").to_pylist()
    assert sorted((r["path"], r["status"], r["scheme"]) for r in rows) == [
        ("/json", 200, "http"), ("/n/3", 200, "http"),
    ]  # fmt: skip
