"""``understudy analyze``: mine tapes into a world bundle (and an HTML report)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from understudy.cli.common import CONTEXT_SETTINGS, echo_json, json_option, print_table
from understudy.errors import ConfigError

__all__ = ["analyze"]


def _summary_tables(doc: dict[str, Any]) -> None:
    routes = sorted(doc.get("routes", []), key=lambda r: -int(r.get("count", 0)))
    print_table(
        f"routes ({len(routes)})",
        ["host", "method", "route", "count", "p50 ms", "p99 ms", "statuses"],
        [
            (
                r["host"],
                r["method"],
                r["route"],
                r["count"],
                r.get("latency_ms", {}).get("p50"),
                r.get("latency_ms", {}).get("p99"),
                " ".join(f"{k}:{v}" for k, v in r.get("status_counts", {}).items()),
            )
            for r in routes[:20]
        ],
    )
    if doc.get("rate_limits"):
        print_table(
            "rate limits (inferred)",
            ["host", "route", "scope", "class", "rate/s", "burst", "status", "evidence", "conf."],
            [
                (
                    x["host"],
                    x["route"],
                    x["scope"],
                    x.get("identity_class"),
                    x["rate_per_s"],
                    x["burst"],
                    x["limit_status"],
                    f"{x['evidence']['limited']} limited / {x['evidence']['accepted']} ok",
                    x["confidence"],
                )
                for x in doc["rate_limits"]
            ],
        )
    if doc.get("identity_classes"):
        print_table(
            "identity classes",
            ["class", "identities", "summary"],
            [(c["name"], len(c["identities"]), c.get("summary")) for c in doc["identity_classes"]],
        )
    sql = sorted(doc.get("sql", []), key=lambda s: -int(s.get("calls", 0)))
    if sql:
        print_table(
            f"top SQL fingerprints ({len(sql)})",
            ["fingerprint", "type", "calls", "p50 ms", "p99 ms", "errors", "normalized"],
            [
                (
                    s["fingerprint"],
                    s.get("statement_type"),
                    s["calls"],
                    s.get("latency_ms", {}).get("p50"),
                    s.get("latency_ms", {}).get("p99"),
                    " ".join(f"{k}:{v}" for k, v in s.get("errors", {}).items()),
                    str(s.get("normalized", ""))[:70],
                )
                for s in sql[:10]
            ],
        )
    if doc.get("n_plus_one"):
        print_table(
            "N+1 patterns",
            ["fingerprint", "route", "typical/request", "max/request", "occurrences"],
            [
                (
                    p["fingerprint"],
                    p.get("route"),
                    p["typical_per_request"],
                    p["max_per_request"],
                    p["occurrences"],
                )
                for p in doc["n_plus_one"]
            ],
        )


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("tapes", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--world",
    "world_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Directory to write the world bundle into (created 0700).",
)
@click.option(
    "--report",
    type=click.Path(path_type=Path),
    default=None,
    help="Also write a self-contained HTML report with plots.",
)
@json_option
def analyze(tapes: tuple[Path, ...], world_dir: Path, report: Path | None, as_json: bool) -> None:
    """Mine one or more tapes into a world bundle: routes, latency, limits, classes, SQL.

    \b
    Example:
      understudy analyze prod.tape more.tape --world prod.world --report world.html
    """  # fmt: skip
    from rich.console import Console

    from analysis.report.html import render_report
    from analysis.world import build_world, load_tapes
    from understudy.world import write_world

    if report is not None and report.exists() and report.is_dir():
        raise ConfigError(f"--report {report} is a directory; give a file name")
    console = Console(stderr=True)
    loaded = load_tapes(list(tapes))
    for t in loaded:
        for s in t.skipped:
            console.print(f"[yellow]skipped[/] {s.path}: {s.reason}")
    with console.status("analyzing") as status:
        built = build_world(loaded, progress=lambda msg: status.update(msg))
        write_world(world_dir, built.doc, built.tables)
        if report is not None:
            status.update("writing the HTML report")
            html = render_report(built.doc, built.http)
            fd = os.open(report, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(html)
    if as_json:
        echo_json(built.doc)
        return
    _summary_tables(built.doc)
    src = built.doc["source"]
    click.echo(
        f"world written to {world_dir} ({src['http_exchanges']} exchanges, "
        f"{src['sql_statements']} statements"
        + (", PARTIAL: some files skipped" if src["partial"] else "")
        + ")"
        + (f"; report {report}" if report else "")
    )
