"""The preparing child: load the world with Arrow, index it, write the prepared form.

Run as ``python -m replayer.prepared WORLD OUT`` by :func:`replayer.prepared.prepare_world`
(this module is the only one of the package that imports Arrow). ``OUT`` is a private
directory the parent created; ``OUT/result.json`` says how it went: ``{"ok": true}``, or
``{"error": "world" | "config", "message": ...}`` for an error the parent raises as its own.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from replayer.core.doc import parse_doc
from replayer.core.model import index_exchanges
from replayer.prepared.files import RESPONSES, write_index
from replayer.prepared.responses import write_responses
from understudy.errors import ConfigError, WorldError
from understudy.world import load_world

__all__ = ["RESULT_JSON", "main", "prepare_into"]

RESULT_JSON = "result.json"


def _responses(table: pa.Table) -> Iterator[tuple[Any, ...]]:
    names = ("status", "headers", "body", "response_id", "body_truncated")
    yield from zip(*(table.column(c).to_pylist() for c in names), strict=True)


def prepare_into(world_path: Path, out: Path) -> None:
    """Index the world at ``world_path`` into the directory ``out`` (see module doc)."""
    world = load_world(world_path)
    specs = parse_doc(world.doc)
    store, index = index_exchanges(world, specs)
    del store
    rows = {name: int(t.num_rows) for name, t in world.tables.items()}
    fd = os.open(out / RESPONSES, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        offsets = write_responses(f, _responses(world.table("http_responses")))
    write_index(out, index, rows, offsets)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m replayer.prepared WORLD OUT", file=sys.stderr)
        return 2
    world_path, out = Path(argv[0]), Path(argv[1])
    try:
        prepare_into(world_path, out)
        result: dict[str, Any] = {"ok": True}
    except WorldError as exc:
        result = {"error": "world", "message": str(exc)}
    except ConfigError as exc:
        result = {"error": "config", "message": str(exc)}
    fd = os.open(out / RESULT_JSON, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(result, f)
    return 0
