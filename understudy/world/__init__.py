"""The world bundle format shared by analysis (writer) and the replayer (reader).

The names that need Arrow (the table schemas, :func:`load_world`, :func:`write_world`) are
imported on first use, so a process that only reads ``world.json``
(:func:`~understudy.world.meta.read_world_doc`) never loads pyarrow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from understudy.world.meta import WORLD_JSON, WORLD_SCHEMA_VERSION, WorldDoc, read_world_doc

if TYPE_CHECKING:
    from understudy.world.bundle import World, load_world, write_world
    from understudy.world.schema import TABLES

__all__ = [
    "TABLES",
    "WORLD_JSON",
    "WORLD_SCHEMA_VERSION",
    "World",
    "WorldDoc",
    "load_world",
    "read_world_doc",
    "write_world",
]

_LAZY = {
    "TABLES": "understudy.world.schema",
    "World": "understudy.world.bundle",
    "load_world": "understudy.world.bundle",
    "write_world": "understudy.world.bundle",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
