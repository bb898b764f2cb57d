"""Fixtures for the HTTP replayer tests: worlds on disk and ``understudy replay`` processes."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from http_worlds import api_world, env

from understudy.testing.postgres import free_port

#: ``understudy replay`` as a subprocess, whether or not the CLI group registers it yet.
_RUN = "import sys; from understudy.cli.replay import replay; replay.main(sys.argv[1:], prog_name='understudy replay')"  # noqa: E501


def replay_argv(*args: str) -> list[str]:
    return [sys.executable, "-c", _RUN, *args]


@dataclass
class Replayer:
    """A running ``understudy replay``."""

    proc: subprocess.Popen[bytes]
    port: int
    stderr_path: Path
    report: Path
    confdir: Path | None = None
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        assert self.confdir is not None
        return self.confdir / "mitmproxy-ca-cert.pem"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, timeout: float = 30.0) -> dict[str, Any]:
        """SIGINT, wait, and return the session report."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        assert code == 0, self.stderr
        return json.loads(self.report.read_text())

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def start(world: Path, tmp: Path, *args: str, confdir: Path | None = None) -> Replayer:
    """Start a replayer on a free port and wait for its banner."""
    port = free_port()
    report = tmp / f"report-{port}.json"
    stderr_path = tmp / f"replay-{port}.stderr"
    argv = replay_argv("--world", str(world), "--http", f"127.0.0.1:{port}",
                       "--report", str(report), *args)  # fmt: skip
    if confdir is not None:
        argv += ["--confdir", str(confdir)]
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(argv, stdout=err, stderr=err, env=env())
    rep = Replayer(proc, port, stderr_path, report, confdir, argv)
    deadline = time.monotonic() + 30
    while "stop with Ctrl-C" not in rep.stderr:
        if proc.poll() is not None:
            raise RuntimeError(f"replayer exited with {proc.returncode}:\n{rep.stderr}")
        if time.monotonic() > deadline:
            rep.kill()
            raise TimeoutError(f"replayer did not start:\n{rep.stderr}")
        time.sleep(0.05)
    return rep


@pytest.fixture(scope="session")
def world_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return api_world(tmp_path_factory.mktemp("worlds") / "api.world")


@pytest.fixture
def start_replayer(tmp_path: Path) -> Iterator[Callable[..., Replayer]]:
    """Start replayers for one test; any still running at the end are killed."""
    started: list[Replayer] = []

    def run(world: Path, *args: str, **kwargs: Any) -> Replayer:
        rep = start(world, tmp_path, *args, **kwargs)
        started.append(rep)
        return rep

    yield run
    for rep in started:
        rep.kill()


@pytest.fixture(scope="module")
def start_module_replayer(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Callable[..., Replayer]]:
    """Like ``start_replayer``, for replayers shared by the tests of a module."""
    started: list[Replayer] = []
    tmp = tmp_path_factory.mktemp("replayers")

    def run(world: Path, *args: str, **kwargs: Any) -> Replayer:
        rep = start(world, tmp, *args, **kwargs)
        started.append(rep)
        return rep

    yield run
    for rep in started:
        rep.kill()
