"""The end of the demo: where every artefact is, what each step proved, and ``demo.json``.

Example::

    write_summary(ws, summary)          # $DEMO/demo.json, 0600, written atomically
    print_recap(progress, ws, summary)  # the table and the closing lines
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from rich.markup import escape
from rich.table import Table

from understudy.demo.console import Progress
from understudy.demo.workspace import Workspace

__all__ = ["artefacts", "print_recap", "write_summary"]


def artefacts(ws: Workspace) -> list[tuple[str, str]]:
    """(path, what it is) of the demo's artefacts that exist."""
    items = [
        (ws.tape, "production tape: every HTTP exchange and SQL statement (Parquet, redacted)"),
        (ws.world, "the world mined from it: routes, limits, classes, permissions, SQL"),
        (ws.report_html, "the analysis' HTML report (latency, rates vs fitted limits, SQL)"),
        (ws.verdict("v1"), "check of v1: its verdict (pass)"),
        (ws.verdict("v2"), "check of v2: its verdict (fail: N+1, throttled)"),
        (ws.check_dir("v1"), "v1's check artefacts: session tape, session report, logs"),
        (ws.check_dir("v2"), "v2's check artefacts: session tape, session report, logs"),
        (ws.diff_json, "understudy diff of the two session tapes (JSON)"),
        (ws.logs, "every child's output"),
        (ws.summary_json, "this run's summary (JSON)"),
    ]
    return [(str(p.relative_to(ws.root)), what) for p, what in items if p.exists()]


def write_summary(ws: Workspace, summary: dict[str, Any]) -> None:
    """``demo.json``: owner-only, written to a temporary name and renamed."""
    summary["artefacts"] = {path: what for path, what in artefacts(ws)}
    summary["artefacts"].setdefault("demo.json", "this run's summary (JSON)")
    fd, tmp = tempfile.mkstemp(dir=ws.root, prefix=".demo-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2, sort_keys=True, default=str)
        os.replace(tmp, ws.summary_json)
    except BaseException:
        os.unlink(tmp)
        raise


def print_recap(progress: Progress, ws: Workspace, summary: dict[str, Any]) -> None:
    """The artefact table and one line per thing the run proved."""
    con = progress.console
    table = Table(title=f"artefacts in {ws.root}", title_justify="left")
    table.add_column("path")
    table.add_column("what")
    for path, what in artefacts(ws):
        table.add_row(escape(path), escape(what))
    con.print(table)
    for line in proved(summary):
        con.print(f"  - {escape(line)}")
    total = summary.get("seconds", progress.elapsed())
    if summary.get("story_holds"):
        con.print(f"[bold green]demo complete[/] in {total:.0f} s: {ws.root}")
    else:
        con.print(f"[bold red]demo incomplete[/] after {total:.0f} s: {ws.root}")
        for problem in summary.get("problems", []):
            con.print(f"  [red]{escape(problem)}[/]")


def proved(summary: dict[str, Any]) -> list[str]:
    """What each step showed, from the summary's numbers."""
    lines = []
    prod = summary.get("production") or {}
    if prod:
        lines.append(
            f"record: production traffic ({prod.get('http_exchanges')} HTTP exchanges, "
            f"{prod.get('sql_statements')} SQL statements) captured at the network boundary, "
            "secrets redacted before disk"
        )
    world = summary.get("world") or {}
    if world:
        limits = ", ".join(
            f"{x.get('identity_class')} {x['rate_per_s']:.1f}/s burst {x['burst']}"
            for x in world.get("rate_limits", [])
        )
        lines.append(
            "analyze: the API's undocumented rules recovered from traffic alone "
            f"({limits or 'no limits'}), {world.get('sql_fingerprints')} SQL fingerprints"
        )
    verdicts = summary.get("verdicts") or {}
    for version, v in sorted(verdicts.items()):
        if v.get("verdict"):
            kinds = ", ".join(v.get("kinds", [])) or "no findings"
            lines.append(
                f"check {version}: {v['verdict']} (exit {v.get('exit_code')}; {kinds}), with the "
                "API and the database switched off: the world alone answered"
            )
        elif v.get("skipped"):
            lines.append(f"check {version}: not run ({v['skipped']})")
    diff = summary.get("diff") or {}
    if diff.get("headline"):
        lines.append(f"diff: {diff['headline']}")
    elif diff.get("skipped"):
        lines.append(f"diff: not run ({diff['skipped']})")
    return lines
