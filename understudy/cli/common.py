"""Shared pieces of the command line: context settings, error translation, output helpers."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

import click

from understudy.errors import ConfigError, UnderstudyError

__all__ = [
    "CONTEXT_SETTINGS",
    "BadInput",
    "UnderstudyGroup",
    "echo_json",
    "json_option",
    "print_table",
]

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class BadInput(click.ClickException):
    """Bad options, input or environment, found before anything listens: one line, exit 2."""

    exit_code = 2


class UnderstudyGroup(click.Group):
    """A group whose commands turn our errors into one actionable line, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise BadInput(str(exc)) from exc
        except UnderstudyError as exc:
            raise click.ClickException(str(exc)) from exc


def json_option[F: Callable[..., Any]](f: F) -> F:
    """``--json``: print machine-readable output instead of tables."""
    return click.option(
        "--json", "as_json", is_flag=True, help="Print JSON for machines instead of tables."
    )(f)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def print_table(
    title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], *, err: bool = False
) -> None:
    """Render a terminal table with rich (falls back to plain text when not a terminal)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console(file=sys.stderr if err else sys.stdout, soft_wrap=True).print(table)
