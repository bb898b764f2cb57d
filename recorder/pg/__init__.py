"""Record PostgreSQL traffic: a relay in front of the real server, one tape row per statement.

``start_pg_relay(config, sink)`` runs the relay on the current asyncio loop (``recorder.run``
calls it); ``python -m recorder.pg`` runs it standalone. The pieces:

- :mod:`recorder.pg.relay`: the asyncio adapter (sockets, startup phase, backpressure); it
  forwards, then appends each chunk to the wire spool;
- :mod:`recorder.pg.spool` and :mod:`recorder.pg.decode`: the spool on disk and the decoder
  process (idle CPU priority) that runs the tracker over it and commits the rows;
- :mod:`recorder.pg.capture`: the sans-IO :class:`Tracker` that turns both directions of a
  connection into statement rows; :mod:`recorder.pg.answers` holds its handlers of server
  messages, :mod:`recorder.pg.requests` the client requests waiting for them, and
  :mod:`recorder.pg.rows` what a statement is and how it becomes a row;
- :mod:`recorder.pg.sqltext` and :mod:`understudy.sqlredact`: statement splitting,
  traceparent extraction and secret redaction over SQL text;
- :mod:`recorder.pg.tls`: TLS on the upstream leg.

Every statement execution becomes one ``sql`` row of the tape; the counters
``sql.connections``, ``sql.statements``, ``sql.parse_errors``, ``sql.result_truncated``,
``sql.copy_statements``, ``sql.upstream_errors``, ``sql.refused_connections``,
``sql.closed_unrecordable``, ``sql.recovered_spools`` and ``sql.spool_truncated_bytes`` go to
the sink's summary (the decoder's arrive when it exits).
"""

from __future__ import annotations

from recorder.pg.capture import Row, Tracker
from recorder.pg.relay import PgRelay, RelaySettings, start_pg_relay
from recorder.pg.rows import CaptureSettings, Session
from recorder.pg.sqltext import find_traceparent, split_statements
from understudy.sqlredact import SqlRedactor

__all__ = [
    "CaptureSettings",
    "PgRelay",
    "RelaySettings",
    "Row",
    "Session",
    "SqlRedactor",
    "Tracker",
    "find_traceparent",
    "split_statements",
    "start_pg_relay",
]
