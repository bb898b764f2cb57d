"""The tape: a directory of Parquet parts that any engine can read. See docs/tape-format.md."""

from __future__ import annotations

from understudy.tape.meta import TAPE_JSON, ensure_tape_dir, read_meta, update_meta
from understudy.tape.reader import SkippedFile, Tape, open_tape
from understudy.tape.schema import HTTP_SCHEMA, SCHEMA_VERSION, SQL_SCHEMA, schema_for
from understudy.tape.writer import PartWriter, WriterStats, commit_part

__all__ = [
    "HTTP_SCHEMA",
    "SCHEMA_VERSION",
    "SQL_SCHEMA",
    "TAPE_JSON",
    "PartWriter",
    "SkippedFile",
    "Tape",
    "WriterStats",
    "commit_part",
    "ensure_tape_dir",
    "open_tape",
    "read_meta",
    "schema_for",
    "update_meta",
]
