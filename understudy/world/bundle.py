"""Writing and loading world bundles, validated before anything serves them."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from understudy.errors import WorldError
from understudy.tape.writer import fsync_dir
from understudy.world.meta import (
    MAX_WORLD_JSON_BYTES,
    REQUIRED_KEYS,
    WORLD_FORMAT,
    WORLD_JSON,
    WORLD_SCHEMA_VERSION,
    read_world_doc,
)
from understudy.world.schema import TABLES

__all__ = ["MAX_WORLD_JSON_BYTES", "World", "load_world", "write_world"]

_META_KEY = b"understudy.world_schema_version"


@dataclass
class World:
    """A loaded world: the model (``doc``) and its tables (empty when absent)."""

    path: Path
    doc: dict[str, Any]
    tables: dict[str, pa.Table] = field(default_factory=dict)

    def table(self, name: str) -> pa.Table:
        return self.tables.get(name, TABLES[name].empty_table())

    @property
    def has_http(self) -> bool:
        return bool(self.doc.get("routes")) or self.table("http_exchanges").num_rows > 0

    @property
    def has_sql(self) -> bool:
        return bool(self.doc.get("sql")) or self.table("sql_calls").num_rows > 0


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise WorldError(f"cannot write {path}: {exc.strerror or exc}") from exc


def write_world(path: Path, doc: dict[str, Any], tables: dict[str, pa.Table]) -> Path:
    """Write ``doc`` as world.json and ``tables`` as Parquet into ``path`` (0700, files 0600).

    Tables are written first and world.json last, each atomically, so a reader never sees a
    world.json that names tables not yet written.
    """
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        raise WorldError(f"world document lacks required keys: {', '.join(missing)}")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise WorldError(f"cannot create world directory {path}: {exc.strerror}") from exc
    doc = {**doc, "format": WORLD_FORMAT, "schema_version": WORLD_SCHEMA_VERSION}
    doc["tables"] = {}
    for name, table in tables.items():
        schema = TABLES[name].with_metadata({_META_KEY: str(WORLD_SCHEMA_VERSION).encode()})
        table = table.select(schema.names).cast(schema)
        _atomic_write(
            path / f"{name}.parquet",
            lambda f, t=table: pq.write_table(t, f, compression="zstd"),
        )
        doc["tables"][name] = {"file": f"{name}.parquet", "rows": table.num_rows}
    text = json.dumps(doc, indent=2, sort_keys=False, default=str).encode() + b"\n"
    _atomic_write(path / WORLD_JSON, lambda f: f.write(text))
    fsync_dir(path)
    return path


def load_world(path: Path | str) -> World:
    """Load and validate a world bundle; raise :class:`WorldError` with an actionable message."""
    found = read_world_doc(path)
    world = World(path=found.path, doc=found.doc)
    for name, target in found.files.items():
        try:
            table = pq.read_table(target)
            world.tables[name] = table.select(TABLES[name].names).cast(TABLES[name])
        except (OSError, pa.ArrowException, KeyError, ValueError) as exc:
            raise WorldError(f"{target}: corrupt world table ({exc}); rebuild the world") from exc
    return world
