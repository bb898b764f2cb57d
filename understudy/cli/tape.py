"""``understudy tape``: look inside tapes."""

from __future__ import annotations

from pathlib import Path

import click

from understudy.cli.common import CONTEXT_SETTINGS, echo_json, json_option, print_table

__all__ = ["tape"]


@click.group(context_settings=CONTEXT_SETTINGS)
def tape() -> None:
    """Inspect tapes (directories of Parquet parts written by `understudy record`).

    \b
    Example:
      understudy tape info prod.tape
    """


@tape.command("info", context_settings=CONTEXT_SETTINGS)
@click.argument("path", type=click.Path(path_type=Path))
@json_option
def info(path: Path, as_json: bool) -> None:
    """Summarise a tape: schema version, time span, rows per kind, skipped files.

    \b
    Example:
      understudy tape info prod.tape --json
    """
    from understudy.tape import open_tape  # polars and pyarrow: only when a tape is read

    t = open_tape(path)
    rows = {kind: t.count(kind) for kind in t.parts}
    parts = {kind: len(paths) for kind, paths in t.parts.items()}
    data: dict[str, object] = {
        "path": str(path),
        "schema_version": t.meta.get("schema_version"),
        "recorder_version": t.meta.get("recorder_version"),
        "started": t.meta.get("started"),
        "ended": t.meta.get("ended"),
        "rows": rows,
        "parts": parts,
        "skipped": [{"path": str(s.path), "reason": s.reason} for s in t.skipped],
        "partial": t.partial,
    }
    if as_json:
        echo_json(data)
        return
    print_table(
        f"tape {path}",
        ["kind", "rows", "parts"],
        [(k, rows[k], parts[k]) for k in t.parts],
    )
    click.echo(f"schema v{data['schema_version']}  {data['started']} .. {data['ended']}")
    for s in t.skipped:
        click.echo(f"skipped {s.path}: {s.reason}", err=True)
