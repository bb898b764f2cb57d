"""Run the candidate command: its own process group, a timeout, signals forwarded.

The command runs in a new process group so a timeout (and a forwarded Ctrl-C) reaches
everything it started: SIGTERM to the group, then SIGKILL after a grace period. When the
command exits, anything it left running in its group is stopped the same way (the replayer
is about to go away). SIGINT and SIGTERM sent to us while it runs are forwarded to the
group; the run is still judged afterwards.

Example::

    argv = resolve_command(["pytest", "-q"])
    result = run_command(argv, env, timeout=600.0)
    result.record()  # {"argv": [...], "exit_status": 0, "signal": None, "timed_out": False, ...}
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import IO, Any

from understudy.errors import ConfigError
from understudy.harness.errors import HarnessError

__all__ = ["KILL_GRACE_S", "CommandResult", "resolve_command", "run_command"]

#: How long a process group gets between SIGTERM and SIGKILL.
KILL_GRACE_S = 5.0
_POLL_S = 0.05


@dataclass
class CommandResult:
    """How the command ended, in the judge's ``command`` shape (:meth:`record`)."""

    argv: list[str]
    exit_status: int | None = None
    signal: str | None = None
    timed_out: bool = False
    duration_s: float = 0.0
    not_found: bool = False
    forwarded: list[str] = field(default_factory=list)

    def record(self) -> dict[str, Any]:
        """
        >>> CommandResult(["true"], exit_status=0, duration_s=0.01).record()["exit_status"]
        0
        """
        out: dict[str, Any] = {
            "argv": list(self.argv), "exit_status": self.exit_status, "signal": self.signal,
            "timed_out": self.timed_out, "duration_s": round(self.duration_s, 3),
            "not_found": self.not_found,
        }  # fmt: skip
        if self.forwarded:
            out["forwarded_signals"] = list(self.forwarded)
        return out


def resolve_command(argv: Sequence[str]) -> list[str]:
    """``argv`` with its program resolved on PATH; ConfigError (exit 2) when it cannot be.

    >>> resolve_command(["sh", "-c", "true"])[1:]
    ['-c', 'true']
    >>> resolve_command(["no-such-program-xyz"])
    Traceback (most recent call last):
    ...
    understudy.errors.ConfigError: command not found: no-such-program-xyz
    """
    if not argv or not argv[0]:
        raise ConfigError("no command given: put it after `--`, e.g. understudy check "
                          "--world prod.world -- pytest -q")  # fmt: skip
    found = shutil.which(argv[0])
    if found is None:
        what = "not an executable file" if os.path.exists(argv[0]) else "command not found"
        raise ConfigError(f"{what}: {argv[0]}")
    return [found, *argv[1:]]


def _signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False when nothing in it is left."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_group(pgid: int, proc: subprocess.Popen[bytes] | None, grace: float) -> None:
    """SIGTERM the group, wait up to ``grace`` for it to empty, then SIGKILL."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(_POLL_S)
        else:
            time.sleep(_POLL_S)
        if not _signal_group(pgid, 0):
            return
    _signal_group(pgid, signal.SIGKILL)
    if proc is not None:
        proc.wait()


def _restore(previous: dict[int, Any]) -> None:
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _ending(result: CommandResult, returncode: int) -> None:
    if returncode >= 0:
        result.exit_status = returncode
    else:
        try:
            result.signal = signal.Signals(-returncode).name
        except ValueError:
            result.signal = f"signal {-returncode}"


def run_command(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    timeout: float | None = None,
    stdout: IO[Any] | int | None = None,
    watch: Callable[[], str | None] | None = None,
    grace: float = KILL_GRACE_S,
) -> CommandResult:
    """Run ``argv`` to completion (stdin and stderr inherited; ``stdout`` if given).

    ``watch`` is polled while the command runs; when it returns a message (the replayer
    died), the command's group is stopped and :class:`HarnessError` raised with it.
    """
    result = CommandResult(list(argv))
    group: list[int] = []  # the command's process group, once it exists
    previous: dict[int, Any] = {}

    def forward(signum: int, frame: FrameType | None) -> None:
        result.forwarded.append(signal.Signals(signum).name)
        if group:
            _signal_group(group[0], signum)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, forward)
    start = time.monotonic()
    try:
        proc = subprocess.Popen(list(argv), env=dict(env), stdout=stdout, process_group=0)
    except OSError as exc:
        _restore(previous)
        if not isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError):
            raise HarnessError(f"cannot run {argv[0]}: {exc.strerror or exc}") from exc
        result.not_found = True
        result.duration_s = time.monotonic() - start
        return result
    pgid = proc.pid
    group.append(pgid)
    for name in result.forwarded:  # arrived while it was being started
        _signal_group(pgid, signal.Signals[name])
    failure: str | None = None
    try:
        deadline = None if timeout is None else start + timeout
        while proc.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                result.timed_out = True
                _stop_group(pgid, proc, grace)
                break
            failure = watch() if watch is not None else None
            if failure is not None:
                _stop_group(pgid, proc, grace)
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(_POLL_S)
        result.duration_s = time.monotonic() - start
        _ending(result, proc.wait())
        _stop_group(pgid, None, min(grace, 2.0))  # what it left behind in its group
    finally:
        _restore(previous)
        if proc.poll() is None:  # interrupted by an exception of ours: leave nothing behind
            _stop_group(pgid, proc, grace)
    if failure is not None:
        raise HarnessError(failure)
    return result
