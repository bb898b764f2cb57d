"""``SELECT``s drivers and pools send for themselves, answered when the world has none.

``SELECT 1`` health checks, ``version()``, ``current_setting(...)``, ``set_config(...)``,
``current_database()``, ``pg_backend_pid()``, ``pg_advisory_unlock_all()`` (pool resets)...
are answered natively only when the world has no recording of them: a recording wins, it is
the real server's answer. Matching is by a table of full-text regular expressions.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from replayer.pg.asyncpg_types import classify_asyncpg
from replayer.pg.native import Native, assign, fail, unquote
from replayer.pg.results import Column, Result
from replayer.pg.state import SessionState
from understudy.pgwire import SqlState

__all__ = ["classify_select"]

_TEXT, _INT4, _BOOL, _VOID, _NAME = 25, 23, 16, 2278, 19

_SELECTS: Final[list[tuple[re.Pattern[str], Callable[[re.Match[str]], Native]]]] = []


def _select(pattern: str) -> Callable[[Callable[[re.Match[str]], Native]], None]:
    regex = re.compile(r"\s*select\s+" + pattern + r"\s*;?\s*", re.I | re.S)

    def register(fn: Callable[[re.Match[str]], Native]) -> None:
        _SELECTS.append((regex, fn))

    return register


def _one(name: str, oid: int, value: Callable[[SessionState], str]) -> Native:
    cols = (Column(name, oid),)
    return Native(cols, lambda s: Result(cols, [(value(s).encode(),)], "SELECT 1"))


@_select(r"1(?:\s+(?:as\s+)?(\w+|\"[^\"]+\"))?")
def _select_one(m: re.Match[str]) -> Native:
    return _one(unquote(m.group(1) or "?column?"), _INT4, lambda s: "1")


@_select(r"(?:pg_catalog\.)?version\(\)")
def _version(m: re.Match[str]) -> Native:
    return _one(
        "version", _TEXT, lambda s: f"PostgreSQL {s.settings['server_version']} (understudy replay)"
    )


@_select(r"(?:pg_catalog\.)?current_setting\(\s*'([^']*)'\s*(?:,\s*(true|false)\s*)?\)")
def _current_setting(m: re.Match[str]) -> Native:
    name, missing_ok = m.group(1), (m.group(2) or "").lower() == "true"

    def value(s: SessionState) -> str:
        canonical = s.canonical(name)
        if canonical not in s.settings and not missing_ok:
            raise fail(SqlState.UNDEFINED_OBJECT, f'unrecognized configuration parameter "{name}"')
        return s.settings.get(canonical, "")

    return _one("current_setting", _TEXT, value)


@_select(r"(?:pg_catalog\.)?set_config\(\s*'([^']*)'\s*,\s*'([^']*)'\s*,\s*(true|false)\s*\)")
def _set_config(m: re.Match[str]) -> Native:
    name, value, local = m.group(1), m.group(2), m.group(3).lower() == "true"
    cols = (Column("set_config", _TEXT),)

    def run(s: SessionState) -> Result:
        suffix = assign(s, name, value, local)
        return Result(cols, [(value.encode(),)], "SELECT 1", suffix=suffix)

    return Native(cols, run)


_FUNCTIONS: Final[dict[str, tuple[int, Callable[[SessionState], str]]]] = {
    "current_database": (_NAME, lambda s: s.database),
    "current_schema": (_NAME, lambda s: "public"),
    "current_user": (_NAME, lambda s: s.settings.get("session_authorization", "")),
    "session_user": (_NAME, lambda s: s.settings.get("session_authorization", "")),
    "user": (_NAME, lambda s: s.settings.get("session_authorization", "")),
    "pg_backend_pid": (_INT4, lambda s: str(s.process_id)),
    "pg_is_in_recovery": (_BOOL, lambda s: "f"),
    "pg_advisory_unlock_all": (_VOID, lambda s: ""),
}


@_select(r"(?:pg_catalog\.)?(" + "|".join(_FUNCTIONS) + r")(\(\))?")
def _function(m: re.Match[str]) -> Native:
    name = m.group(1).lower()
    oid, value = _FUNCTIONS[name]
    return _one(name, oid, value)


def classify_select(text: str) -> Native | None:
    """The native answer to a driver's housekeeping ``SELECT``, or None."""
    if "jit" in text or "typeinfo_tree" in text:
        return classify_asyncpg(text)
    for regex, make in _SELECTS:
        m = regex.fullmatch(text)
        if m is not None:
            return make(m)
    return None
