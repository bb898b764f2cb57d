"""``judge``: a replay session (report, session tape, command) against its world -> verdict.

The verdict is deterministic: the same inputs give the same document (findings sorted,
numbers rounded, no timestamps of its own). Schema: docs/verdict.md.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections import Counter
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from analysis.judge import http_checks, sql_checks
from analysis.judge.command import command_failed, command_record
from analysis.judge.kinds import (
    DEFAULT_FAIL_ON,
    FINDING_KINDS,
    SEVERITIES,
    VERDICT_FORMAT,
    VERDICT_SCHEMA_VERSION,
    grade,
)
from analysis.judge.session import http_rows, load_session
from understudy.errors import ConfigError
from understudy.world import load_world

__all__ = ["judge", "summary_lines", "write_verdict"]

_REPORT_FORMAT = "understudy-session-report"


def _sort_key(f: Mapping[str, Any]) -> tuple[Any, ...]:
    return (not f["failing"], SEVERITIES.index(f["severity"]), -f["count"],
            FINDING_KINDS.index(f["kind"]), f["title"],
            json.dumps(f["evidence"], sort_keys=True, default=str))  # fmt: skip


def judge(
    world: Path,
    report: Mapping[str, Any],
    session_tape: Path | None,
    *,
    command: Mapping[str, Any] | None = None,
    fail_on: Collection[str] = DEFAULT_FAIL_ON,
) -> dict[str, Any]:
    """Judge one replay session against ``world``.

    Parameters
    ----------
    world : Path
        The world bundle the session was served from (production's baseline).
    report : Mapping
        The replayer's session report (docs/session-report.md).
    session_tape : Path or None
        The replayer's ``--session-tape`` directory; without it N+1 and rates are not
        checked (the verdict's ``notes`` say so).
    command : Mapping, optional
        ``{"argv", "exit_status", "signal", "timed_out", "duration_s", "not_found"}``.
    fail_on : collection of str
        Finding kinds that fail the run (:func:`analysis.judge.parse_fail_on`).

    Returns
    -------
    dict
        The verdict document; ``exit_code`` 0 (pass), 1 (failing findings) or 3 (the
        command failed, and ``command_failed`` is in ``fail_on``).
    """
    unknown = sorted(set(fail_on) - set(FINDING_KINDS))
    if unknown:
        raise ConfigError(f"fail_on: unknown finding kinds {', '.join(unknown)}")
    if not isinstance(report, Mapping) or report.get("format", _REPORT_FORMAT) != _REPORT_FORMAT:
        raise ConfigError("not an understudy session report (format is not "
                          f"{_REPORT_FORMAT!r})")  # fmt: skip
    doc = load_world(world).doc
    session = load_session(session_tape)
    notes = list(session.notes)
    rows = None if session.http is None else http_rows(session.http, doc, report)
    sql_report: Mapping[str, Any] = report.get("sql") or {}
    raw: list[dict[str, Any]] = []
    raw += http_checks.misses(report)
    raw += http_checks.refusals(report, doc)
    raw += http_checks.throttled(report, rows)
    raw += http_checks.faults_http(report)
    if rows is not None:
        if not any(r.get("per_identity_second") for r in doc.get("routes") or []):
            notes.append("the world has no per-route rate baseline: HTTP excess_calls skipped")
        raw += http_checks.excess_http(rows, doc)
    raw += sql_checks.sql_misses(sql_report)
    raw += sql_checks.new_fingerprints(sql_report)
    raw += sql_checks.faults_sql(sql_report)
    if session.sql is not None:
        mined = sql_checks.mine_session_sql(session.sql, session.http)
        n1 = sql_checks.n_plus_one(mined, doc)
        raw += n1
        excess, has_baseline = sql_checks.excess_sql(
            mined, doc, {f["evidence"]["fingerprint"] for f in n1}
        )
        raw += excess
        if not has_baseline:
            notes.append("the world has no SQL per-unit baseline: SQL excess_calls skipped")
    raw += command_failed(command)
    fail = frozenset(fail_on)
    findings = sorted((grade(f, fail) for f in raw), key=_sort_key)
    failing = [f for f in findings if f["failing"]]
    command_broke = any(f["kind"] == "command_failed" for f in failing)
    exit_code = 3 if command_broke else 1 if failing else 0
    settings = dict(report.get("settings") or {})
    by_kind = Counter(f["kind"] for f in findings)
    return {
        "format": VERDICT_FORMAT,
        "schema_version": VERDICT_SCHEMA_VERSION,
        "verdict": "fail" if failing else "pass",
        "exit_code": exit_code,
        "world": str(world),
        "seed": settings.get("seed"),
        "settings": settings,
        "command": command_record(command),
        "counts": {
            "http_requests": int((report.get("totals") or {}).get("requests") or 0),
            "sql_statements": int(sql_report.get("statements") or 0),
            "findings": len(findings),
            "failing": len(failing),
            "by_kind": {k: by_kind[k] for k in FINDING_KINDS if by_kind[k]},
        },
        "findings": findings,
        "fail_on": [k for k in FINDING_KINDS if k in fail],
        "notes": notes,
    }


def summary_lines(verdict: Mapping[str, Any], max_findings: int = 10) -> list[str]:
    """A short human summary: the verdict, then the first findings with their hints.

    >>> v = {"verdict": "pass", "exit_code": 0, "counts": {"http_requests": 3,
    ...      "sql_statements": 0, "findings": 0, "failing": 0}, "findings": []}
    >>> summary_lines(v)
    ['understudy check: PASS: 3 HTTP requests, 0 SQL statements, no findings']
    """
    c = verdict.get("counts") or {}
    found = list(verdict.get("findings") or [])
    what = f"{c.get('http_requests', 0)} HTTP requests, {c.get('sql_statements', 0)} SQL statements"
    if not found:
        return [f"understudy check: {str(verdict.get('verdict')).upper()}: {what}, no findings"]
    head = (f"understudy check: {str(verdict.get('verdict')).upper()} (exit "
            f"{verdict.get('exit_code')}): {c.get('failing', 0)} failing of "
            f"{c.get('findings', 0)} findings; {what}")  # fmt: skip
    lines = [head]
    mark = {"error": "FAIL", "warning": "warn", "info": "info"}
    for f in found[:max_findings]:
        lines.append(f"  {mark.get(f['severity'], '?'):4} {f['kind']}: {f['title']}")
        if f["failing"]:
            lines.append(f"       -> {f['hint']}")
    if len(found) > max_findings:
        lines.append(f"  ... and {len(found) - max_findings} more findings in the verdict JSON")
    return lines


def write_verdict(path: Path, verdict: Mapping[str, Any]) -> None:
    """Write ``verdict`` as JSON atomically (temp file, fsync, rename), mode 0600.

    Raises :class:`ConfigError` (one line) when it cannot be written.
    """
    path = Path(path).expanduser()
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(verdict, f, indent=2, default=str)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ConfigError(f"--report {path}: cannot write the verdict "
                          f"({exc.strerror or exc})") from exc  # fmt: skip
