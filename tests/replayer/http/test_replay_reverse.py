"""`understudy replay --mode reverse:URL`: real clients talk to the replayer as to the API."""

from __future__ import annotations

import asyncio
import http.client
import json
import re
import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
import requests
from http_worlds import (
    HOST,
    LIMITED_BODY,
    REFUSED_BODY,
    SLOW_HIST,
    WorldBuilder,
    auth,
    empty_doc,
)
from test_replay_core import histogram_samples, ks_distance

from fixtures.http_upstream import PAYLOAD
from understudy.tape import open_tape

REVERSE = f"reverse:https://{HOST}"


@pytest.fixture(scope="module")
def fast(world_dir, start_module_replayer):
    """Latency off: answers as fast as the server goes."""
    return start_module_replayer(world_dir, "--mode", REVERSE, "--latency", "off",
                                 "--header-timeout", "1s")  # fmt: skip


@pytest.fixture(scope="module")
def timed(world_dir, start_module_replayer):
    """Latency as recorded."""
    return start_module_replayer(world_dir, "--mode", REVERSE, "--seed", "5")


def test_exact_replay_returns_the_recorded_bytes(fast) -> None:
    r = httpx.get(f"{fast.url}/api/items/2", headers=auth("pro-key-1"))
    assert r.status_code == 200
    assert r.content == b'{"id": 2, "name": "item 2", "tags": ["x"]}'
    assert r.headers["content-type"] == "application/json"
    assert "x-understudy-miss" not in r.headers


def test_route_answer_with_requests_and_curl(fast) -> None:
    r = requests.get(f"{fast.url}/api/items/314", headers=auth("free-key-1"), timeout=10)
    assert r.status_code == 200 and r.json()["id"] == 314
    out = subprocess.run(["curl", "-sS", "-i", "-H", "Authorization: Bearer pro-key-1",
                          f"{fast.url}/api/items?page=2"], capture_output=True, check=True,
                         timeout=30)  # fmt: skip
    head, _, body = out.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and json.loads(body)["page"] == 2


def test_sequence_then_last_answer_over_one_keep_alive_connection(fast) -> None:
    with httpx.Client(base_url=fast.url, headers=auth("free-key-2")) as c:
        got = [c.post("/api/orders", json={"sku": "a-1", "qty": 2}).json()["order"]
               for _ in range(4)]  # fmt: skip
    assert got == [1, 2, 3, 3]


def test_unrecorded_route_is_a_miss_with_nearest_candidates(fast) -> None:
    r = httpx.get(f"{fast.url}/api/itemz/1?x=1")
    assert r.status_code == 599 and r.headers["x-understudy-miss"] == "1"
    body = r.json()
    assert body["understudy"] == "miss" and body["request"]["path"] == "/api/itemz/1"
    assert body["nearest"][0]["path"] == "/api/items/1"
    assert set(body["nearest"][0]["differs"]) == {"path", "query"}


def test_refused_class_is_refused(fast) -> None:
    free = httpx.get(f"{fast.url}/api/admin/stats", headers=auth("free-key-1"))
    assert free.status_code == 403 and free.content == REFUSED_BODY
    pro = httpx.get(f"{fast.url}/api/admin/stats", headers=auth("pro-key-1"))
    assert pro.status_code == 200 and pro.json() == {"stats": {"users": 42}}


async def _hammer(url: str, key: str, seconds: float, workers: int = 4) -> tuple[int, int, float]:
    accepted = limited = 0
    retry_afters: set[str] = set()

    async def worker(client: httpx.AsyncClient, stop: float) -> None:
        nonlocal accepted, limited
        while time.monotonic() < stop:
            r = await client.get("/api/search", params={"q": "x"})
            if r.status_code == 200:
                accepted += 1
            else:
                assert r.status_code == 429 and r.content == LIMITED_BODY
                retry_afters.add(r.headers["retry-after"])
                limited += 1

    async with httpx.AsyncClient(base_url=url, headers=auth(key)) as client:
        start = time.monotonic()
        await asyncio.gather(*(worker(client, start + seconds) for _ in range(workers)))
        duration = time.monotonic() - start
    assert retry_afters and all(int(v) >= 1 for v in retry_afters)
    return accepted, limited, duration


@pytest.mark.parametrize(
    ("key", "rate", "burst"), [("unknown-free", 5.0, 5), ("pro-key-1", 20.0, 20)]
)
def test_rate_limit_is_enforced_at_the_recorded_rate(fast, key, rate, burst) -> None:
    accepted, limited, duration = asyncio.run(_hammer(fast.url, key, 3.0))
    expected = rate + burst / duration
    assert limited > accepted
    assert accepted / duration == pytest.approx(expected, rel=0.15)


def test_pipelined_answers_leave_in_request_order(timed) -> None:
    reqs = b"".join(
        f"GET {p} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer pro-key-1\r\n\r\n".encode()
        for p in ("/api/slow", "/api/items/1", "/api/nothing")
    )
    with socket.create_connection(("127.0.0.1", timed.port), timeout=10) as s:
        s.sendall(reqs)
        data = b""
        while data.count(b"HTTP/1.1 ") < 3 or not data.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            assert chunk
            data += chunk
    statuses = re.findall(rb"HTTP/1\.1 (\d{3}) ", data)
    assert statuses == [b"200", b"200", b"599"]
    assert data.index(b'"slow"') < data.index(b'"item 1"') < data.index(b"miss")


def _timed_requests(port: int, n: int, concurrency: int) -> list[float]:
    """Client-observed latency of ``n`` GET /api/slow over ``concurrency`` keep-alive
    connections (http.client in threads: the leanest client, so the least overhead)."""
    out: list[float] = []

    def worker(count: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(count):
            t = time.perf_counter()
            conn.request("GET", "/api/slow", headers=auth("pro-key-1"))
            resp = conn.getresponse()
            resp.read()
            out.append((time.perf_counter() - t) * 1000)
            assert resp.status == 200
        conn.close()

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(worker, [n // concurrency] * concurrency))
    return out


def test_served_latency_follows_the_recorded_histogram(timed) -> None:
    served = _timed_requests(timed.port, 400, 8)
    assert ks_distance(served, histogram_samples(SLOW_HIST, 4000, 2)) <= 0.1


def _script(url: str) -> list[str]:
    """A fixed sequence of requests; each outcome: status or failure, and for /api/bimodal
    whether the answer came after the short (5 ms) or the long (150 ms) recorded delay."""
    out = []
    with httpx.Client(base_url=url, headers=auth("pro-key-1"), timeout=5) as c:
        for path in ["/api/flaky"] * 30 + ["/api/bimodal"] * 20:
            t = time.perf_counter()
            try:
                outcome = str(c.get(path).status_code)
            except (httpx.RemoteProtocolError, httpx.ReadError) as exc:
                outcome = type(exc).__name__
            if path == "/api/bimodal":
                outcome += " long" if time.perf_counter() - t > 0.1 else " short"
            out.append(outcome)
    return out


def test_seed_makes_a_session_reproducible(world_dir, start_replayer) -> None:
    args = ("--mode", REVERSE, "--faults", "observed", "--fault-timeout", "150ms")
    runs = []
    for seed in ("42", "42", "43"):
        rep = start_replayer(world_dir, *args, "--seed", seed)
        runs.append(_script(rep.url))
        rep.stop()
    first, again, other = runs
    assert first == again
    assert {"200", "503", "200 long", "200 short"} <= set(first)
    assert first != other


def _loopback_world(tmp_path, port: int):
    b = WorldBuilder()
    rid = b.response(200, PAYLOAD)
    b.exchange("GET", "/json", "/json", rid, host="127.0.0.1")
    return b.write(tmp_path / "loopback.world", empty_doc())


def test_misses_never_reach_the_upstream_unless_forwarding(tmp_path, start_replayer,
                                                           upstream) -> None:  # fmt: skip
    world = _loopback_world(tmp_path, upstream.port)
    deny = start_replayer(world, "--mode", f"reverse:{upstream.url}", "--latency", "off")
    before = upstream.counts["total"]
    assert httpx.get(f"{deny.url}/json").json() == PAYLOAD
    miss = httpx.get(f"{deny.url}/n/7")
    assert miss.status_code == 599
    deny.stop()
    assert upstream.counts["total"] == before

    tape = tmp_path / "session.tape"
    fwd = start_replayer(world, "--mode", f"reverse:{upstream.url}", "--latency", "off",
                         "--on-miss", "forward", "--session-tape", str(tape))  # fmt: skip
    r = httpx.get(f"{fwd.url}/n/7", headers={"Authorization": "Bearer sk_live_secret"})
    assert r.status_code == 200 and r.text == "7"
    assert httpx.get(f"{fwd.url}/json").json() == PAYLOAD  # recorded: still not forwarded
    report = fwd.stop()
    assert upstream.counts["total"] == before + 1 and upstream.counts["/n/{i}"] >= 1
    (miss_entry,) = report["misses"]
    assert miss_entry["path"] == "/n/7" and miss_entry["forwarded"] == 1
    assert report["totals"]["outcomes"]["forwarded"] == 1
    rows = open_tape(tape).read("http").to_pylist()
    assert sorted((r["path"], r["status"]) for r in rows) == [("/json", 200), ("/n/7", 200)]
    forwarded = next(r for r in rows if r["path"] == "/n/7")
    assert forwarded["response_body"] == b"7"
    assert forwarded["server_addr"] == f"127.0.0.1:{upstream.port}"
    auth_header = next(h["value"] for h in forwarded["request_headers"]
                       if h["name"].lower() == "authorization")  # fmt: skip
    assert auth_header.startswith("Bearer redacted:") and "sk_live" not in auth_header


def test_session_report_and_tape(world_dir, start_replayer, tmp_path) -> None:
    tape = tmp_path / "candidate.tape"
    rep = start_replayer(world_dir, "--mode", REVERSE, "--seed", "9", "--faults", "observed",
                         "--fault-timeout", "100ms", "--session-tape", str(tape))  # fmt: skip
    with httpx.Client(base_url=rep.url, timeout=5) as c:
        for _ in range(7):
            c.get("/api/search", params={"q": "x"}, headers=auth("free-key-1"))
        c.get("/api/admin/stats", headers=auth("free-key-2"))
        c.get("/api/items/1", headers=auth("pro-key-1"))
        c.get("/api/items/8", headers=auth("who-is-this"))
        c.get("/api/nope", params={"token": "s3cret"})
        c.get("/api/nope", params={"token": "s3cret"})
        for _ in range(30):
            try:
                c.get("/api/flaky", headers=auth("pro-key-1"))
            except httpx.HTTPError:
                pass
    report = rep.stop()
    assert report["format"] == "understudy-session-report" and report["schema_version"] == 1
    assert report["settings"]["seed"] == 9 and report["settings"]["faults"] == "observed"
    t = report["totals"]
    assert t["requests"] == 7 + 1 + 1 + 1 + 2 + 30
    assert (t["limited"], t["refused"], t["miss"]) == (2, 1, 2)
    assert t["exact"] >= 6 and t["route"] == 1 and t["fault"] > 0
    routes = {r["route"]: r for r in report["routes"]}
    assert routes["/api/search"]["matched"]["limited"] == 2
    assert routes["/api/search"]["statuses"] == {"200": 5, "429": 2}
    assert routes[None]["matched"]["miss"] == 2
    assert routes["/api/items/{id}"]["served_latency_ms"]["n"] == 2
    (miss,) = report["misses"]
    assert miss["path"] == "/api/nope" and miss["count"] == 2 and miss["nearest"]
    assert "s3cret" not in json.dumps(report)  # the query was redacted before keying
    (limited,) = report["limited"]
    assert (limited["identity_class"], limited["count"]) == ("free", 2)
    assert limited["limit"]["rate_per_s"] == 5.0
    assert report["refusals"] == [{"host": HOST, "method": "GET", "route": "/api/admin/stats",
                                   "identity_class": "free", "status": 403, "count": 1}]
    assert {f["fault"] for f in report["faults"]} <= {"5xx", "timeout", "reset"}
    unknown = {u["identity"]: u for u in report["unknown_identities"]}
    assert unknown[None]["count"] == 2 and len(unknown) == 2
    assert all(u["class_used"] == "free" for u in unknown.values())
    rows = open_tape(tape).read("http").to_pylist()
    assert len(rows) == t["requests"] and report["session_tape"]["committed"] == len(rows)
    assert {r["host"] for r in rows} == {HOST}
    assert all("s3cret" not in (r["query"] or "") for r in rows)
    closed = [r for r in rows if r["status"] is None]
    assert all(r["error"] for r in closed)
