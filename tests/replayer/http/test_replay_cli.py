"""Bad input to `understudy replay`: one actionable line and exit status 2, before serving."""

from __future__ import annotations

import json
import socket

import pytest
from click.testing import CliRunner
from http_worlds import TEST_KEY_HEX, WorldBuilder, empty_doc

from replayer.config import ReplayConfig
from replayer.run import _pg_starter, plan
from understudy.cli.replay import replay
from understudy.testing.postgres import free_port
from understudy.world import load_world


@pytest.fixture
def run(monkeypatch, tmp_path):
    monkeypatch.setenv("UNDERSTUDY_KEY", TEST_KEY_HEX)

    def invoke(*args: str):
        return CliRunner().invoke(replay, list(args), catch_exceptions=False)

    return invoke


def one_line(result, *needles: str) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.strip().splitlines() if line.startswith("Error")]
    assert len(lines) == 1, result.output
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_help_opens_with_a_line_and_an_example() -> None:
    out = CliRunner().invoke(replay, ["-h"], prog_name="understudy replay").output
    assert out.splitlines()[2].startswith("  Serve a world")
    assert "Example:" in out and "understudy replay --world" in out


def test_missing_world(run, tmp_path) -> None:
    one_line(run("--world", str(tmp_path / "nope")), "no such world directory")


def test_corrupt_and_newer_worlds(run, tmp_path, world_dir) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "world.json").write_text("{not json")
    one_line(run("--world", str(bad)), "corrupt")
    newer = tmp_path / "newer"
    WorldBuilder().write(newer, empty_doc())
    doc = json.loads((newer / "world.json").read_text())
    doc["schema_version"] = 99
    (newer / "world.json").write_text(json.dumps(doc))
    one_line(run("--world", str(newer)), "schema version 99", "upgrade")


def test_invalid_world_document(run, tmp_path) -> None:
    w = WorldBuilder().write(tmp_path / "w", empty_doc(routes=[{"host": 1}]))
    one_line(run("--world", str(w), "--http", f"127.0.0.1:{free_port()}"), "routes[0].host")


def test_port_in_use(run, world_dir) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        one_line(run("--world", str(world_dir), "--http", f"127.0.0.1:{port}"),
                 "address already in use")  # fmt: skip


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--http", "0.0.0.0:1"], ["not a loopback address", "--listen-any"]),
        (["--mode", "upstream:http://x"], ["invalid --mode"]),
        (["--mode", "reverse:ftp://x"], ["invalid upstream URL"]),
        (["--default-class", "gold"], ["gold", "free, pro"]),
        (["--fault-timeout", "0"], ["must be positive"]),
        (["--no-http"], ["nothing to serve"]),
    ],
)
def test_bad_options(run, world_dir, args, needles) -> None:
    one_line(run("--world", str(world_dir), *args), *needles)


def test_report_directory_must_exist(run, world_dir, tmp_path) -> None:
    one_line(run("--world", str(world_dir), "--report", str(tmp_path / "no" / "r.json")),
             "does not exist")  # fmt: skip


def test_sql_only_world_starts_no_http_listener(run, tmp_path) -> None:
    w = WorldBuilder().write(tmp_path / "sql.world",
                             empty_doc(sql=[{"fingerprint": "f", "calls": 1}]))  # fmt: skip
    p = plan(ReplayConfig(world=w), load_world(w)) if _pg_starter() else None
    if p is not None:
        assert not p.http and p.pg
        return
    one_line(run("--world", str(w)), "nothing to serve", "no HTTP traffic")


