"""Reading tapes: every committed part, any schema version, leftovers skipped and named.

Example::

    tape = open_tape(Path("prod.tape"))
    tape.scan("http").group_by("host").len().collect()
    for s in tape.skipped:
        print(s.path, s.reason)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from understudy.errors import TapeError, TapeFormatError
from understudy.tape.meta import read_meta
from understudy.tape.migrate import migrate
from understudy.tape.schema import (
    KINDS,
    META_KIND,
    META_SCHEMA_VERSION,
    SCHEMA_VERSION,
    schema_for,
)
from understudy.tape.writer import PART_PREFIX

__all__ = ["SkippedFile", "Tape", "open_tape"]

#: A footer larger than this is refused: a hostile file must not make us allocate gigabytes.
MAX_FOOTER_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SkippedFile:
    """A file in a tape directory that is not a readable part, and why."""

    path: Path
    reason: str


@dataclass
class Tape:
    """A tape directory opened for reading."""

    path: Path
    meta: dict[str, Any]
    parts: dict[str, list[Path]] = field(default_factory=dict)
    versions: dict[Path, int] = field(default_factory=dict)
    skipped: list[SkippedFile] = field(default_factory=list)
    rows: dict[Path, int] = field(default_factory=dict)

    @property
    def partial(self) -> bool:
        """True when some file in the tape could not be read (see :attr:`skipped`)."""
        return bool(self.skipped)

    def count(self, kind: str) -> int:
        """Number of committed rows of ``kind``."""
        return sum(self.rows[p] for p in self.parts.get(kind, []))

    def read(self, kind: str) -> pa.Table:
        """All rows of ``kind`` as one Arrow table of the current schema."""
        schema = schema_for(kind)
        tables = [migrate(kind, pq.read_table(p), self.versions[p]) for p in self.parts[kind]]
        if not tables:
            return schema.empty_table()
        return pa.concat_tables(tables)

    def scan(self, kind: str) -> pl.LazyFrame:
        """A lazy polars scan of every committed part of ``kind`` (current schema)."""
        paths = self.parts.get(kind, [])
        if not paths:
            return pl.from_arrow(schema_for(kind).empty_table()).lazy()  # type: ignore[union-attr]
        if all(self.versions[p] == SCHEMA_VERSION for p in paths):
            return pl.scan_parquet([str(p) for p in paths])
        return pl.from_arrow(self.read(kind)).lazy()  # type: ignore[union-attr]


def _inspect(path: Path, kind: str) -> tuple[int, int] | str:
    """Return (schema_version, rows) of a part, or the reason it cannot be read."""
    try:
        if path.stat().st_size == 0:
            return "empty file (zero bytes)"
        md = pq.read_metadata(path)
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    except (pa.ArrowException, ValueError) as exc:
        return f"no valid Parquet footer (interrupted write?): {exc}"
    if md.serialized_size > MAX_FOOTER_BYTES:
        return f"Parquet footer of {md.serialized_size} bytes exceeds {MAX_FOOTER_BYTES}"
    kv = md.metadata or {}
    raw_version = kv.get(META_SCHEMA_VERSION)
    if raw_version is None:
        return "not an understudy part (no schema version in its metadata)"
    try:
        version = int(raw_version.decode("ascii", "strict"))
    except (UnicodeDecodeError, ValueError):
        return f"invalid schema version {raw_version[:40]!r}"
    if kv.get(META_KIND, b"").decode("ascii", "replace") != kind:
        return f"part of kind {kv.get(META_KIND, b'?')[:20]!r} found under {kind}/"
    if version > SCHEMA_VERSION or version < 1:
        return f"schema version {version} is newer than this understudy reads ({SCHEMA_VERSION})"
    return version, md.num_rows


def open_tape(path: Path | str) -> Tape:
    """Open a tape directory, listing its committed parts and the files it skips.

    Raises :class:`TapeError` when ``path`` is not a tape directory at all.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise TapeError(f"{path}: no such tape directory")
    meta = read_meta(path)
    kind_dirs = [k for k in KINDS if (path / k).is_dir()]
    if not meta and not kind_dirs:
        raise TapeFormatError(f"{path}: not a tape (no tape.json, no http/ or sql/ directory)")
    root = path.resolve()
    tape = Tape(path=path, meta=meta)
    for kind in KINDS:
        tape.parts[kind] = []
        kind_dir = path / kind
        if not kind_dir.is_dir():
            continue
        for entry in sorted(kind_dir.iterdir()):
            name = entry.name
            if entry.is_symlink():
                tape.skipped.append(SkippedFile(entry, "symbolic link (not followed)"))
                continue
            if not entry.resolve().is_relative_to(root) or not entry.is_file():
                tape.skipped.append(SkippedFile(entry, "not a regular file"))
                continue
            if name.startswith("."):
                tape.skipped.append(SkippedFile(entry, "temporary file (uncommitted write)"))
                continue
            if not (name.startswith(PART_PREFIX) and name.endswith(".parquet")):
                tape.skipped.append(SkippedFile(entry, "not a part file (part-*.parquet)"))
                continue
            info = _inspect(entry, kind)
            if isinstance(info, str):
                tape.skipped.append(SkippedFile(entry, info))
                continue
            tape.parts[kind].append(entry)
            tape.versions[entry], tape.rows[entry] = info
    return tape
