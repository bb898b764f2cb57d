"""What crosses the seam between a connection state machine and the world outside it.

Out of :class:`~replayer.pg.connection.PgConnection` come :data:`Action` s: bytes to send,
:class:`Wait` (hold the answer, then call ``resume()``; or ``cancel()`` it),
:class:`ForwardCall` (run a statement on the shadow database, then call ``forwarded()``),
:class:`CancelOther` (a CancelRequest for another connection) and :class:`Close`. Every
statement it answers is also noted as one :class:`SqlEvent` for the session report and tape.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

from replayer.pg.nearmiss import NearMiss
from replayer.pg.results import Result
from understudy.pgwire import TransactionStatus
from understudy.sqlfp.shapes import FpInfo

__all__ = [
    "Action",
    "CancelOther",
    "Close",
    "ConnInfo",
    "ForwardCall",
    "ForwardRequest",
    "Forwarded",
    "Outcome",
    "SqlEvent",
    "Wait",
]


class Outcome(Enum):
    """How a :class:`Wait` ended."""

    RESUMED = "resumed"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class Wait:
    """Hold everything after this for ``seconds`` (the recorded latency of a statement)."""

    seconds: float


@dataclass(frozen=True, slots=True)
class ForwardRequest:
    """One statement for the shadow database, as the client sent it.

    ``kind`` is ``query`` (a simple-protocol statement), ``describe`` (a prepared
    statement's parameter and column types) or ``execute`` (a bound statement).
    """

    kind: str
    sql: str
    user: str
    database: str
    param_types: tuple[int, ...] = ()
    param_formats: tuple[int, ...] = ()
    params: tuple[bytes | None, ...] = ()
    result_formats: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The shadow database's answer: a result (maybe an error) and, for describe, types."""

    result: Result
    param_types: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class ForwardCall:
    """Run ``request`` on the shadow database, then call ``forwarded()`` with the answer."""

    request: ForwardRequest


@dataclass(frozen=True, slots=True)
class CancelOther:
    """A CancelRequest arrived: cancel what the connection with this key is running."""

    process_id: int
    secret_key: bytes


@dataclass(frozen=True, slots=True)
class Close:
    """Close the connection (after sending what came before)."""


Action = bytes | Wait | ForwardCall | CancelOther | Close


class ConnInfo(NamedTuple):
    """Who is connected: for the session tape."""

    conn_id: str
    database: str
    user: str
    application_name: str
    client_addr: str


class SqlEvent(NamedTuple):
    """One statement the candidate ran and what it got (built on the hot path: cheap)."""

    conn: ConnInfo
    seq: int
    started_wall: float
    duration_s: float
    protocol: str  # simple | extended
    statement_name: str | None
    portal_name: str | None
    sql: str
    params: tuple[str | None, ...]
    param_types: tuple[int, ...]
    param_formats: tuple[int, ...]
    kind: str  # exact | approximate | fault | native | forward | miss | refused
    info: FpInfo
    result: Result | None
    tx_status: TransactionStatus
    nearest: tuple[NearMiss, ...] = ()
