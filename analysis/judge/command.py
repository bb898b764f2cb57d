"""``command_failed``: the candidate command exited non-zero, was killed, timed out, or was
not found. ``command`` is the check runner's (or the pytest plugin's) record of the run."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from analysis.judge.kinds import finding

__all__ = ["command_failed", "command_record"]

_KEYS = ("argv", "exit_status", "signal", "timed_out", "duration_s", "not_found")


def command_record(command: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The command as the verdict echoes it (the contract's keys, in order).

    >>> command_record({"argv": ["make"], "exit_status": 0})["timed_out"]
    False
    """
    if command is None:
        return None
    return {
        "argv": [str(a) for a in command.get("argv") or []],
        "exit_status": command.get("exit_status"),
        "signal": command.get("signal"),
        "timed_out": bool(command.get("timed_out")),
        "duration_s": command.get("duration_s"),
        "not_found": bool(command.get("not_found")),
        **{k: v for k, v in command.items() if k not in _KEYS},
    }


def command_failed(command: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """A ``command_failed`` finding when the command did not succeed, else nothing.

    >>> [f["title"] for f in command_failed({"argv": ["pytest"], "exit_status": 1})]
    ['the command exited with status 1: pytest']
    >>> command_failed({"argv": ["true"], "exit_status": 0})
    []
    """
    rec = command_record(command)
    if rec is None:
        return []
    shown = " ".join(rec["argv"])[:120]
    status = rec["exit_status"]
    if rec["not_found"]:
        title = f"the command was not found: {shown}"
        hint = "check the command after `--` (path, executable bit, PATH)"
    elif rec["timed_out"]:
        title = f"the command timed out after {rec['duration_s']} s: {shown}"
        hint = ("raise --timeout, or look for a wait on something the world never answers "
                "(a miss, a throttled retry loop)")  # fmt: skip
    elif rec["signal"]:
        title = f"the command was killed by {rec['signal']}: {shown}"
        hint = "read the command's output: it crashed or was killed"
    elif status not in (0, None):
        title = f"the command exited with status {status}: {shown}"
        hint = "read the command's output; the other findings may say what it ran into"
    else:
        return []
    return [finding("command_failed", title, hint, 1, rec)]
