"""Record real traffic from a rate-limited API with plans, analyze it, compare with the truth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fixtures.plans_api import PLANS
from understudy.cli import cli
from understudy.testing.postgres import free_port
from understudy.world import load_world

UNDERSTUDY = Path(sys.executable).parent / "understudy"
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def plans_api(wait_for_port) -> Iterator[str]:
    """The API in its own process, so its limiter's clock is not held up by the test's GIL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "fixtures" / "plans_api.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        wait_for_port("127.0.0.1", port, proc=proc)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def _client(base: str, key: str, rate: float, seconds: float, paths: list[str]) -> None:
    """Send requests at about ``rate`` per second for ``seconds`` (open loop, bounded)."""
    with httpx.Client(base_url=base, headers={"X-Api-Key": key}, timeout=10) as c:
        start = time.monotonic()
        i = 0
        while (now := time.monotonic() - start) < seconds:
            target = i / rate
            if target > now:
                time.sleep(target - now)
            c.get(paths[i % len(paths)])
            i += 1


@pytest.fixture(scope="module")
def recorded(
    plans_api: str, tmp_path_factory: pytest.TempPathFactory, start_module_recorder
) -> Path:
    tape = tmp_path_factory.mktemp("e2e") / "plans.tape"
    rec = start_module_recorder(tape, "--mode", f"reverse:{plans_api}")
    paths = [f"/api/items/{i}" for i in range(1, 40)] + ["/api/export"]
    # two senders per pro key: one sequential client cannot outrun 20 req/s on a busy machine
    clients = [
        ("free-1", 9.0), ("free-2", 9.0),
        ("pro-1", 18.0), ("pro-1", 18.0), ("pro-2", 18.0), ("pro-2", 18.0),
    ]  # fmt: skip
    threads = [
        threading.Thread(target=_client, args=(rec.url, key, rate, 6.0, paths))
        for key, rate in clients
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(1.5)  # buckets refill: the plan check, not the limiter, answers next
    for key in ("free-1", "free-2", "pro-1", "pro-2"):
        for _ in range(2):
            httpx.get(f"{rec.url}/api/export", headers={"X-Api-Key": key}, timeout=10)
    assert rec.stop() == 0, rec.stderr
    return tape


def test_analyze_recovers_limits_classes_and_permissions(recorded: Path, tmp_path: Path) -> None:
    world_dir, report = tmp_path / "world", tmp_path / "report.html"
    result = subprocess.run(
        [str(UNDERSTUDY), "analyze", str(recorded), "--world", str(world_dir), "--report",
         str(report)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "rate limits" in result.stdout
    world = load_world(world_dir)
    doc = world.doc
    routes = {(r["method"], r["route"]) for r in doc["routes"]}
    assert ("GET", "/api/items/{id}") in routes and ("GET", "/api/export") in routes
    # two plans, two classes, each holding its own keys
    classes = {c["name"]: set(c["identities"]) for c in doc["identity_classes"]}
    assert len(classes) == 2
    limits = {x["identity_class"]: x for x in doc["rate_limits"] if x["scope"] == "identity"}
    rates = sorted(round(x["rate_per_s"], 2) for x in limits.values())
    assert len(rates) == 2
    assert abs(rates[0] - PLANS["free"]["rate"]) <= 0.1 * PLANS["free"]["rate"]
    assert abs(rates[1] - PLANS["pro"]["rate"]) <= 0.1 * PLANS["pro"]["rate"]
    bursts = sorted(x["burst"] for x in limits.values())
    assert abs(bursts[0] - PLANS["free"]["burst"]) <= 1
    assert abs(bursts[1] - PLANS["pro"]["burst"]) <= 1
    free_class = min(limits, key=lambda c: limits[c]["rate_per_s"])
    refused = [p for p in doc["permissions"] if not p["allowed"] and p["route"] == "/api/export"]
    assert [(p["identity_class"], p["status"]) for p in refused] == [(free_class, 403)]
    # the served tables deduplicate bodies and keep every exchange's key
    assert world.table("http_exchanges").num_rows == doc["source"]["http_exchanges"]
    assert world.table("http_responses").num_rows < world.table("http_exchanges").num_rows
    html = report.read_text()
    assert html.count("<svg") >= 3 and "fitted limit" in html


def test_analyze_json_and_bad_input(recorded: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(cli, ["analyze", str(recorded), "--world", str(tmp_path / "w"), "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["source"]["partial"] is False and doc["routes"]

    empty = tmp_path / "empty.tape"
    (empty / "http").mkdir(parents=True)
    (empty / "http" / ".tmp-part-1.parquet").write_bytes(b"half")
    res = runner.invoke(cli, ["analyze", str(empty), "--world", str(tmp_path / "w2")])
    assert res.exit_code == 1
    assert "nothing to analyze" in res.output and "1 unreadable files skipped" in res.output
    assert "Traceback" not in res.output

    res = runner.invoke(cli, ["analyze", str(tmp_path / "nope"), "--world", str(tmp_path / "w3")])
    assert res.exit_code == 1 and "no such tape directory" in res.output


def test_partial_tape_is_marked(recorded: Path, tmp_path: Path) -> None:
    import shutil

    tape = tmp_path / "copy.tape"
    shutil.copytree(recorded, tape)
    part = next((tape / "http").glob("part-*.parquet"))
    (tape / "http" / "part-9-broken.parquet").write_bytes(part.read_bytes()[:-30])
    res = CliRunner().invoke(cli, ["analyze", str(tape), "--world", str(tmp_path / "w")])
    assert res.exit_code == 0, res.output
    assert "PARTIAL" in res.output
    doc = load_world(tmp_path / "w").doc
    assert doc["source"]["partial"] is True
    assert doc["source"]["skipped"][0]["path"].endswith("part-9-broken.parquet")
