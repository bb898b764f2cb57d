"""Record real traffic with the real recorder, mine it, export it, and play it back with
vcrpy (requests and httpx) after the upstream is gone; the HAR export imports back."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import requests
import vcr
import yaml
from io_helpers import SECRETS, Sent, drive, invoke, rows, run_cli
from vcr.errors import CannotOverwriteExistingCassetteException

from fixtures.http_upstream import PAYLOAD, UpstreamServer


@dataclass
class Exported:
    world: Path
    cassette: Path
    upstream: str
    sent: list[Sent]


@pytest.fixture(scope="module")
def exported(start_module_recorder, tmp_path_factory, understudy_env) -> Exported:
    d = tmp_path_factory.mktemp("export")
    tape, world, cassette = d / "prod.tape", d / "prod.world", d / "prod.yaml"
    with UpstreamServer.start() as up:
        rec = start_module_recorder(
            tape, "--mode", f"reverse:{up.url}", "--flush-interval", "100ms"
        )
        sent = drive(rec.url)
        assert rec.stop() == 0, rec.stderr
    res = run_cli("analyze", str(tape), "--world", str(world), env=understudy_env)
    assert res.returncode == 0, res.stderr
    res = run_cli("export", "vcr", "--world", str(world), "--out", str(cassette),
                  "--base-url", up.url, "--json", env=understudy_env)  # fmt: skip
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["base_urls"] == {"127.0.0.1": up.url}
    # 10 exchanges; the three identical GET /json share one interaction
    assert summary["interactions"] == 8
    return Exported(world, cassette, up.url, sent)


def _upstream_is_gone(url: str) -> bool:
    port = int(url.rsplit(":", 1)[1])
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def test_vcrpy_plays_the_world_back_to_requests_and_httpx(exported) -> None:
    up = exported.upstream
    assert _upstream_is_gone(up)
    with vcr.use_cassette(str(exported.cassette), record_mode="none", allow_playback_repeats=True):
        r = requests.get(f"{up}/json", timeout=5)
        assert (r.status_code, r.json()) == (200, PAYLOAD)
        assert r.headers["Content-Type"].startswith("application/json")
        with httpx.Client() as client:
            assert client.get(f"{up}/n/2").text == "2"
            gz = client.get(f"{up}/encoded/gzip")
            assert (gz.status_code, gz.json()) == (200, PAYLOAD)  # stored decoded
            sink = client.post(f"{up}/sink", json={"anything": 1})
            assert (sink.status_code, sink.json()) == (200, {"received": 38})  # as recorded
        binary = requests.get(f"{up}/random", params={"size": "3000"}, timeout=5)
        sent = next(s for s in exported.sent if s.path == "/random")
        assert binary.content == sent.body  # !!binary in the YAML, bytes again here
        with pytest.raises(CannotOverwriteExistingCassetteException):
            requests.get(f"{up}/never-recorded", timeout=5)


def test_cassette_is_plain_safe_yaml_with_secrets_redacted(exported) -> None:
    text = exported.cassette.read_text()
    assert not [s for s in SECRETS if s in text]
    doc = yaml.safe_load(text)
    assert doc["version"] == 1
    secrets = next(i for i in doc["interactions"] if "/secrets" in i["request"]["uri"])
    assert "password=redacted" in secrets["request"]["uri"].replace("%3A", ":")
    body = json.loads(secrets["response"]["body"]["string"])
    assert body["session"]["token"].startswith("redacted:")
    assert (exported.cassette.stat().st_mode & 0o777) == 0o600


def test_every_recorded_exchange_with_all(exported, tmp_path, test_key) -> None:
    out = tmp_path / "all.yaml"
    res = invoke("export", "vcr", "--world", str(exported.world), "--out", str(out), "--all",
                 "--base-url", f"127.0.0.1={exported.upstream}", key=test_key)  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "wrote 10 interactions" in res.stdout
    with vcr.use_cassette(str(out), record_mode="none"):  # no repeats: each plays once
        for _ in range(3):
            assert requests.get(f"{exported.upstream}/json", timeout=5).json() == PAYLOAD
        with pytest.raises(CannotOverwriteExistingCassetteException):
            requests.get(f"{exported.upstream}/json", timeout=5)


def test_har_export_imports_back(exported, tmp_path, test_key) -> None:
    har, tape = tmp_path / "prod.har", tmp_path / "back.tape"
    res = invoke("export", "har", "--world", str(exported.world), "--out", str(har),
                 "--base-url", exported.upstream, key=test_key)  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads(har.read_text())
    assert len(doc["log"]["entries"]) == 10
    assert (har.stat().st_mode & 0o777) == 0o600
    res = invoke("import", "har", str(har), "--tape", str(tape), key=test_key)
    assert res.exit_code == 0, res.output
    back = rows(tape)
    assert sorted((r["method"], r["path"], r["status"]) for r in back) == sorted(
        (s.method, s.path, s.status) for s in exported.sent
    )
    random = next(r for r in back if r["path"] == "/random")
    assert random["response_body"] == next(s.body for s in exported.sent if s.path == "/random")


def test_export_refuses_unknown_host_and_bad_base_url(exported, tmp_path, test_key) -> None:
    out = tmp_path / "x.yaml"
    for args, message in (
        (["--host", "api.example.com"], "the world has no exchanges for host 'api.example.com'"),
        (["--base-url", "ftp://h"], "use http(s)://HOST[:PORT]"),
        (["--base-url", "http://h/prefix"], "give only scheme, host and port"),
        (["--out", str(tmp_path)], "is a directory; give a file name"),
    ):
        res = invoke("export", "vcr", "--world", str(exported.world), "--out", str(out), *args,
                     key=test_key)  # fmt: skip
        assert res.exit_code == 2, res.output
        lines = res.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0]
        assert sorted(p.name for p in tmp_path.iterdir()) == []
    missing = invoke("export", "har", "--world", str(tmp_path / "nope"), "--out", str(out),
                     key=test_key)  # fmt: skip
    assert missing.exit_code == 1 and "no such world directory" in missing.output
