"""Cassettes recorded by vcrpy itself (against a real local upstream) imported into a tape."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
import requests
import vcr
from io_helpers import ALICE, BOB, invoke, leaked, pseudonym, rows, run_cli

from fixtures.http_upstream import PAYLOAD_BYTES
from understudy.tape import read_meta


@pytest.fixture(scope="module")
def cassettes(upstream, tmp_path_factory) -> tuple[Path, Path]:
    """A YAML cassette (requests and httpx, gzip, secrets) and a JSON-serializer one."""
    d = tmp_path_factory.mktemp("cassettes")
    yml, jsn = d / "api.yaml", d / "more.json"
    u = upstream.url
    with vcr.use_cassette(str(yml), record_mode="once"):
        assert requests.get(f"{u}/json", headers=ALICE, timeout=10).status_code == 200
        assert requests.get(f"{u}/encoded/gzip", timeout=10).content == PAYLOAD_BYTES
        with httpx.Client() as c:
            c.post(f"{u}/sink", json={"password": "hunter2", "n": 1}, headers=ALICE)
            assert c.get(f"{u}/encoded/br").content == PAYLOAD_BYTES
            c.get(f"{u}/secrets", params={"password": "hunter2", "token": "tok-123-secret"})
        requests.get(f"{u}/n/7", headers=BOB, timeout=10)
    with vcr.use_cassette(str(jsn), record_mode="once", serializer="json"):
        requests.get(f"{u}/n/8", headers=BOB, timeout=10)
        requests.get(f"{u}/json", headers=ALICE, timeout=10)
    text = yml.read_text()
    # requests' cassette keeps "Content-Encoding: gzip" over a decoded body; httpx's keeps
    # the raw brotli bytes: the importer must tell the two apart
    assert "!!binary" in text and '"item 0"' in text.split("/encoded/br")[0]
    return yml, jsn


def test_vcrpy_cassettes_import(cassettes, tmp_path, understudy_env, test_key) -> None:
    tape = tmp_path / "vcr.tape"
    res = run_cli("import", "vcr", *map(str, cassettes), "--tape", str(tape), "--json",
                  env=understudy_env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert [f["exchanges"] for f in summary["files"]] == [6, 2]
    assert summary["synthetic_timestamps"] is True
    meta = read_meta(tape)
    assert meta["synthetic_timestamps"] is True
    assert meta["imports"][0]["timestamps"] == "synthesized"
    got = rows(tape)
    assert [r["path"] for r in got] == ["/json", "/encoded/gzip", "/sink", "/encoded/br",
                                        "/secrets", "/n/7", "/n/8", "/json"]  # fmt: skip
    starts = [r["ts_start"] for r in got]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)  # monotonic, made up
    assert all(r["duration_ms"] == 0.0 and r["status"] == 200 for r in got)
    for r, coding in ((got[1], "gzip"), (got[3], "br")):  # decoded once, encoding named
        assert (r["response_body"], r["response_content_encoding"]) == (PAYLOAD_BYTES, coding)
        assert r["error"] is None
    assert json.loads(got[2]["request_body"])["password"].startswith("redacted:")
    assert json.loads(got[4]["response_body"])["user"]["auth"]["password"].startswith("redacted:")
    assert {got[0]["identity"], got[7]["identity"]} == {pseudonym(test_key, ALICE)}
    assert {got[5]["identity"], got[6]["identity"]} == {pseudonym(test_key, BOB)}
    assert all(not leaked(r) for r in got)


def test_import_appends_whole_parts_to_an_existing_tape(cassettes, tmp_path, test_key):
    tape = tmp_path / "append.tape"
    yml, jsn = cassettes
    assert invoke("import", "vcr", str(yml), "--tape", str(tape), key=test_key).exit_code == 0
    res = invoke("import", "vcr", str(jsn), "--tape", str(tape), key=test_key)
    assert res.exit_code == 0, res.output
    assert "appended" in res.stdout
    assert len(rows(tape)) == 8
    assert [i["exchanges"] for i in read_meta(tape)["imports"]] == [6, 2]
    assert not [p for p in tape.iterdir() if p.name.startswith(".")]  # no staging left
