"""A world's ``world.json``, read and validated without Arrow.

What a process that never touches the tables needs (the HTTP replayer serves an index
prepared in a child process): the document, its version checks and where each table file
lives, with the same messages as :func:`understudy.world.load_world` (which reads the tables
too, through this module).

Example::

    doc = read_world_doc(Path("prod.world"))
    doc.files["http_exchanges"]   # -> PosixPath('/.../prod.world/http_exchanges.parquet')
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from understudy.errors import WorldError

__all__ = [
    "MAX_WORLD_JSON_BYTES",
    "REQUIRED_KEYS",
    "TABLE_NAMES",
    "WORLD_FORMAT",
    "WORLD_JSON",
    "WORLD_SCHEMA_VERSION",
    "WorldDoc",
    "read_world_doc",
]

WORLD_SCHEMA_VERSION: Final = 1
WORLD_FORMAT: Final = "understudy-world"
WORLD_JSON: Final = "world.json"
MAX_WORLD_JSON_BYTES: Final = 256 * 1024 * 1024

#: Keys every world.json has (more are allowed).
REQUIRED_KEYS: Final = (
    "schema_version",
    "source",
    "routes",
    "rate_limits",
    "identity_classes",
    "permissions",
    "sql",
    "n_plus_one",
)

#: The tables a world may hold (``understudy.world.schema.TABLES`` has their schemas).
TABLE_NAMES: Final = ("http_exchanges", "http_responses", "sql_calls", "sql_results")


@dataclass
class WorldDoc:
    """A validated world.json: the document and the table files it names (resolved).

    ``rows`` holds the row count of each table once someone has read it (empty until then).
    """

    path: Path
    doc: dict[str, Any]
    files: dict[str, Path] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def has_http(self) -> bool:
        return bool(self.doc.get("routes")) or self.rows.get("http_exchanges", 0) > 0

    @property
    def has_sql(self) -> bool:
        return bool(self.doc.get("sql")) or self.rows.get("sql_calls", 0) > 0


def read_world_doc(path: Path | str) -> WorldDoc:
    """Read and validate ``path/world.json``; raise :class:`WorldError` with what to do."""
    path = Path(path).expanduser()
    meta = path / WORLD_JSON
    if not path.is_dir():
        raise WorldError(f"{path}: no such world directory (build one with `understudy analyze`)")
    if not meta.is_file():
        raise WorldError(f"{path}: no world.json (build one with `understudy analyze`)")
    try:
        size = meta.stat().st_size
        if size > MAX_WORLD_JSON_BYTES:
            raise WorldError(f"{meta}: {size} bytes is larger than any world.json we write")
        doc = json.loads(meta.read_bytes())
    except (OSError, ValueError, RecursionError) as exc:
        raise WorldError(f"{meta}: corrupt or unreadable world.json ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != WORLD_FORMAT:
        raise WorldError(f"{meta}: not an understudy world (format is not {WORLD_FORMAT!r})")
    version = doc.get("schema_version")
    if not isinstance(version, int) or version > WORLD_SCHEMA_VERSION or version < 1:
        raise WorldError(
            f"{meta}: world schema version {version!r} is not one this understudy reads "
            f"(<= {WORLD_SCHEMA_VERSION}); upgrade understudy or rebuild the world"
        )
    missing = [k for k in REQUIRED_KEYS if k not in doc]
    if missing:
        raise WorldError(f"{meta}: missing keys {', '.join(missing)}; rebuild the world")
    found = WorldDoc(path=path, doc=doc)
    root = path.resolve()
    listed = doc.get("tables") or {}
    if not isinstance(listed, dict):
        raise WorldError(f"{meta}: 'tables' must be an object")
    for name, entry in listed.items():
        if name not in TABLE_NAMES:
            continue  # a newer minor addition we do not serve
        file = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(file, str):
            raise WorldError(f"{meta}: table {name!r} has no file name")
        target = (path / file).resolve()
        if not target.is_relative_to(root) or target.parent != root:
            raise WorldError(f"{meta}: table file {file!r} escapes the world directory")
        found.files[name] = target
    return found
