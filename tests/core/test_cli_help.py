"""Every command has -h help that opens with one line and shows an Example, and is in the README."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from understudy.cli import cli

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    out = []
    for name, cmd in sorted(group.commands.items()):
        path = (*prefix, name)
        if isinstance(cmd, click.Group):
            out += _commands(cmd, path)
        else:
            out.append(path)
    return out


COMMANDS = _commands(cli)


def test_there_are_commands() -> None:
    assert ("record",) in COMMANDS and ("tape", "info") in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_has_summary_and_example(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "-h"])
    assert result.exit_code == 0, result.output
    assert "Example:" in result.output
    assert f"understudy {' '.join(path)}" in result.output


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_command_is_in_readme(path: tuple[str, ...]) -> None:
    assert f"understudy {' '.join(path)}" in README


def test_errors_are_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["tape", "info", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path / 'nope'}: no such tape directory"
    ]
