"""Per-connection state: transaction status, run-time settings, prepared statements, portals.

Plain data, no IO: the connection state machine (:mod:`replayer.pg.connection`) and the
native statements (:mod:`replayer.pg.native`) read and change it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from understudy.pgwire import TransactionStatus

if TYPE_CHECKING:
    from replayer.pg.behaviour import Answer, Plan
    from replayer.pg.results import Result

__all__ = [
    "DEFAULT_PARAMETERS",
    "REPORTED",
    "Portal",
    "Prepared",
    "SessionState",
    "initial_settings",
]

#: Parameters PostgreSQL reports with ParameterStatus (GUC_REPORT), with their defaults.
REPORTED: Final = (
    "application_name",
    "client_encoding",
    "DateStyle",
    "default_transaction_read_only",
    "in_hot_standby",
    "integer_datetimes",
    "IntervalStyle",
    "is_superuser",
    "server_encoding",
    "server_version",
    "session_authorization",
    "standard_conforming_strings",
    "TimeZone",
)
DEFAULT_PARAMETERS: Final[Mapping[str, str]] = {
    "application_name": "",
    "client_encoding": "UTF8",
    "DateStyle": "ISO, MDY",
    "default_transaction_read_only": "off",
    "in_hot_standby": "off",
    "integer_datetimes": "on",
    "IntervalStyle": "postgres",
    "is_superuser": "off",
    "server_encoding": "UTF8",
    "server_version": "15.0",
    "session_authorization": "",
    "standard_conforming_strings": "on",
    "TimeZone": "UTC",
    # not reported, but asked for with SHOW / current_setting() by drivers and ORMs
    "search_path": '"$user", public',
    "transaction_isolation": "read committed",
    "default_transaction_isolation": "read committed",
    "transaction_read_only": "off",
    "statement_timeout": "0",
    "lock_timeout": "0",
    "idle_in_transaction_session_timeout": "0",
    "max_identifier_length": "63",
    "max_connections": "100",
    "extra_float_digits": "1",
    "bytea_output": "hex",
    "client_min_messages": "notice",
    "lc_collate": "C",
    "lc_ctype": "C",
    "lc_messages": "C",
    "lc_monetary": "C",
    "lc_numeric": "C",
    "lc_time": "C",
    "synchronous_commit": "on",
    "work_mem": "4MB",
    "role": "none",
    "row_security": "on",
    "jit": "off",
}
_PROTECTED: Final = frozenset(
    {
        "server_version",
        "server_encoding",
        "integer_datetimes",
        "server_version_num",
        "max_identifier_length",
        "in_hot_standby",
        "lc_collate",
        "lc_ctype",
        "max_connections",
    }
)
_VERSION: Final = re.compile(r"(\d+)(?:\.(\d+))?")


def _version_num(version: str) -> str:
    """``15.4`` -> ``150004`` (the ``server_version_num`` PostgreSQL 10+ reports)."""
    m = _VERSION.match(version)
    if not m:
        return "150000"
    return str(int(m.group(1)) * 10000 + int(m.group(2) or 0))


def initial_settings(
    recorded: Mapping[str, str], startup: Mapping[str, str], user: str
) -> dict[str, str]:
    """Defaults, then what the world recorded, then the client's startup parameters.

    Keys are canonical names (``DateStyle``); the client cannot override the server's own
    facts (``server_version``...).
    """
    names = {k.lower(): k for k in DEFAULT_PARAMETERS}
    out = dict(DEFAULT_PARAMETERS)
    for source, protect in ((recorded, False), (startup, True)):
        for key, value in source.items():
            name = names.get(key.lower(), key)
            if protect and (name in _PROTECTED or name in ("user", "database", "options")):
                continue
            if name == "client_encoding" and protect:
                continue  # we speak UTF8 only; clients asking for "utf-8" get "UTF8"
            out[name] = value
    out["session_authorization"] = user
    out["server_version_num"] = _version_num(out["server_version"])
    return out


@dataclass(slots=True)
class Prepared:
    """A prepared statement (Parse): its text, the plan made of it and its parameter types."""

    sql: str
    plan: Plan | None  # None: an empty query string
    param_types: tuple[int, ...]
    #: The parameter types described to clients (Parse's, else the world's), once known.
    oids: tuple[int, ...] | None = None


@dataclass(slots=True)
class Portal:
    """A bound statement (Bind), ready to execute; ``answer`` is decided on first use."""

    statement_name: str
    prepared: Prepared
    params: tuple[str | None, ...]
    param_formats: tuple[int, ...]
    result_formats: tuple[int, ...]
    raw_params: tuple[bytes | None, ...] = ()
    answer: Answer | None = None
    #: The result being sent, once Execute has started (rows may come in several Executes).
    result: Result | None = None
    sent_rows: int = 0
    done: bool = False


@dataclass(slots=True)
class SessionState:
    """What one connection remembers between statements."""

    settings: dict[str, str]
    database: str = ""
    process_id: int = 0
    defaults: dict[str, str] = field(default_factory=dict)
    status: TransactionStatus = TransactionStatus.IDLE
    savepoints: list[str] = field(default_factory=list)
    #: SET LOCAL values to restore at the end of the transaction: name -> previous value.
    local_undo: dict[str, str] = field(default_factory=dict)
    statements: dict[str, Prepared] = field(default_factory=dict)
    portals: dict[str, Portal] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.defaults:
            self.defaults = dict(self.settings)
        self.names = {k.lower(): k for k in (*DEFAULT_PARAMETERS, *self.settings)}

    def canonical(self, name: str) -> str:
        """The canonical spelling of a setting name (``datestyle`` -> ``DateStyle``)."""
        return self.names.get(name.lower(), name.lower())

    def end_transaction(self) -> None:
        """Back to idle: savepoints, SET LOCAL values and unnamed portals go."""
        self.status = TransactionStatus.IDLE
        self.savepoints.clear()
        for name, value in self.local_undo.items():
            self.settings[name] = value
        self.local_undo.clear()
        self.portals.clear()

    def fail(self) -> None:
        """A statement failed: inside a transaction block, the transaction is now aborted."""
        if self.status is TransactionStatus.IN_TRANSACTION:
            self.status = TransactionStatus.FAILED
