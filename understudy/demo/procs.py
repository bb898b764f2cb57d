"""Child processes of the demo: each in its own process group, logged, always cleaned up.

Every child starts in a new session (so a Ctrl-C in the terminal reaches only the demo, which
then stops its children in order) with its stdout and stderr in ``logs/NAME.log``.
:meth:`Children.close` stops whatever is still running, last started first: SIGINT to the
group (the recorder and the replayer write their tapes and reports on SIGINT), then SIGKILL
after a grace period.

Example::

    with Children(Path("logs"), env) as kids:
        api = kids.start("plans-api", [sys.executable, "fixtures/plans_api.py"])
        done = kids.run("analyze", [sys.executable, "-m", "understudy", "analyze", ...])
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO, Self

from understudy.errors import UnderstudyError

__all__ = ["Children", "DemoError", "Finished", "wait_for_port"]


class DemoError(UnderstudyError):
    """A step of the demo failed; the message names the step and its log."""


@dataclass(frozen=True)
class Finished:
    """A child that ran to completion."""

    name: str
    argv: list[str]
    returncode: int
    log: Path
    duration_s: float

    def output(self) -> str:
        """What it printed (stdout and stderr, interleaved as written)."""
        return self.log.read_text(errors="replace")

    def tail(self, lines: int = 12) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes], name: str, log: Path, timeout: float = 60.0
) -> None:
    """Block until 127.0.0.1:``port`` accepts connections; :class:`DemoError` if ``proc``
    exits or ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"{name} exited with status {proc.returncode}; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise DemoError(f"{name} did not listen on 127.0.0.1:{port} within {timeout:.0f} s; see {log}")


@contextlib.contextmanager
def _owner_only(path: Path | None) -> Iterator[BinaryIO | None]:
    """``path`` opened for writing, created 0600 (None: nothing)."""
    if path is None:
        yield None
        return
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        yield f


class Children:
    """The demo's child processes (see the module docstring)."""

    def __init__(self, log_dir: Path, env: Mapping[str, str], cwd: Path | None = None) -> None:
        self.log_dir = log_dir
        self.env = dict(env)
        self.cwd = cwd
        self._running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdout: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in the background (its own process group); its output goes to
        ``logs/NAME.log``, or only its stderr when ``stdout`` names a file for the rest."""
        log = self.log_path(name)
        with _owner_only(log) as err, _owner_only(stdout) as out:
            try:
                proc = subprocess.Popen(
                    list(argv),
                    stdin=subprocess.DEVNULL,
                    stdout=out if out is not None else err,
                    stderr=err,
                    env={**self.env, **(env or {})},
                    cwd=self.cwd,
                    start_new_session=True,
                )
            except OSError as exc:
                raise DemoError(f"{name}: cannot start {argv[0]}: {exc.strerror}") from exc
        self._running.append((name, proc))
        return proc

    def run(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        stdout: Path | None = None,
        timeout: float = 180.0,
    ) -> Finished:
        """Run ``argv`` to completion (stopped like the others on Ctrl-C or timeout)."""
        started = time.monotonic()
        proc = self.start(name, argv, env=env, stdout=stdout)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop(proc, signal.SIGTERM, grace=5)
            raise DemoError(
                f"{name} did not finish within {timeout:.0f} s; see {self.log_path(name)}"
            ) from None
        self._forget(proc)
        return Finished(name, list(argv), code, self.log_path(name), time.monotonic() - started)

    def stop(
        self, proc: subprocess.Popen[bytes], sig: int = signal.SIGINT, grace: float = 30.0
    ) -> int:
        """Send ``sig`` to ``proc``'s group, wait up to ``grace`` s, then SIGKILL the group."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self._forget(proc)
        return proc.returncode

    def _forget(self, proc: subprocess.Popen[bytes]) -> None:
        self._running = [(n, p) for n, p in self._running if p is not proc]

    def close(self) -> None:
        """Stop every child still running, last started first."""
        for _, proc in reversed(list(self._running)):
            self.stop(proc, grace=15)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
