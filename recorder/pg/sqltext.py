"""Small, SQL-aware text helpers: split a simple-protocol query string, find a traceparent.

PostgreSQL runs a simple ``Query`` holding several statements one after the other and answers
each with its own CommandComplete (or stops at the first ErrorResponse). To give every
statement its own tape row and text, :func:`split_statements` cuts the string at top-level
semicolons the way PostgreSQL's lexer sees them: not inside ``'strings'`` (with ``''``),
``E'escape strings'`` (with ``\\'``), ``"identifiers"``, ``$tag$dollar quotes$tag$``,
``-- line comments`` or nested ``/* block comments */``. Pieces holding only whitespace and
comments are not statements and are dropped (PostgreSQL sends nothing for them).

It is a lexer, not a parser: ``CREATE RULE ... DO (a; b)`` style bodies are the known case
where it cuts more often than the server; the tracker notices the count mismatch and keeps
the whole text on each row.

>>> split_statements("SELECT 1; SELECT ';' -- x;\\n; /* ; */")
['SELECT 1', "SELECT ';' -- x;"]
>>> split_statements("SELECT 1;")  # one statement: the text exactly as sent
['SELECT 1;']
>>> tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
>>> find_traceparent(f"SELECT 1 /*traceparent='{tp}'*/") == tp
True
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["find_traceparent", "split_statements", "traceparent_of_app_name"]

# Where something interesting may start: a quote, a dollar, a comment, a semicolon.
_SPECIAL: Final = re.compile(r"""[Ee]'|'|"|\$|--|/\*|;""")
_STRING: Final = re.compile(r"(?:[^']|'')*'")  # after the opening quote
_ESTRING: Final = re.compile(r"(?:[^'\\]|\\.|'')*'", re.S)
_IDENT: Final = re.compile(r'(?:[^"]|"")*"')
_DOLLAR_TAG: Final = re.compile(r"\$(?:[A-Za-z_\x80-\U0010ffff][A-Za-z0-9_\x80-\U0010ffff]*)?\$")
_COMMENT_EDGE: Final = re.compile(r"/\*|\*/")
_BLANK: Final = " \t\n\r\f\v;"  # what separates statements without being one
_IDENT_CHAR: Final = re.compile(r"[A-Za-z0-9_$\x80-\U0010ffff]")

_TRACEPARENT: Final = re.compile(
    r"traceparent\s*=\s*'?(?:%27)?([0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2})",
    re.IGNORECASE,
)
_BARE_TRACEPARENT: Final = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


def _end_of_block_comment(sql: str, pos: int) -> int:
    """Index after the ``*/`` closing the (nested) comment opened just before ``pos``."""
    depth = 1
    while depth:
        m = _COMMENT_EDGE.search(sql, pos)
        if m is None:
            return len(sql)
        depth += 1 if m.group() == "/*" else -1
        pos = m.end()
    return pos


def _skip(sql: str, m: re.Match[str]) -> tuple[int, bool]:
    """Skip the token that ``m`` opens: return (index after it, whether it is content)."""
    tok = m.group()
    end = m.end()
    if tok == "--":
        nl = sql.find("\n", end)
        return (len(sql) if nl < 0 else nl + 1), False
    if tok == "/*":
        return _end_of_block_comment(sql, end), False
    if tok == "'":
        s = _STRING.match(sql, end)
        return (s.end() if s else len(sql)), True
    if tok in ("E'", "e'"):
        start = m.start()
        if start and _IDENT_CHAR.match(sql, start - 1):  # "somee'..." is ident + string
            s = _STRING.match(sql, end)
        else:
            s = _ESTRING.match(sql, end)
        return (s.end() if s else len(sql)), True
    if tok == '"':
        s = _IDENT.match(sql, end)
        return (s.end() if s else len(sql)), True
    # "$": a dollar quote only where an identifier or a $n parameter cannot be going on
    start = m.start()
    if start and _IDENT_CHAR.match(sql, start - 1):
        return end, True
    d = _DOLLAR_TAG.match(sql, start)
    if d is None:
        return end, True
    close = sql.find(d.group(), d.end())
    return (len(sql) if close < 0 else close + len(d.group())), True


def split_statements(sql: str) -> list[str]:
    """The statements of a simple-protocol query string, in order.

    A string holding a single statement is returned unchanged (trailing ``;`` and all);
    several statements are returned stripped, without their ``;``. A string without any
    statement (empty, or only comments) gives ``[]``.
    """
    semi = sql.find(";")
    if semi < 0 or semi == len(sql.rstrip()) - 1:  # no ";" but the last: one statement at most
        return [sql] if _has_content(sql) else []
    pieces: list[str] = []
    start = pos = 0
    content = False
    n = len(sql)
    while pos < n:
        m = _SPECIAL.search(sql, pos)
        if m is None:
            if sql[pos:].strip():
                content = True
            break
        if not content and sql[pos : m.start()].strip():
            content = True
        if m.group() == ";":
            if content:
                pieces.append(sql[start : m.start()].strip())
            start = pos = m.end()
            content = False
            continue
        pos, is_content = _skip(sql, m)
        content = content or is_content
    if content:
        pieces.append(sql[start:].strip())
    if len(pieces) == 1:
        return [sql]
    return pieces


def _has_content(sql: str) -> bool:
    """Whether ``sql`` holds anything besides whitespace and comments."""
    if not sql.strip(_BLANK):
        return False
    if "--" not in sql and "/*" not in sql:
        return True
    pos = 0
    while pos < len(sql):
        m = _SPECIAL.search(sql, pos)
        if m is None:
            return bool(sql[pos:].strip(_BLANK))
        if sql[pos : m.start()].strip(_BLANK):
            return True
        if m.group() == ";":
            pos = m.end()
            continue
        pos, is_content = _skip(sql, m)
        if is_content:
            return True
    return False


def find_traceparent(sql: str) -> str | None:
    """The W3C traceparent of a sqlcommenter-style comment (``/*traceparent='00-...'*/``)."""
    if "traceparent" not in sql and "TRACEPARENT" not in sql:
        return None
    m = _TRACEPARENT.search(sql)
    return m.group(1).lower() if m else None


def traceparent_of_app_name(application_name: str | None) -> str | None:
    """A traceparent carried in ``application_name`` (bare, or as ``traceparent=...``)."""
    if not application_name or "-" not in application_name:
        return None
    m = _TRACEPARENT.search(application_name)
    if m:
        return m.group(1).lower()
    m = _BARE_TRACEPARENT.fullmatch(application_name.strip())
    return m.group(0).lower() if m else None
