"""``understudy demo``: the end-to-end demo (record, analyze, check, diff) in one directory."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from understudy.cli.common import CONTEXT_SETTINGS, echo_json, json_option

__all__ = ["demo"]


@click.command(context_settings=CONTEXT_SETTINGS)
@click.option(
    "--dir",
    "directory",
    type=click.Path(path_type=Path, file_okay=False),
    help="Directory for every artefact (new or empty; created 0700) "
    "[$TMPDIR/understudy-demo-YYYYmmdd-HHMMSS].",
)
@click.option(
    "--keep",
    is_flag=True,
    help="Also keep the production PostgreSQL cluster (DIR/pg), stopped, for inspection.",
)
@click.option(
    "--seed", type=int, default=7, show_default=True, help="Seed of the replayer's draws."
)
@json_option
def demo(directory: Path | None, keep: bool, seed: int, as_json: bool) -> None:
    """Run the whole record -> analyze -> check -> diff loop on an embedded example.

    \b
    Example:
      understudy demo
      understudy demo --dir ./demo-run --json > demo.json

    A real PostgreSQL and a plan-limited API are started on loopback ports; an invoice job
    (version 1) runs as production through `understudy record`; `understudy analyze` mines
    the tape into a world; `understudy check` passes v1 and fails v2 (an N+1 and a burst
    past the free plan's limit) against the world alone; `understudy diff` compares the two
    sessions. Progress goes to stdout (stderr with --json, which prints the summary). Exit
    status 0 when the story held, 1 when a step failed, 2 for bad input. See docs/demo.md.
    """
    from understudy.demo import DemoError, run_demo

    try:
        summary = run_demo(directory, keep=keep, seed=seed, out=sys.stderr if as_json else None)
    except KeyboardInterrupt:
        click.echo("understudy demo: interrupted; every child process was stopped", err=True)
        sys.exit(130)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        echo_json(summary)
    if not summary.get("story_holds"):
        sys.exit(1)
