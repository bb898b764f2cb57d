"""``understudy check``: run a command against a world, judge what it did, exit with the verdict."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from understudy.cli.common import CONTEXT_SETTINGS, echo_json, json_option, print_table

__all__ = ["check", "print_verdict"]

_SETTINGS: dict[str, Any] = {**CONTEXT_SETTINGS, "allow_interspersed_args": False}


@click.command(context_settings=_SETTINGS)
@click.option(
    "--world",
    required=True,
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="World bundle to serve (built by `understudy analyze`).",
)
@click.option(
    "--report",
    "verdict_path",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Write the verdict JSON here [OUT/verdict.json].",
)
@click.option(
    "--fail-on",
    default="default",
    show_default=True,
    metavar="KINDS",
    help="Finding kinds that fail the run: kinds, default, all, none; +kind adds, -kind "
    "removes (e.g. default,+latency).",
)
@click.option("--seed", type=int, metavar="N", help="Seed of the replay [drawn, recorded].")
@click.option(
    "--timeout",
    metavar="DURATION",
    help="Stop the command after this long (SIGTERM to its group, SIGKILL 5 s later) [no limit].",
)
@click.option(
    "--faults",
    type=click.Choice(["off", "observed"]),
    default="off",
    show_default=True,
    help="Inject each route's observed 5xx, timeouts and resets at their rate.",
)
@click.option(
    "--latency",
    type=click.Choice(["recorded", "off"]),
    default="recorded",
    show_default=True,
    help="Delay answers by latencies drawn from the recording.",
)
@click.option(
    "--limits",
    type=click.Choice(["on", "off"]),
    default="on",
    show_default=True,
    help="Enforce the rate limits the world measured.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    metavar="DIR",
    help="Artefact directory (new or empty): replayer log, session report and tape, "
    "verdict [a fresh temp dir, named on stderr].",
)
@json_option
@click.argument("cmd", nargs=-1, type=click.UNPROCESSED, metavar="-- CMD [ARGS]...")
def check(
    world: Path,
    verdict_path: Path | None,
    fail_on: str,
    seed: int | None,
    timeout: str | None,
    faults: str,
    latency: str,
    limits: str,
    out: Path | None,
    as_json: bool,
    cmd: tuple[str, ...],
) -> None:
    """Run a command against a world (HTTP proxy + PostgreSQL) and judge what it did.

    \b
    Example:
      understudy check --world prod.world -- pytest -q tests/integration
      understudy check --world prod.world --fail-on default,+latency --timeout 10m \\
          --report verdict.json -- ./run-candidate.sh
      understudy check --world prod.world --json -- python agent_task.py > verdict.json

    The command runs with HTTP(S)_PROXY, the replayer's CA (SSL_CERT_FILE,
    REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE, NODE_EXTRA_CA_CERTS), PGHOST/PGPORT/DATABASE_URL and
    UNDERSTUDY_CHECK=1 set. Exit status: 0 pass, 1 failing findings, 2 bad input, 3 the
    command itself failed (non-zero exit, killed, timed out). With --json the verdict is
    the only thing on stdout (the command's stdout goes to stderr). See docs/check.md.
    """
    from analysis.judge import judge, parse_fail_on, write_verdict
    from understudy.harness import (
        Harness,
        check_out_dir,
        check_output_file,
        draw_seed,
        load_facts,
        resolve_command,
        run_command,
    )
    from understudy.sizes import parse_duration

    # everything is checked before anything starts
    facts = load_facts(world)
    fail = parse_fail_on(fail_on)
    argv = resolve_command(cmd)
    timeout_s = parse_duration(timeout) if timeout else None
    if verdict_path is not None:
        check_output_file(verdict_path, "--report")
    if out is not None:
        check_out_dir(out)
    seed = draw_seed(seed)

    try:
        harness = Harness.start(world, facts, out=out, seed=seed, latency=latency,
                                faults=faults, limits=limits)  # fmt: skip
        art = harness.artefacts
        click.echo(f"understudy check: artefacts in {art.root}", err=True)
        with harness:
            env = harness.candidate_env(_environ())
            result = run_command(argv, env, timeout=timeout_s, watch=harness.child.failure,
                                 stdout=sys.stderr if as_json else None)  # fmt: skip
            report = harness.stop()
        verdict = judge(world, report, art.session_tape, command=result.record(),
                        fail_on=fail)  # fmt: skip
    except KeyboardInterrupt:  # outside the command's run (start-up, judging)
        click.echo("understudy check: interrupted; nothing judged", err=True)
        raise click.exceptions.Exit(130) from None
    target = verdict_path or art.verdict
    write_verdict(target, verdict)
    print_verdict(verdict)
    click.echo(f"understudy check: verdict written to {target}", err=True)
    if as_json:
        echo_json(verdict)
    click.get_current_context().exit(int(verdict["exit_code"]))


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def print_verdict(verdict: dict[str, Any]) -> None:
    """The judge's summary lines, then a table of the findings, on stderr."""
    from analysis.judge import summary_lines

    for line in summary_lines(verdict):
        click.echo(line, err=True)
    findings = verdict.get("findings") or []
    if findings:
        rows = [(f["kind"], f["severity"], f["count"], f["title"]) for f in findings]
        print_table("findings", ["kind", "severity", "count", "title"], rows, err=True)
