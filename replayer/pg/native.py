"""Statements the replay server answers itself: transactions, settings, driver start-up.

These are never looked up in the world and never a miss: ``BEGIN``/``COMMIT``/``ROLLBACK``
and savepoints drive the connection's real transaction status (so ReadyForQuery, 25P02 and
25P01 behave as in PostgreSQL); ``SET``/``RESET``/``SHOW`` keep per-connection settings
(answering from the ParameterStatus set and common defaults); ``DISCARD``, ``DEALLOCATE``,
``LISTEN``/``UNLISTEN``/``NOTIFY`` and ``CLOSE`` are accepted. The ``SELECT``s drivers
send at start-up live in :mod:`replayer.pg.driver_queries`.

:func:`classify` turns a statement into a :class:`Native` (its columns, for Describe, and
``run``), dispatching on the first keyword through a table.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from replayer.pg.errors import StatementFailed
from replayer.pg.results import Column, Result
from replayer.pg.state import DEFAULT_PARAMETERS, REPORTED, SessionState
from understudy.pgwire import (
    ParameterStatus,
    SqlState,
    TransactionStatus,
    encode,
    error_response,
    notice_response,
)

__all__ = ["Native", "assign", "classify", "fail", "unquote"]

_WORD: Final = re.compile(r"""'(?:[^']|'')*'|"(?:[^"]|"")*"|[A-Za-z_][\w$.]*|[-+]?\d[\w.]*|\S""")
_REPORTED: Final = frozenset(REPORTED)
_CANONICAL: Final = {k.lower(): k for k in DEFAULT_PARAMETERS}
_T, _I, _E = TransactionStatus.IN_TRANSACTION, TransactionStatus.IDLE, TransactionStatus.FAILED
_TEXT: Final = 25

Runner = Callable[[SessionState], Result]


@dataclass(frozen=True, slots=True)
class Native:
    """A natively answered statement: ``columns`` (Describe) and ``run`` (Execute).

    ``allowed_when_failed`` marks what PostgreSQL still runs in an aborted transaction.
    """

    columns: tuple[Column, ...]
    run: Runner
    allowed_when_failed: bool = False
    #: Parameter types for Describe (natives rarely take parameters).
    param_types: tuple[int, ...] = ()


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def unquote(word: str) -> str:
    if len(word) >= 2 and word[0] == word[-1] == "'":
        return word[1:-1].replace("''", "'")
    if len(word) >= 2 and word[0] == word[-1] == '"':
        return word[1:-1].replace('""', '"')
    return word


def fail(state: str, message: str) -> StatementFailed:
    return StatementFailed(error_response(state, message))


def _warning(state: str, message: str) -> bytes:
    return encode(notice_response(message, severity="WARNING", sqlstate=state))


def _tag(tag: str, prefix: bytes = b"", suffix: bytes = b"") -> Result:
    return Result(tag=tag, prefix=prefix, suffix=suffix)


# -- transactions -----------------------------------------------------------------------------


def _begin(words: list[str]) -> Native:
    def run(s: SessionState) -> Result:
        if s.status is _I:
            s.status = _T
            return _tag("BEGIN")
        return _tag(
            "BEGIN",
            _warning(SqlState.ACTIVE_SQL_TRANSACTION, "there is already a transaction in progress"),
        )

    return Native((), run)


def _commit(words: list[str]) -> Native:
    def run(s: SessionState) -> Result:
        was = s.status
        s.end_transaction()
        if was is _E:
            return _tag("ROLLBACK")
        if was is _I:
            return _tag(
                "COMMIT",
                _warning(SqlState.NO_ACTIVE_SQL_TRANSACTION, "there is no transaction in progress"),
            )
        return _tag("COMMIT")

    return Native((), run, allowed_when_failed=True)


def _rollback(words: list[str]) -> Native:
    upper = [w.upper() for w in words[1:]]
    if "TO" in upper:
        rest = [w for w in upper[upper.index("TO") + 1 :] if w != "SAVEPOINT"]
        name = unquote(words[len(words) - len(rest)]) if rest else ""
        return Native((), lambda s: _rollback_to(s, name), allowed_when_failed=True)

    def run(s: SessionState) -> Result:
        was = s.status
        s.end_transaction()
        if was is _I:
            return _tag(
                "ROLLBACK",
                _warning(SqlState.NO_ACTIVE_SQL_TRANSACTION, "there is no transaction in progress"),
            )
        return _tag("ROLLBACK")

    return Native((), run, allowed_when_failed=True)


def _find_savepoint(s: SessionState, name: str, what: str) -> int:
    if s.status is _I:
        raise fail(
            SqlState.NO_ACTIVE_SQL_TRANSACTION, f"{what} can only be used in transaction blocks"
        )
    for i in range(len(s.savepoints) - 1, -1, -1):
        if s.savepoints[i] == name:
            return i
    raise fail("3B001", f'savepoint "{name}" does not exist')


def _rollback_to(s: SessionState, name: str) -> Result:
    i = _find_savepoint(s, name, "ROLLBACK TO SAVEPOINT")
    del s.savepoints[i + 1 :]
    s.status = _T
    return _tag("ROLLBACK")


def _savepoint(words: list[str]) -> Native:
    name = unquote(words[1]) if len(words) > 1 else ""

    def run(s: SessionState) -> Result:
        if s.status is _I:
            raise fail(
                SqlState.NO_ACTIVE_SQL_TRANSACTION,
                "SAVEPOINT can only be used in transaction blocks",
            )
        s.savepoints.append(name)
        return _tag("SAVEPOINT")

    return Native((), run)


def _release(words: list[str]) -> Native:
    rest = [w for w in words[1:] if w.upper() != "SAVEPOINT"]
    name = unquote(rest[0]) if rest else ""

    def run(s: SessionState) -> Result:
        i = _find_savepoint(s, name, "RELEASE SAVEPOINT")
        del s.savepoints[i:]
        return _tag("RELEASE")

    return Native((), run)


# -- settings ---------------------------------------------------------------------------------

_SET_ALIASES: Final = {
    ("TIME", "ZONE"): "TimeZone",
    ("NAMES",): "client_encoding",
    ("SCHEMA",): "search_path",
    ("ROLE",): "role",
    ("SESSION", "AUTHORIZATION"): "session_authorization",
}


def assign(s: SessionState, name: str, value: str | None, local: bool) -> bytes:
    """Set (or with None reset) one setting; the ParameterStatus to send when reported."""
    name = s.canonical(name)
    if value is None:
        value = s.defaults.get(name, "")
    if local and s.status is not _I:
        s.local_undo.setdefault(name, s.settings.get(name, ""))
    s.settings[name] = value
    if name == "TimeZone" or name in _REPORTED:
        return encode(ParameterStatus(name, value))
    return b""


def _set(words: list[str]) -> Native:
    upper = [w.upper() for w in words]
    i = 1
    local = False
    modifier = upper[i] if i < len(upper) else ""
    if modifier in ("SESSION", "LOCAL") and upper[i + 1 : i + 2] != ["AUTHORIZATION"]:
        local = upper[i] == "LOCAL"
        i += 1
    head = tuple(upper[i : i + 2])
    if head[:1] in (("TRANSACTION",), ("CONSTRAINTS",)) or head == ("SESSION", "CHARACTERISTICS"):
        return Native((), lambda s: _tag("SET CONSTRAINTS" if head[0] == "CONSTRAINTS" else "SET"))
    name = ""
    for alias, target in _SET_ALIASES.items():
        if head[: len(alias)] == alias:
            name, i = target, i + len(alias)
            break
    else:
        name = unquote(words[i]) if i < len(words) else ""
        i += 1
        if i < len(upper) and upper[i] in ("TO", "="):
            i += 1
    values = [w for w in words[i:] if w != ","]
    value: str | None = ", ".join(unquote(v) for v in values)
    if [v.upper() for v in values] in (["DEFAULT"], ["LOCAL"]):
        value = None

    def run(s: SessionState) -> Result:
        if not name:
            raise fail(SqlState.SYNTAX_ERROR, "syntax error at end of input")
        return _tag("SET", suffix=assign(s, name, value, local))

    return Native((), run)


def _reset(words: list[str]) -> Native:
    upper = [w.upper() for w in words[1:]]

    def run(s: SessionState) -> Result:
        if upper == ["ALL"]:
            out = b"".join(
                assign(s, n, None, False)
                for n in list(s.settings)
                if s.settings[n] != s.defaults.get(n, s.settings[n])
            )
            return _tag("RESET", suffix=out)
        alias = next((t for a, t in _SET_ALIASES.items() if tuple(upper[: len(a)]) == a), None)
        return _tag("RESET", suffix=assign(s, alias or unquote(words[1]), None, False))

    return Native((), run)


def _show(words: list[str]) -> Native:
    upper = [w.upper() for w in words[1:]]
    if upper[:2] == ["TRANSACTION", "ISOLATION"]:
        name = "transaction_isolation"
    elif upper[:2] == ["TIME", "ZONE"]:
        name = "TimeZone"
    elif upper[:2] == ["SESSION", "AUTHORIZATION"]:
        name = "session_authorization"
    else:
        name = unquote(words[1]) if len(words) > 1 else ""
    if name.upper() == "ALL":
        every = (Column("name", _TEXT), Column("setting", _TEXT), Column("description", _TEXT))

        def run_all(s: SessionState) -> Result:
            rows = [(n.encode(), v.encode(), b"") for n, v in sorted(s.settings.items())]
            return Result(every, rows, f"SHOW {len(rows)}")

        return Native(every, run_all)

    cols = (Column(_CANONICAL.get(name.lower(), name.lower()), _TEXT),)

    def run(s: SessionState) -> Result:
        canonical = s.canonical(name)
        if canonical not in s.settings:
            raise fail(SqlState.UNDEFINED_OBJECT, f'unrecognized configuration parameter "{name}"')
        return Result(cols, [(s.settings[canonical].encode(),)], "SHOW")

    return Native(cols, run)


# -- session housekeeping ---------------------------------------------------------------------


def _discard(words: list[str]) -> Native:
    what = words[1].upper() if len(words) > 1 else "ALL"
    what = "TEMP" if what == "TEMPORARY" else what

    def run(s: SessionState) -> Result:
        if what == "ALL":
            if s.status is not _I:
                raise fail(
                    SqlState.ACTIVE_SQL_TRANSACTION,
                    "DISCARD ALL cannot run inside a transaction block",
                )
            s.statements.clear()
            s.portals.clear()
            suffix = _reset(["RESET", "ALL"]).run(s).suffix
            return _tag("DISCARD ALL", suffix=suffix)
        return _tag(f"DISCARD {what}")

    return Native((), run)


def _deallocate(words: list[str]) -> Native:
    rest = [w for w in words[1:] if w.upper() != "PREPARE"]
    name = unquote(rest[0]) if rest else ""

    def run(s: SessionState) -> Result:
        if name.upper() == "ALL" and not rest[0].startswith('"'):
            s.statements.clear()
            return _tag("DEALLOCATE ALL")
        if s.statements.pop(name, None) is None:
            raise fail(
                SqlState.INVALID_SQL_STATEMENT_NAME, f'prepared statement "{name}" does not exist'
            )
        return _tag("DEALLOCATE")

    return Native((), run)


def _fixed(tag: str) -> Callable[[list[str]], Native]:
    def make(words: list[str]) -> Native:
        return Native((), lambda s: _tag(tag))

    return make


def _close(words: list[str]) -> Native:
    every = len(words) > 1 and words[1].upper() == "ALL"
    return Native((), lambda s: _tag("CLOSE CURSOR ALL" if every else "CLOSE CURSOR"))


_CONTROL: Final[dict[str, Callable[[list[str]], Native]]] = {
    "BEGIN": _begin,
    "START": _begin,
    "COMMIT": _commit,
    "END": _commit,
    "ROLLBACK": _rollback,
    "ABORT": _rollback,
    "SAVEPOINT": _savepoint,
    "RELEASE": _release,
    "SET": _set,
    "RESET": _reset,
    "SHOW": _show,
    "DISCARD": _discard,
    "DEALLOCATE": _deallocate,
    "LISTEN": _fixed("LISTEN"),
    "UNLISTEN": _fixed("UNLISTEN"),
    "NOTIFY": _fixed("NOTIFY"),
    "CLOSE": _close,
}


def classify(keyword: str, text: str) -> Native | None:
    """The native handling of a session-control statement, or None for everything else."""
    make = _CONTROL.get(keyword)
    if make is None:
        return None
    if keyword in ("COMMIT", "ROLLBACK") and "PREPARED" in text.upper():
        return None  # two-phase commit: a recorded statement like any other
    return make(_words(text))
