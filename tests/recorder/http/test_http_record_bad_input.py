"""Bad input fails before anything listens: non-zero exit, one actionable line, no traceback."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from recorder.config import RecorderConfig
from recorder.http.master import start_http
from recorder.sink import TapeSink
from understudy.errors import ConfigError
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor
from understudy.testing.postgres import free_port

UNDERSTUDY = Path(sys.executable).parent / "understudy"


@pytest.fixture
def record(tmp_path, mitm_confdir, understudy_env):
    """Run ``understudy record ARGS`` to completion in ``tmp_path``."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(UNDERSTUDY), "record", "--confdir", str(mitm_confdir), *args],
            capture_output=True, text=True, timeout=60, env=understudy_env, cwd=tmp_path,
        )  # fmt: skip

    return run


def assert_one_line(res: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert res.returncode == 2, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
    assert "Traceback" not in res.stderr
    for needle in needles:
        assert needle in lines[0]
    return lines[0]


def test_port_in_use(record, tmp_path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        res = record("--tape", "t", "--http", f"127.0.0.1:{port}")
    assert_one_line(res, f"--http 127.0.0.1:{port}", "already in use")
    assert not (tmp_path / "t").exists()  # nothing created either


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["--mode", "sideways"], ["invalid --mode 'sideways'", "reverse:"]),
        (["--mode", "reverse:"], ["invalid --mode"]),
        (["--max-body", "12XB"], ["invalid size '12XB'"]),
        (["--flush-interval", "soon"], ["invalid duration 'soon'"]),
        (["--http", "0.0.0.0:{port}"], ["not a loopback address", "--listen-any"]),
        (["--http", "127.0.0.1:http"], ["invalid address"]),
        (["--no-http"], ["nothing to record"]),
        (["--pg", "127.0.0.1:{port}"], ["--pg needs --pg-upstream"]),
    ],
)
def test_bad_options(record, tmp_path, args, needles) -> None:
    port = str(free_port())
    args = [a.replace("{port}", port) for a in args]
    res = record("--tape", "t", "--http", f"127.0.0.1:{port}", *args)
    assert_one_line(res, *needles)


def test_tape_under_a_file(record, tmp_path) -> None:
    (tmp_path / "file").write_text("not a directory")
    res = record("--tape", str(tmp_path / "file" / "t"),
                 "--http", f"127.0.0.1:{free_port()}")  # fmt: skip
    assert_one_line(res, "cannot create tape directory", "Not a directory")


def test_unwritable_tape(record, tmp_path) -> None:
    # /proc refuses new directories even to root
    res = record("--tape", "/proc/understudy-tape",
                 "--http", f"127.0.0.1:{free_port()}")  # fmt: skip
    assert_one_line(res, "/proc/understudy-tape")


def test_tape_is_a_file(record, tmp_path) -> None:
    (tmp_path / "t").write_text("x")
    res = record("--tape", "t", "--http", f"127.0.0.1:{free_port()}")
    assert_one_line(res, "exists and is not a directory")


def test_mitmproxy_bind_failure_is_detected(tmp_path, monkeypatch, mitm_confdir) -> None:
    """mitmproxy logs a failed bind instead of raising: start_http must notice."""
    monkeypatch.setenv("UNDERSTUDY_KEY", "5e" * 32)
    redactor = Redactor(RedactionPolicy(), Pseudonymizer(b"k" * 32))
    sink = TapeSink(tmp_path / "t", redactor)
    sink.open(("http",))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = RecorderConfig(
            tape=tmp_path / "t", http_listen=("127.0.0.1", port), confdir=mitm_confdir, quiet=True
        )
        with pytest.raises(ConfigError, match=rf"--http 127.0.0.1:{port}: mitmproxy could not"):
            asyncio.run(start_http(config, sink))  # the pre-flight check is skipped here
    sink.close()
