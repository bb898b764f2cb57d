"""pytest plugin: run a test session against a world and fail it on the verdict.

``pytest --understudy-world prod.world [--understudy-fail-on KINDS]
[--understudy-report verdict.json] [--understudy-seed N] [--understudy-out DIR]``

starts the replayer when the session starts, points ``os.environ`` at it for the whole
session (the variables ``understudy check`` sets; restored at the end), stops it when the
session finishes, judges what the tests did, writes the verdict, shows it in the terminal
summary, keeps it in ``config.stash[VERDICT_KEY]``, and turns a passing run into exit status
1 when the verdict has failing findings.

Without ``--understudy-world`` the plugin only declares its options: it is registered as a
``pytest11`` entry point, so it loads in every pytest run and must cost nothing there (no
import beyond pytest's own until the option is given).

Example::

    pytest --understudy-world prod.world --understudy-fail-on default,+latency tests/
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from understudy.harness import Harness

__all__ = ["VERDICT_KEY", "UnderstudyCheck"]

#: Where the verdict (a dict) is kept: ``config.stash[VERDICT_KEY]``.
VERDICT_KEY = pytest.StashKey[dict[str, Any]]()
_PLUGIN_NAME = "understudy-check"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("understudy", "understudy: run the session against a world")
    group.addoption(
        "--understudy-world",
        metavar="DIR",
        default=None,
        help="serve this world bundle to the tests and judge what they did",
    )
    group.addoption(
        "--understudy-fail-on",
        metavar="KINDS",
        default="default",
        help="finding kinds that fail the run (as understudy check --fail-on)",
    )
    group.addoption(
        "--understudy-report",
        metavar="FILE",
        default=None,
        help="write the verdict JSON here [artefact dir/verdict.json]",
    )
    group.addoption(
        "--understudy-seed",
        metavar="N",
        type=int,
        default=None,
        help="seed of the replay [drawn, recorded in the verdict]",
    )
    group.addoption("--understudy-out", metavar="DIR", default=None,
                    help="artefact directory (new or empty) [a fresh temp dir]")  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    world = config.getoption("--understudy-world", default=None)
    if not world or hasattr(config, "workerinput"):  # xdist workers: the controller runs it
        return
    config.pluginmanager.register(UnderstudyCheck(config, Path(world)), _PLUGIN_NAME)


class UnderstudyCheck:
    """The active plugin: one replayer for the session, one verdict at its end."""

    def __init__(self, config: pytest.Config, world: Path) -> None:
        from analysis.judge import parse_fail_on
        from understudy.errors import ConfigError
        from understudy.harness import check_out_dir, check_output_file, draw_seed, load_facts

        self.config = config
        self.world = world
        report = config.getoption("--understudy-report")
        out = config.getoption("--understudy-out")
        try:  # bad input: a usage error before anything starts
            self.facts = load_facts(world)
            self.fail_on = parse_fail_on(config.getoption("--understudy-fail-on"))
            self.report = Path(report) if report else None
            if self.report is not None:
                check_output_file(self.report, "--understudy-report")
            self.out = Path(out) if out else None
            if self.out is not None:
                check_out_dir(self.out)
            self.seed = draw_seed(config.getoption("--understudy-seed"))
        except ConfigError as exc:
            raise pytest.UsageError(f"understudy: {exc}") from None
        self.harness: Harness | None = None
        self.saved: dict[str, str | None] = {}
        self.verdict: dict[str, Any] | None = None
        self.verdict_path: Path | None = None
        self.error: str | None = None
        self.started = time.monotonic()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        from understudy.errors import UnderstudyError
        from understudy.harness import Harness

        try:
            self.harness = Harness.start(self.world, self.facts, out=self.out, seed=self.seed)
        except UnderstudyError as exc:
            raise pytest.UsageError(f"understudy: {exc}") from None
        self.started = time.monotonic()
        for name, value in self.harness.overrides().items():
            self.saved[name] = os.environ.get(name)
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def _restore_environ(self) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self.saved = {}

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from analysis.judge import judge, write_verdict
        from understudy.errors import UnderstudyError

        self._restore_environ()
        harness = self.harness
        if harness is None:
            return
        command = {"argv": list(sys.argv), "exit_status": int(exitstatus), "signal": None,
                   "timed_out": False, "duration_s": round(time.monotonic() - self.started, 3),
                   "not_found": False}  # fmt: skip
        try:
            report = harness.stop()
            art = harness.artefacts
            verdict = judge(self.world, report, art.session_tape, command=command,
                            fail_on=self.fail_on)  # fmt: skip
            self.verdict_path = self.report or art.verdict
            write_verdict(self.verdict_path, verdict)
        except UnderstudyError as exc:
            self.error = str(exc)
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR
            return
        finally:
            harness.close()
        self.verdict = verdict
        self.config.stash[VERDICT_KEY] = verdict
        if verdict["verdict"] == "fail" and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from analysis.judge import summary_lines

        tr = terminalreporter
        tr.section("understudy check")
        if self.error is not None:
            tr.write_line(f"understudy: {self.error}", red=True)
            return
        if self.verdict is None:
            return
        failing = self.verdict["verdict"] == "fail"
        for line in summary_lines(self.verdict):
            tr.write_line(line, red=failing, green=not failing)
        if self.harness is not None:
            tr.write_line(f"artefacts: {self.harness.artefacts.root}")
        tr.write_line(f"verdict: {self.verdict_path}")
