"""The replayer as a child process: start, wait until it serves, watch it, stop it.

The child is ``python -m understudy replay`` with the HTTP proxy and the PostgreSQL server
on port 0 of 127.0.0.1 (the ready file reports the real ports, so there is no race for a
"free" port), the session report and tape, the mitmproxy confdir and its log in the artefact
directory. It runs in its own session, so a Ctrl-C at the terminal reaches the candidate and
us, never the replayer: we stop it with SIGINT once the candidate is done, and it writes the
report.

Example::

    child = ReplayerChild(Path("prod.world"), art, ReplaySettings(seed=7, pg=True))
    endpoints = child.start()
    ...                                  # run the candidate against endpoints
    report = child.stop()                # the session report (dict)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from understudy.errors import ConfigError
from understudy.harness.artefacts import Artefacts
from understudy.harness.environment import PROXY_VARS, Endpoints
from understudy.harness.errors import HarnessError
from understudy.harness.ready import read_ready

__all__ = ["STARTUP_TIMEOUT_S", "STOP_TIMEOUT_S", "ReplaySettings", "ReplayerChild", "log_tail"]

#: How long the replayer may take to load the world and listen.
STARTUP_TIMEOUT_S = 120.0
#: How long it may take to write its session tape and report once asked to stop.
STOP_TIMEOUT_S = 120.0
_LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class ReplaySettings:
    """The replayer options ``understudy check`` passes through."""

    seed: int
    pg: bool
    latency: str = "recorded"
    faults: str = "off"
    limits: str = "on"


def log_tail(path: Path, lines: int = 12) -> str:
    """The last ``lines`` lines of a log file, indented for an error message.

    >>> log_tail(Path("/nonexistent.log"))
    '    (no output)'
    """
    try:
        text = path.read_text(errors="replace")
    except OSError:
        text = ""
    tail = [ln for ln in text.splitlines() if ln.strip()][-lines:]
    return "\n".join(f"    {ln}" for ln in tail) or "    (no output)"


class ReplayerChild:
    """One ``understudy replay`` child process serving a world for a check run."""

    def __init__(self, world: Path, artefacts: Artefacts, settings: ReplaySettings) -> None:
        self.world = world
        self.art = artefacts
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.endpoints: Endpoints | None = None

    def argv(self) -> list[str]:
        s, art = self.settings, self.art
        argv = [
            sys.executable, "-m", "understudy", "replay", "--world", str(self.world),
            "--http", f"{_LOOPBACK}:0", "--report", str(art.report),
            "--session-tape", str(art.session_tape), "--seed", str(s.seed),
            "--latency", s.latency, "--faults", s.faults, "--limits", s.limits,
            "--confdir", str(art.confdir), "--ready-file", str(art.ready),
        ]  # fmt: skip
        argv += ["--pg", f"{_LOOPBACK}:0"] if s.pg else ["--no-pg"]
        return argv

    def start(self, timeout: float = STARTUP_TIMEOUT_S) -> Endpoints:
        """Start the child and return once both servers accept connections."""
        env = {k: v for k, v in os.environ.items() if k not in PROXY_VARS}
        env.update(PYTHONUNBUFFERED="1", COLUMNS=env.get("COLUMNS", "160"))  # a readable log
        self.art.confdir.mkdir(mode=0o700, exist_ok=True)
        fd = os.open(self.art.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            self.proc = subprocess.Popen(
                self.argv(), stdin=subprocess.DEVNULL, stdout=fd, stderr=fd, env=env,
                start_new_session=True,
            )  # fmt: skip
        except OSError as exc:
            raise HarnessError(f"cannot start the replayer: {exc}") from exc
        finally:
            os.close(fd)
        deadline = time.monotonic() + timeout
        while (info := read_ready(self.art.ready)) is None:
            code = self.proc.poll()
            if code is not None:
                raise self._start_failed(f"the replayer exited with status {code}", code)
            if time.monotonic() > deadline:
                self.kill()
                raise self._start_failed(f"the replayer did not start within {timeout:.0f} s")
            time.sleep(0.05)
        self.endpoints = self._endpoints(info)
        for addr in (self.endpoints.http, self.endpoints.pg):
            if addr is not None:
                self._wait_accepting(addr, deadline)
        return self.endpoints

    def _endpoints(self, info: dict[str, Any]) -> Endpoints:
        try:
            http = info["http"][0]
            pg = info.get("pg")
            return Endpoints(
                http=(str(http[0]), int(http[1])),
                pg=(str(pg[0]), int(pg[1])) if pg else None,
                ca_cert=self.art.ca_cert, seed=int(info.get("seed", self.settings.seed)),
                artefacts=self.art.root,
            )  # fmt: skip
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            self.kill()
            raise HarnessError(f"the replayer wrote an unreadable {self.art.ready}: "
                               f"{json.dumps(info)[:200]}") from exc  # fmt: skip

    def _wait_accepting(self, addr: tuple[str, int], deadline: float) -> None:
        while True:
            try:
                with socket.create_connection(addr, timeout=1.0):
                    return
            except OSError:
                if self.failure() is not None or time.monotonic() > deadline:
                    self.kill()
                    raise self._start_failed(
                        f"the replayer does not accept connections on {addr[0]}:{addr[1]}"
                    ) from None
                time.sleep(0.05)

    def _start_failed(self, what: str, code: int | None = None) -> Exception:
        text = f"{what}; its log {self.art.log} ends:\n{log_tail(self.art.log)}"
        # exit status 2 is the replayer's "bad input" (a world it refuses, a bad key...)
        return ConfigError(text) if code == 2 else HarnessError(text)

    def failure(self) -> str | None:
        """None while the child runs; else a message naming its exit and its log."""
        if self.proc is None:
            return "the replayer was never started"
        code = self.proc.poll()
        if code is None:
            return None
        return (f"the replayer stopped unexpectedly (exit status {code}); see its log "
                f"{self.art.log}:\n{log_tail(self.art.log)}")  # fmt: skip

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> dict[str, Any]:
        """SIGINT, wait for it to write the session report and tape, return the report."""
        if self.proc is None:
            raise HarnessError("the replayer was never started")
        failure = self.failure()
        if failure is not None:
            raise HarnessError(failure)
        self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise HarnessError(f"the replayer did not stop within {timeout:.0f} s after "
                               f"SIGINT; see its log {self.art.log}") from None  # fmt: skip
        if code != 0:
            log = self.art.log
            raise HarnessError(f"the replayer failed while stopping (exit status {code}); "
                               f"see its log {log}:\n{log_tail(log)}")  # fmt: skip
        try:
            report = json.loads(self.art.report.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise HarnessError(
                f"the replayer left no readable session report at "
                f"{self.art.report} ({exc}); see {self.art.log}"
            ) from exc
        if not isinstance(report, dict):
            raise HarnessError(f"{self.art.report} is not a session report")
        return report

    def kill(self) -> None:
        """Stop the child at once (error paths); a no-op once it has exited."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
