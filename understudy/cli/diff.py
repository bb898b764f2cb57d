"""``understudy diff A B``: what changed in behaviour between two tapes."""

from __future__ import annotations

from pathlib import Path

import click

from understudy.cli.common import CONTEXT_SETTINGS, echo_json, json_option, print_table

__all__ = ["diff"]


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("a", type=click.Path(path_type=Path), metavar="A")
@click.argument("b", type=click.Path(path_type=Path), metavar="B")
@click.option(
    "--min-samples",
    default=20,
    show_default=True,
    metavar="N",
    help="Samples needed on each side before a latency change is tested.",
)
@click.option(
    "--alpha",
    default=0.01,
    show_default=True,
    metavar="P",
    help="Significance level of the latency tests (Holm-corrected).",
)
@click.option(
    "--fail-on-change",
    is_flag=True,
    help="Exit 1 when anything changed (for CI gates); the default is exit 0.",
)
@json_option
def diff(
    a: Path, b: Path, min_samples: int, alpha: float, fail_on_change: bool, as_json: bool
) -> None:
    """Compare the behaviour of two tapes: routes, SQL, N+1, status mixes, latency, limits.

    \b
    Example:
      understudy diff v1-session.tape v2-session.tape
      understudy diff prod.tape check-out/session.tape --json > diff.json

    A and B are tapes: production tapes from `understudy record`, or session tapes of two
    versions run against one world (`understudy check` keeps one in its artefact directory).
    Routes are templated over both tapes together; latency changes are reported only when a
    Mann-Whitney U test supports them (docs/diff.md).
    """
    from analysis.diff import DiffSettings, diff_rows, diff_tapes, headline
    from understudy.errors import ConfigError

    if min_samples < 2 or not 0 < alpha < 1:
        raise ConfigError("--min-samples must be >= 2 and --alpha between 0 and 1")
    doc = diff_tapes(a, b, settings=DiffSettings(min_samples=min_samples, alpha=alpha))
    if as_json:
        echo_json(doc)
    else:
        click.echo(
            f"A {a}: {doc['a']['http_exchanges']} HTTP exchanges, "
            f"{doc['a']['sql_statements']} SQL statements"
        )
        click.echo(
            f"B {b}: {doc['b']['http_exchanges']} HTTP exchanges, "
            f"{doc['b']['sql_statements']} SQL statements"
        )
        rows = diff_rows(doc)
        if rows:
            print_table(headline(doc), ["change", "what", "A", "B", "evidence"], rows)
        else:
            click.echo(headline(doc))
        for side in ("a", "b"):
            for s in doc[side]["skipped"]:
                click.echo(
                    f"understudy: {side.upper()}: skipped {s['path']}: {s['reason']}", err=True
                )
    if fail_on_change and doc["changed"]:
        raise SystemExit(1)
