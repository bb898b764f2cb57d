"""The world bundle format shared by analysis (writer) and the replayer (reader)."""

from __future__ import annotations

from understudy.world.bundle import World, load_world, write_world
from understudy.world.schema import TABLES, WORLD_JSON, WORLD_SCHEMA_VERSION

__all__ = ["TABLES", "WORLD_JSON", "WORLD_SCHEMA_VERSION", "World", "load_world", "write_world"]
