"""What the candidate ran, kept off the hot path: the report's SQL section and the tape's rows.

Connections call :meth:`PgSession.note` once per statement: one append to a thread-safe
deque, nothing else. A worker thread drains the deque every ``flush_interval`` seconds,
updates the per-fingerprint counters and, when a session tape is written, turns each event
into a :data:`~understudy.tape.SQL_SCHEMA` row for a :class:`~understudy.tape.PartWriter`
(``sql/`` parts of the same tape directory the HTTP replayer writes ``http/`` parts into).

The report section (:meth:`PgSession.report`) counts statements by how they were answered
(exact, approximate, native, fault, forward, miss, refused) overall and per fingerprint, the
errors served, and lists the fingerprints the world does not know with their nearest
recorded neighbours.
"""

from __future__ import annotations

import re
import threading
import uuid
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import understudy
from replayer.pg.events import SqlEvent
from replayer.session.report import quantiles
from understudy.errors import TapeError
from understudy.pgwire import TransactionStatus
from understudy.redact import Redactor, is_secret_name
from understudy.sqlfp.shapes import FpInfo
from understudy.sqlredact import SqlRedactor
from understudy.tape import PartWriter, ensure_tape_dir, read_meta, update_meta
from understudy.tape.meta import utcnow

__all__ = ["KINDS", "PgSession", "event_to_row"]

KINDS: Final = ("exact", "approximate", "native", "fault", "forward", "miss", "refused")
#: Rows of one result kept in the session tape (the rest is counted, not stored).
MAX_TAPE_ROWS: Final = 1000
_RESERVOIR: Final = 10_000
_WORLD_KINDS: Final = ("exact", "approximate", "fault")
_NEW_KINDS: Final = ("miss", "forward")
_MAX_NEW: Final = 1000
_TX: Final = {
    TransactionStatus.IDLE: "idle",
    TransactionStatus.IN_TRANSACTION: "in_transaction",
    TransactionStatus.FAILED: "failed",
}
_TRACEPARENT: Final = re.compile(
    r"traceparent\s*=\s*'?([0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})"
)


def event_to_row(
    e: SqlEvent, redactor: Redactor | None = None, sql_redactor: SqlRedactor | None = None
) -> dict[str, Any]:
    """One ``SQL_SCHEMA`` row for an event, redacted as the recorder redacts: with
    ``sql_redactor``, secret literals in the text and parameters bound to secret columns are
    pseudonymised; results forwarded from a real database have their secret-named columns
    pseudonymised with ``redactor`` (recorded results were redacted at capture)."""
    r = e.result
    start_us = int(e.started_wall * 1_000_000)
    row: dict[str, Any] = {
        "statement_id": uuid.uuid4().hex,
        "conn_id": e.conn.conn_id,
        "seq": e.seq,
        "ts_start": start_us,
        "ts_end": start_us + int(e.duration_s * 1_000_000),
        "duration_ms": e.duration_s * 1000.0,
        "database": e.conn.database,
        "user": e.conn.user,
        "application_name": e.conn.application_name,
        "client_addr": e.conn.client_addr,
        "protocol": e.protocol,
        "statement_name": e.statement_name,
        "portal_name": e.portal_name,
        "sql": e.sql,
        "params": _params(e, sql_redactor),
        "param_types": list(e.param_types),
        "param_formats": list(e.param_formats),
        "tx_status": _TX.get(e.tx_status),
        "traceparent": _traceparent(e.sql),
    }
    if sql_redactor is not None and e.sql and sql_redactor.may_hold_secrets(e.sql):
        row["sql"] = sql_redactor.redact_sql(e.sql)
    if r is None:
        return row
    if r.error is not None:
        row["sqlstate"] = r.error.sqlstate
        row["error_message"] = r.error.message
        return row
    rows = r.rows[:MAX_TAPE_ROWS]
    secret = [i for i, c in enumerate(r.columns) if is_secret_name(c.name)]
    if secret and redactor is not None and e.kind == "forward":
        rows = tuple(_redact_row(row_, secret, redactor) for row_ in rows)
    row.update(
        command_tag=r.tag,
        rows=len(r.rows),
        columns=[{"name": c.name, "type_oid": c.type_oid} for c in r.columns],
        result_formats=list(r.formats),
        result_rows=[list(v) for v in rows],
        result_truncated=r.truncated or len(r.rows) > MAX_TAPE_ROWS,
    )
    return row


def _params(e: SqlEvent, sql_redactor: SqlRedactor | None) -> list[str | None]:
    params: list[str | None] = list(e.params)
    if sql_redactor is not None:
        for i in sql_redactor.secret_params(e.sql):
            if i < len(params) and params[i] is not None:
                params[i] = sql_redactor.token(params[i] or "")
    return params


def _redact_row(
    row: tuple[bytes | None, ...], secret: list[int], redactor: Redactor
) -> tuple[bytes | None, ...]:
    values = list(row)
    for i in secret:
        v = values[i]
        if v is not None:
            values[i] = redactor.token(v).encode()
    return tuple(values)


def _traceparent(sql: str) -> str | None:
    if "traceparent" not in sql:
        return None
    m = _TRACEPARENT.search(sql)
    return m.group(1) if m else None


@dataclass
class _FpStats:
    info: FpInfo
    kinds: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    nearest: list[dict[str, Any]] = field(default_factory=list)

    @property
    def recorded(self) -> bool:
        """Answered from the world at least once."""
        return any(self.kinds.get(k) for k in _WORLD_KINDS)

    @property
    def new(self) -> bool:
        """Not in the world: missed or forwarded."""
        return any(self.kinds.get(k) for k in _NEW_KINDS)


class PgSession:
    """Counters and (optionally) the session tape of the PostgreSQL side of a replay."""

    def __init__(
        self,
        *,
        tape: Path | None = None,
        redactor: Redactor | None = None,
        world: Path | None = None,
        flush_interval: float = 0.5,
    ) -> None:
        self.tape = ensure_tape_dir(tape) if tape is not None else None
        self.redactor = redactor
        self.sql_redactor = SqlRedactor(redactor) if redactor is not None else None
        self.world = world
        self.flush_interval = flush_interval
        self.started = utcnow()
        self.statements = 0
        self.kinds: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.connections: set[str] = set()
        self.fingerprints: dict[str, _FpStats] = {}
        self._pending: deque[SqlEvent] = deque()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._writer: PartWriter | None = None
        self._tape_stats: dict[str, Any] | None = None
        self._new = 0
        #: New fingerprints not listed in the report (beyond the first 1000).
        self.unlisted = 0

    # -- hot path -------------------------------------------------------------------------------
    def note(self, event: SqlEvent) -> None:
        """Remember one statement (an append; safe from any thread)."""
        self._pending.append(event)

    # -- lifecycle ------------------------------------------------------------------------------
    def open(self) -> None:
        """Start the worker thread (and the tape writer, when there is a tape)."""
        if self.tape is not None:
            self._writer = PartWriter(self.tape, "sql", flush_interval=1.0)
            self._writer.start()
        self._thread = threading.Thread(target=self._run, name="understudy-pg-session", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Drain everything, commit the tape and stamp ``tape.json`` (blocking)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.drain()
        if self._writer is not None:
            try:
                self._writer.close()
            finally:
                self._tape_stats = self._writer.stats.as_dict()
                self._writer = None
            assert self.tape is not None
            kinds = set(read_meta(self.tape).get("kinds") or ()) | {"sql"}
            update_meta(
                self.tape,
                started=self.started,
                ended=utcnow(),
                recorder_version=understudy.__version__,
                kinds=sorted(kinds),
                session={"replayer": True, "world": str(self.world) if self.world else None},
            )

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.drain()
            except TapeError:
                return  # the writer reports its error at close()

    def drain(self) -> None:
        """Account for every pending event (worker thread, or the caller at close)."""
        with self._lock:
            pending = self._pending
            while pending:
                e = pending.popleft()
                self._account(e)
                if self._writer is not None:
                    row = event_to_row(e, self.redactor, self.sql_redactor)
                    self._writer.append(
                        row, 256 + len(e.sql) + 64 * len(row.get("result_rows") or ())
                    )

    def _account(self, e: SqlEvent) -> None:
        self.statements += 1
        self.kinds[e.kind] += 1
        self.connections.add(e.conn.conn_id)
        state = e.result.sqlstate if e.result is not None else None
        if state:
            self.errors[state] += 1
        fp = e.info.fingerprint
        stats = self.fingerprints.get(fp)
        if stats is None:
            new = e.kind in _NEW_KINDS
            if new and self._new >= _MAX_NEW:
                self.unlisted += 1
                return
            self._new += new
            stats = self.fingerprints[fp] = _FpStats(e.info)
            stats.nearest = [
                {
                    "fingerprint": n.info.fingerprint,
                    "similarity": n.similarity,
                    "differs": list(n.differs),
                    "normalized": n.info.normalized,
                }
                for n in e.nearest
            ]
        stats.kinds[e.kind] += 1
        if state:
            stats.errors[state] += 1
        if len(stats.latencies) < _RESERVOIR:
            stats.latencies.append(e.duration_s * 1000.0)

    # -- report ---------------------------------------------------------------------------------
    def report(self) -> dict[str, Any]:
        """The SQL section of the session report (call after :meth:`close` for final numbers)."""
        self.drain()
        fps = sorted(
            self.fingerprints.values(), key=lambda s: (-s.kinds.total(), s.info.fingerprint)
        )
        return {
            "statements": self.statements,
            "connections": len(self.connections),
            "matched": {k: self.kinds.get(k, 0) for k in KINDS},
            "cancelled": self.errors.get("57014", 0),
            "errors": dict(sorted(self.errors.items())),
            "fingerprints": [
                {
                    "fingerprint": s.info.fingerprint,
                    "normalized": s.info.normalized,
                    "statement_type": s.info.statement_type,
                    "tables": list(s.info.tables),
                    "recorded": s.recorded,
                    "statements": s.kinds.total(),
                    "matched": {k: s.kinds.get(k, 0) for k in KINDS},
                    "errors": dict(sorted(s.errors.items())),
                    "served_latency_ms": quantiles(s.latencies),
                }
                for s in fps
            ],
            "new_fingerprints": [
                {
                    "fingerprint": s.info.fingerprint,
                    "normalized": s.info.normalized,
                    "statements": s.kinds.total(),
                    "forwarded": s.kinds.get("forward", 0),
                    "nearest": s.nearest,
                }
                for s in fps
                if s.new
            ],
            "new_fingerprints_not_listed": self.unlisted,
            "session_tape": self._tape_stats,
        }
