"""Schema migrations for tape parts: a chain of small ``migrate_N_to_M`` steps.

Each step takes an Arrow table of schema version N and returns one of version N+1. Readers call
:func:`migrate` on every part older than :data:`~understudy.tape.schema.SCHEMA_VERSION`, so a
tape recorded by any earlier release stays readable. Version 1 is the first; the chain is
empty but the hook is live and tested.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from understudy.errors import TapeFormatError
from understudy.tape.schema import SCHEMA_VERSION, schema_for

__all__ = ["MIGRATIONS", "migrate"]

Migration = Callable[[str, pa.Table], pa.Table]

#: ``MIGRATIONS[n]`` turns a version-n table into a version-(n+1) table.
MIGRATIONS: dict[int, Migration] = {}


def migrate(kind: str, table: pa.Table, version: int) -> pa.Table:
    """Bring ``table`` (of ``kind``, written at ``version``) to the current schema."""
    if version > SCHEMA_VERSION:
        raise TapeFormatError(
            f"schema version {version} is newer than this understudy reads ({SCHEMA_VERSION})"
        )
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise TapeFormatError(f"no migration from schema version {version}")
        table = step(kind, table)
        version += 1
    # columns added later are filled with nulls; order follows the current schema
    schema = schema_for(kind)
    cols = []
    for f in schema:
        if f.name in table.column_names:
            cols.append(table.column(f.name).cast(f.type))
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=schema)
