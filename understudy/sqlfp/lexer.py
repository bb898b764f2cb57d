"""A small SQL lexer: split a query string into statements, and give each its *shape*.

The shape of a statement is its text with every literal (number, ``'string'``,
``$$dollar quote$$``) replaced by a marker and its comments removed: two statements with the
same shape differ only in their literal values (and where they put comments). The replay
server fingerprints a statement once per shape instead of once per text (see
:mod:`understudy.sqlfp.shapes`), and splits simple-protocol query strings the way
PostgreSQL's lexer does: never inside strings, quoted identifiers, dollar quotes or comments.

The regular expression stops only at what matters (quotes, comments, numbers, ``$``, ``;``);
identifiers, keywords and whitespace are skipped by the regex engine, so a short statement
costs a few microseconds. It is a lexer, not a parser: what it does not model exactly (escape
strings, bit strings, unterminated quotes) it flags as :attr:`Piece.exotic`, and the
fingerprinter then checks every such text with the real fingerprint function.

>>> [p.text for p in split("SELECT 1; SELECT ';' -- x;\\n; /* ; */")]
['SELECT 1', "SELECT ';' -- x;"]
>>> p = split("select * from t2 where a = 'it''s' and b = 42")[0]
>>> p.literals, p.keyword
(("it's", '42'), 'SELECT')
>>> split("SELECT $1 + $2")[0].nparams
2
>>> split("SELECT 1;")[0].text  # one statement: the text exactly as sent
'SELECT 1;'
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = ["Piece", "first_keyword", "split"]

_IDENT_START: Final = r"A-Za-z_\x80-\U0010ffff"
_INTERESTING: Final = re.compile(
    rf"""
    (?=[-'"/$;.0-9]|[EeUuBbXxNn]')  # a cheap first look: most positions fail here
    (?:
      (?P<s>'(?:[^']|'')*')
    | (?P<qi>"(?:[^"]|"")*")
    | (?P<lc>--[^\n]*)
    | (?P<bc>/\*)
    | (?P<p>\$[0-9]+)
    | (?P<dq>\$(?:[{_IDENT_START}][0-9{_IDENT_START}]*)?\$)
    | (?P<es>(?<![0-9$.{_IDENT_START}])[EeUuBbXxNn]')
    | (?P<n>(?<![0-9$.{_IDENT_START}])(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
    | (?P<semi>;)
    | (?P<q>['"])
    )
    """,
    re.VERBOSE,
)
_KEYWORD: Final = re.compile(
    rf"(?:\s|--[^\n]*|\(|/\*.*?\*/)*([{_IDENT_START}][0-9$A-Za-z_]*)", re.S
)
_COMMENT_EDGE: Final = re.compile(r"/\*|\*/")
# Markers that stand for literals in a shape: NUL never occurs in a PostgreSQL query string.
_NUM: Final = "\x00n"
_STR: Final = "\x00s"
_DOLLAR: Final = "\x00d"


class Piece(NamedTuple):
    """One statement of a query string.

    ``text`` is the statement as sent (the whole string when it holds one statement, as the
    recorder stores it); ``shape`` is the literal-free form; ``literals`` the literal values
    in order (strings unquoted); ``nparams`` the highest ``$n``; ``keyword`` the first word,
    upper case ("" when there is none); ``exotic`` is true when the lexer met something it
    does not model exactly.
    """

    text: str
    shape: str
    literals: tuple[str, ...]
    nparams: int
    keyword: str
    exotic: bool


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


def _end_of_prefixed_string(sql: str, pos: int) -> int:
    """Index after the string whose opening quote ends just before ``pos`` (backslash aware)."""
    i = pos
    size = len(sql)
    while i < size:
        ch = sql[i]
        if ch == "\\":
            i += 2
        elif ch == "'":
            if sql[i + 1 : i + 2] == "'":
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return size


def _piece(
    sql: str,
    start: int,
    end: int,
    shape: list[str],
    literals: list[str],
    nparams: int,
    exotic: bool,
) -> Piece | None:
    text = "".join(shape).strip()
    if not text:
        return None
    m = _KEYWORD.match(text)
    keyword = m.group(1).upper() if m else ""
    return Piece(sql[start:end].strip(), text, tuple(literals), nparams, keyword, exotic)


def split(sql: str) -> list[Piece]:
    """The statements of ``sql``; pieces holding only whitespace and comments are dropped."""
    pieces: list[Piece] = []
    shape: list[str] = []
    literals: list[str] = []
    nparams = 0
    exotic = False
    start = 0  # where the current statement starts
    pos = 0  # end of what the shape already holds
    size = len(sql)
    search = _INTERESTING.search
    while True:
        m = search(sql, pos)
        if m is None:
            break
        mstart = m.start()
        end = m.end()
        kind = m.lastgroup
        if mstart > pos:
            shape.append(sql[pos:mstart])
        if kind == "n":
            shape.append(_NUM)
            literals.append(m.group())
        elif kind == "s":
            shape.append(_STR)
            literals.append(sql[mstart + 1 : end - 1].replace("''", "'"))
        elif kind == "semi":
            p = _piece(sql, start, mstart, shape, literals, nparams, exotic)
            if p is not None:
                pieces.append(p)
            shape, literals, nparams, exotic, start = [], [], 0, False, end
        elif kind == "p":
            shape.append(m.group())
            nparams = max(nparams, int(sql[mstart + 1 : end]))
        elif kind == "lc":
            shape.append(" ")
        elif kind == "bc":
            end = _end_of_block_comment(sql, end)
            shape.append(" ")
        elif kind == "qi":
            shape.append(m.group())
        elif kind == "dq":
            tag = m.group()
            close = sql.find(tag, end)
            if close < 0:
                exotic = True
                shape.append(sql[mstart:])
                end = size
            else:
                shape.append(_DOLLAR)
                literals.append(sql[end:close])
                end = close + len(tag)
        elif kind == "es":
            # E'...', U&'...', B'...', X'...', N'...': escapes we do not model; keep verbatim
            exotic = True
            end = _end_of_prefixed_string(sql, end)
            shape.append(sql[mstart:end])
        else:  # an unterminated quote
            exotic = True
            shape.append(sql[mstart:])
            end = size
        pos = end
    if pos < size:
        shape.append(sql[pos:])
    p = _piece(sql, start, size, shape, literals, nparams, exotic)
    if p is not None:
        pieces.append(p)
    if len(pieces) == 1 and pieces[0].text != sql:
        p = pieces[0]
        pieces[0] = Piece(sql, p.shape, p.literals, p.nparams, p.keyword, p.exotic)
    return pieces


def first_keyword(sql: str) -> str:
    """The first word of ``sql`` in upper case, past whitespace, comments and parentheses.

    >>> first_keyword("  /* hi */ (select 1)"), first_keyword("  ")
    ('SELECT', '')
    """
    m = _KEYWORD.match(sql)
    return m.group(1).upper() if m else ""
