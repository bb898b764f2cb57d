"""The ``understudy`` command line: one module per command group, registered here.

Every command's help opens with one line, then an ``Example:`` block; ``-h`` works everywhere.
Errors of ours become one actionable line on stderr and exit status 2 (bad input) or 1.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from understudy import __version__
from understudy.cli.common import CONTEXT_SETTINGS, UnderstudyGroup

__all__ = ["cli", "main"]


@click.group(cls=UnderstudyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="understudy")
def cli() -> None:
    """Record production traffic, mine it into a world model, replay it to candidate code.

    \b
    Example:
      understudy record --tape prod.tape --mode reverse:https://api.example.com
      understudy tape info prod.tape
    """


def _register() -> None:
    from understudy.cli import analyze, check, demo, diff, io, record, replay, tape

    cli.add_command(record.record)
    cli.add_command(analyze.analyze)
    cli.add_command(replay.replay)
    cli.add_command(tape.tape)
    cli.add_command(demo.demo)
    cli.add_command(check.check)
    cli.add_command(diff.diff)
    cli.add_command(io.import_)
    cli.add_command(io.export)


_register()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``understudy`` console script."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="understudy")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
