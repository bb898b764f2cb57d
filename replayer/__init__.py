"""The replayer: serve a world bundle to candidate code, over HTTP(S) and PostgreSQL.

``replayer.core`` decides (IO-free); ``replayer.http`` (reverse mode, asyncio) and
``replayer.mitm`` (proxy mode, mitmproxy) are the front doors; ``replayer.session`` keeps the
report and the session tape; ``replayer.run`` ties them to one event loop (``replay`` is its
coroutine; ``replayer.run.run`` the blocking form the CLI calls). mitmproxy is only
imported in proxy mode.
"""

from __future__ import annotations

from replayer.config import ReplayConfig
from replayer.core import (
    MISS_STATUS,
    Behaviour,
    BehaviourSettings,
    Decision,
    Request,
    StoredResponse,
    WorldModel,
)
from replayer.run import replay

__all__ = [
    "MISS_STATUS",
    "Behaviour",
    "BehaviourSettings",
    "Decision",
    "ReplayConfig",
    "Request",
    "StoredResponse",
    "WorldModel",
    "replay",
]
