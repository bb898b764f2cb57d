"""A real mitmdump capture imported twice: as its HAR file and as its flow file.

Both imports go through the recorder's row builder, so they must agree with each other and
with what the client saw, with every secret redacted; the HAR import mines into a world.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from io_helpers import ALICE, BOB, leaked, pseudonym, rows, run_cli


def _key(r: dict) -> tuple:
    return (r["method"], r["path"], r["status"], r["response_body"])


@pytest.fixture(scope="module")
def har_tape(mitm_capture, tmp_path_factory, understudy_env) -> Path:
    tape = tmp_path_factory.mktemp("har") / "har.tape"
    res = run_cli("import", "har", str(mitm_capture.har), "--tape", str(tape), "--json",
                  env=understudy_env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["exchanges"] == len(mitm_capture.sent) and summary["skipped"] == 0
    assert summary["created"] and not summary["synthetic_timestamps"]
    return tape


@pytest.fixture(scope="module")
def mitm_tape(mitm_capture, tmp_path_factory, understudy_env) -> Path:
    tape = tmp_path_factory.mktemp("mitm") / "mitm.tape"
    res = run_cli("import", "mitm", str(mitm_capture.flows), "--tape", str(tape),
                  env=understudy_env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert f"imported {len(mitm_capture.sent)} exchanges (0 skipped)" in res.stdout
    return tape


@pytest.mark.parametrize("which", ["har_tape", "mitm_tape"])
def test_import_matches_what_the_client_saw(which, request, mitm_capture, test_key) -> None:
    tape: Path = request.getfixturevalue(which)
    got = sorted(rows(tape), key=lambda r: r["ts_start"])
    assert [(r["method"], r["path"], r["status"]) for r in got] == [
        (s.method, s.path, s.status) for s in mitm_capture.sent
    ]
    by_path = {r["path"]: r for r in got}
    for s in mitm_capture.sent:
        if s.path != "/secrets":  # its body holds secrets: redacted
            assert any(r["response_body"] == s.body for r in got if r["path"] == s.path)
    assert by_path["/encoded/gzip"]["response_content_encoding"] == "gzip"  # decoded, named
    assert len(by_path["/random"]["response_body"]) == 3000  # binary (base64 in the HAR)
    assert {r["identity"] for r in got if r["path"] == "/json"} == {pseudonym(test_key, ALICE)}
    assert {r["identity"] for r in got if r["path"].startswith("/n/")} == {pseudonym(test_key, BOB)}
    assert all(not leaked(r) for r in got), [leaked(r) for r in got]
    secrets = json.loads(by_path["/secrets"]["response_body"])
    assert secrets["user"]["auth"]["password"].startswith("redacted:")
    assert json.loads(by_path["/sink"]["request_body"])["password"].startswith("redacted:")
    assert "password=redacted%3A" in by_path["/secrets"]["query"]
    assert all(r["ts_end"] >= r["ts_start"] and r["http_version"] == "HTTP/1.1" for r in got)
    assert (tape.stat().st_mode & 0o777) == 0o700
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in tape.rglob("*") if p.is_file())


def test_har_and_flow_imports_agree(har_tape, mitm_tape) -> None:
    har, flows = rows(har_tape), rows(mitm_tape)
    assert sorted(map(_key, har)) == sorted(map(_key, flows))
    for a, b in zip(sorted(har, key=lambda r: r["ts_start"]),
                    sorted(flows, key=lambda r: r["ts_start"]), strict=True):  # fmt: skip
        # the HAR prints start times to the microsecond; float rounding may move one by 1 µs
        assert abs(a["ts_start"] - b["ts_start"]) <= timedelta(microseconds=1)
        assert (a["query"], a["identity"], a["request_body"]) == (
            b["query"],
            b["identity"],
            b["request_body"],
        )
        assert a["request_headers"] == b["request_headers"]
        assert a["server_addr"] == b["server_addr"]
    assert all(r["client_addr"] is None for r in har)  # a HAR does not know the client
    assert all(r["client_addr"].startswith("127.0.0.1:") for r in flows)


def test_har_import_mines_into_a_world(har_tape, tmp_path, understudy_env) -> None:
    world = tmp_path / "har.world"
    res = run_cli("analyze", str(har_tape), "--world", str(world), "--json", env=understudy_env)
    assert res.returncode == 0, res.stderr
    routes = {(r["method"], r["route"]): r for r in json.loads(res.stdout)["routes"]}
    assert routes["GET", "/json"]["count"] == 3
    numbered = [r for (m, route), r in routes.items() if route.startswith("/n/")]
    assert sum(r["count"] for r in numbered) == 3
    assert routes["POST", "/sink"]["status_counts"] == {"200": 1}
    doc = json.loads((world / "world.json").read_text())
    assert doc["source"]["http_exchanges"] == 10
