"""The tape: a directory of Parquet parts that any engine can read. See docs/tape-format.md.

The public names are imported lazily (module ``__getattr__``, PEP 562): the replayer and the
recorder only write tapes, and must not pay for the reader, which pulls in polars (about 35 MiB
of resident memory and a quarter of a second of start-up).

Example::

    >>> import understudy.tape as tape
    >>> tape.SCHEMA_VERSION >= 1
    True
    >>> callable(tape.open_tape)
    True
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from understudy.lazy import lazy_name

if TYPE_CHECKING:
    from understudy.tape.meta import TAPE_JSON, ensure_tape_dir, read_meta, update_meta
    from understudy.tape.reader import SkippedFile, Tape, open_tape
    from understudy.tape.schema import HTTP_SCHEMA, SCHEMA_VERSION, SQL_SCHEMA, schema_for
    from understudy.tape.writer import PartWriter, WriterStats, commit_part

#: public name -> the submodule that defines it
_WHERE: dict[str, str] = {
    "TAPE_JSON": "meta",
    "ensure_tape_dir": "meta",
    "read_meta": "meta",
    "update_meta": "meta",
    "SkippedFile": "reader",
    "Tape": "reader",
    "open_tape": "reader",
    "HTTP_SCHEMA": "schema",
    "SCHEMA_VERSION": "schema",
    "SQL_SCHEMA": "schema",
    "schema_for": "schema",
    "PartWriter": "writer",
    "WriterStats": "writer",
    "commit_part": "writer",
}

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


def __getattr__(name: str) -> Any:
    """Import the submodule defining ``name`` on first use and cache the name here."""
    return lazy_name(__name__, _WHERE, globals(), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
