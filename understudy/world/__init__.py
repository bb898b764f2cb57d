"""The world bundle format shared by analysis (writer) and the replayer (reader).

The names that need Arrow (the table schemas, :func:`load_world`, :func:`write_world`) are
imported on first use, so a process that only reads ``world.json``
(:func:`~understudy.world.meta.read_world_doc`) never loads pyarrow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from understudy.lazy import lazy_name
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

#: public name -> the submodule that defines it (both need pyarrow)
_WHERE = {"TABLES": "schema", "World": "bundle", "load_world": "bundle", "write_world": "bundle"}


def __getattr__(name: str) -> Any:
    """Import the submodule defining ``name`` on first use and cache the name here."""
    return lazy_name(__name__, _WHERE, globals(), name)
