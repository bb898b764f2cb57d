"""``understudy demo``: the end-to-end demo (lands with the check/diff issue)."""

from __future__ import annotations

import click

from understudy.cli.common import CONTEXT_SETTINGS

__all__ = ["demo"]


@click.command(context_settings=CONTEXT_SETTINGS)
def demo() -> None:
    """Run the whole record -> analyze -> check -> diff loop on an embedded example.

    \b
    Example:
      understudy demo
    """
    click.echo(
        "not yet: the demo arrives with `understudy check` and `understudy diff`. "
        "Meanwhile, record real traffic with `understudy record -h` and inspect it with "
        "`understudy tape info TAPE`."
    )
