"""The PostgreSQL replay server: a world's recorded SQL served over the wire protocol v3.

Layers, each usable alone:

- :mod:`~replayer.pg.behaviour`: the behaviour core, a statement in, an answer and a delay
  out (exact, approximate, fault, native, forward, miss), built on the world's
  :class:`~replayer.pg.index.SqlIndex`; no IO;
- :mod:`~replayer.pg.connection` (with :mod:`~replayer.pg.extended`,
  :mod:`~replayer.pg.handshake` and :mod:`~replayer.pg.native`): one connection as a
  sans-IO state machine, bytes in, actions out;
- :mod:`~replayer.pg.server`: the asyncio adapter (one Protocol per connection, timers for
  delays, cancel requests, the shadow database of :mod:`~replayer.pg.forward`);
- :mod:`~replayer.pg.recording`: the session report's SQL section and the session tape.

Entry points: :func:`start_pg_server` (``understudy replay``) and ``python -m replayer.pg``.
"""

from __future__ import annotations

from replayer.pg.behaviour import Answer, Behaviour, Plan
from replayer.pg.connection import PgConnection
from replayer.pg.errors import PgReplayError, ReplaySqlState, StatementFailed, UpstreamError
from replayer.pg.index import SqlIndex, call_key
from replayer.pg.recording import PgSession
from replayer.pg.server import PgServer
from replayer.pg.settings import PgReplaySettings
from replayer.pg.start import settings_from_config, start_pg_server

__all__ = [
    "Answer",
    "Behaviour",
    "PgConnection",
    "PgReplayError",
    "PgReplaySettings",
    "PgServer",
    "PgSession",
    "Plan",
    "ReplaySqlState",
    "SqlIndex",
    "StatementFailed",
    "UpstreamError",
    "call_key",
    "settings_from_config",
    "start_pg_server",
]
