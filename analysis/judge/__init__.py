"""The judge: a replay session against its world, one verdict (``understudy check``).

The replayer's session report and session tape say what candidate code did; the world
bundle says what production does. :func:`judge` compares them and returns the verdict
document (docs/verdict.md): findings of the kinds in :data:`FINDING_KINDS`, graded by the
kinds that fail the run (``--fail-on``, :func:`parse_fail_on`), and an exit code.

Example::

    verdict = judge(Path("prod.world"), report, Path("session.tape"),
                    command={"argv": ["pytest"], "exit_status": 0, "signal": None,
                             "timed_out": False, "duration_s": 4.2, "not_found": False})
    write_verdict(Path("verdict.json"), verdict)
    print("\\n".join(summary_lines(verdict)))

Modules: ``kinds`` (kinds, fail-on grammar, grading), ``session`` (session tape rows keyed
like the world), ``rates`` (windowed request rates), ``http_checks``, ``sql_checks``,
``command``, ``verdict`` (assembly, summary, writing).
"""

from __future__ import annotations

from analysis.judge.kinds import (
    DEFAULT_FAIL_ON,
    EXCESS_FACTOR,
    EXCESS_MIN_EXTRA,
    FINDING_KINDS,
    VERDICT_FORMAT,
    VERDICT_SCHEMA_VERSION,
    parse_fail_on,
)
from analysis.judge.verdict import judge, summary_lines, write_verdict

__all__ = [
    "DEFAULT_FAIL_ON",
    "EXCESS_FACTOR",
    "EXCESS_MIN_EXTRA",
    "FINDING_KINDS",
    "VERDICT_FORMAT",
    "VERDICT_SCHEMA_VERSION",
    "judge",
    "parse_fail_on",
    "summary_lines",
    "write_verdict",
]
