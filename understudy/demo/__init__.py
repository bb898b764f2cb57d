"""``understudy demo``: the whole loop (record, analyze, check, diff) on an embedded example.

The example is a small invoice job (``fixtures/demo_service.py``) over a real PostgreSQL and a
plan-limited third-party API (``fixtures/plans_api.py``). Production runs version 1 through
the recorder; the tape becomes a world; ``understudy check`` passes v1 and fails v2 (an N+1
and a burst past the free plan's limit), and ``understudy diff`` shows what changed. See
docs/demo.md for the story and the artefacts.

Modules: ``workspace`` (the demo directory and its secrets), ``procs`` (child processes),
``database`` (PostgreSQL), ``console`` (progress lines), ``story`` (the steps), ``recap``.

Example::

    summary = run_demo(Path("/tmp/demo"), keep=False, seed=7)
    print(summary["story_holds"])
"""

from __future__ import annotations

import importlib.util
import signal
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from understudy.demo.console import Progress
from understudy.demo.database import ensure_available
from understudy.demo.procs import Children, DemoError
from understudy.demo.recap import print_recap, write_summary
from understudy.demo.story import STEPS, Demo
from understudy.demo.workspace import Workspace, default_dir, repo_root
from understudy.errors import ConfigError

__all__ = ["DemoError", "Workspace", "default_dir", "run_demo"]

_NEEDED = {"httpx": "httpx", "psycopg": "psycopg[binary]", "aiohttp": "aiohttp"}


def _check_modules() -> None:
    missing = [pkg for mod, pkg in _NEEDED.items() if importlib.util.find_spec(mod) is None]
    if missing:
        raise ConfigError(
            f"the demo's services need {', '.join(missing)}: pip install -e '.[test]' "
            "(or run `make demo`)"
        )


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # SIGTERM cleans up like Ctrl-C


def run_demo(
    directory: Path | None, *, keep: bool = False, seed: int = 7, out: TextIO | None = None
) -> dict[str, Any]:
    """Run the demo into ``directory`` (default :func:`default_dir`); return its summary.

    Every child process is stopped on any exit path, Ctrl-C and SIGTERM included. Raises
    :class:`~understudy.errors.ConfigError` for bad input (before anything starts) and
    :class:`DemoError` when a step fails.
    """
    repo = repo_root()
    _check_modules()
    ensure_available()
    ws = Workspace.create(directory if directory is not None else default_dir())
    ws.write_secrets()
    progress = Progress(STEPS, file=out)
    progress.console.print(f"[bold]understudy demo[/] in {ws.root}")
    previous = signal.signal(signal.SIGTERM, _terminate)
    try:
        with Children(ws.logs, ws.child_env(), cwd=repo) as kids:
            demo = Demo(ws, repo, progress, kids, seed=seed, keep=keep)
            try:
                summary = demo.run()
            finally:
                demo.stop_production()
    finally:
        signal.signal(signal.SIGTERM, previous)
    summary["steps"] = [s.as_dict() for s in progress.steps]
    summary["seconds"] = round(progress.elapsed(), 1)
    write_summary(ws, summary)
    print_recap(progress, ws, summary)
    return summary
