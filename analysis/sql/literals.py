"""The lexer's literal values, vectorised: ``Piece.shape`` and ``Piece.literals`` of
:func:`understudy.sqlfp.lexer.split` as polars expressions, for *plain* statement texts.

A text is plain when the lexer meets nothing in it but ``'strings'``, ``"quoted
identifiers"`` and numbers: no comment, ``;``, ``$``, backslash, control character, prefixed
string (``E'...'``, ``X'...'``...), leading or trailing blank, and no unterminated quote. On
plain text the lexer's rules reduce to one leftmost-first alternation, which the regex
engine runs over the whole column: a digit right after a letter, digit, ``$`` or ``.`` is not
a number, so letters-and-digits runs are consumed whole. Other texts are left to the lexer
(:func:`plain` is false for them); the plain test errs towards "not plain".
"""

from __future__ import annotations

from typing import Final

import polars as pl

__all__ = ["lexer_literals", "lexer_marks", "lexer_shape", "plain"]

_AFTER: Final = r"0-9$.A-Za-z_\x{80}-\x{10FFFF}"  # a digit right after these is no number
_WORD: Final = r"A-Za-z_\x{80}-\x{10FFFF}"
# One pass (the only one with capture groups, the costly kind) marks each token:
# a string as \x01'...'\x02\x03\x04, a number as \x01\x02\x03<number>\x04 followed by the
# rest of its run, a word run or a quoted identifier as \x01\x02\x03\x04<itself>.
_TOKENS: Final = (
    r"('(?:[^']|'')*')"
    rf"|((?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)([{_AFTER}]*)"
    rf'|([{_WORD}][{_AFTER}]*|"(?:[^"]|"")*")'
)
_MARKED: Final = "\x01${1}\x02\x03${2}\x04${3}${4}"
_STRING: Final = r"\x01'[^\x02]*\x02\x03\x04"
_NUMBER: Final = r"\x01\x02\x03[^\x04]+\x04"
_NOT_PLAIN: Final = (
    r"(?s)[\x00-\x08\x0E-\x1F\x7F;$\\]|--|/\*|^\s|\s$"
    rf"|(?:^|[^{_AFTER}])[EeUuBbXxNn]'"
)
_STRAY_QUOTE: Final = r"['\x22]"
_QUOTED_IDENT: Final = r'"(?:[^"]|"")*"'


def _col(sql: str | pl.Expr) -> pl.Expr:
    return pl.col(sql) if isinstance(sql, str) else sql


def lexer_marks(sql: str | pl.Expr = "sql") -> pl.Expr:
    """The text with its tokens marked: the input of :func:`lexer_shape` and
    :func:`lexer_literals` (compute it once, as a column, when both are wanted)."""
    return _col(sql).str.replace_all(_TOKENS, _MARKED)


def lexer_shape(marks: str | pl.Expr = "marks") -> pl.Expr:
    """``Piece.shape`` of a plain text (from its :func:`lexer_marks`): strings ``\\x00s``,
    numbers ``\\x00n``.

    Examples
    --------
    >>> df = pl.DataFrame({"sql": ["SELECT a1 FROM t WHERE b = 'x' AND c = 2.5"]})
    >>> df.select(lexer_shape(lexer_marks())).item()
    'SELECT a1 FROM t WHERE b = \\x00s AND c = \\x00n'
    """
    return (
        _col(marks)
        .str.replace_all(_STRING, "\x00s")
        .str.replace_all(_NUMBER, "\x00n")
        .str.replace_all("\x01\x02\x03\x04", "", literal=True)
    )


def lexer_literals(marks: str | pl.Expr = "marks") -> pl.Expr:
    """``Piece.literals`` of a plain text (from its :func:`lexer_marks`), strings unquoted.

    Examples
    --------
    >>> df = pl.DataFrame({"sql": ["UPDATE t2 SET s = 'it''s', n = .5 WHERE x1 = 7"]})
    >>> df.select(lexer_literals(lexer_marks())).item().to_list()
    ["it's", '.5', '7']
    """
    el = pl.element()
    size = el.str.len_chars()
    return (
        _col(marks)
        .str.extract_all(f"{_STRING}|{_NUMBER}")
        .list.eval(
            pl.when(el.str.starts_with("\x01'"))
            .then(el.str.slice(2, size - 6).str.replace_all("''", "'", literal=True))
            .otherwise(el.str.slice(3, size - 4))
        )
    )


def plain(sql: str | pl.Expr = "sql", shape: str | pl.Expr = "shape") -> pl.Expr:
    """True for texts whose :func:`lexer_shape` and :func:`lexer_literals` are the lexer's.

    Examples
    --------
    >>> df = pl.DataFrame({"sql": ["SELECT 1", "SELECT 1; SELECT 2", "SELECT E'\\\\n'",
    ...                            "SELECT 'open", ' SELECT 1', ""]})
    >>> df.select(plain("sql", lexer_shape(lexer_marks()))).to_series().to_list()
    [True, False, False, False, False, False]
    """
    col = _col(sql)
    rest = _col(shape).str.replace_all(_QUOTED_IDENT, "")
    return (
        (col.str.len_bytes() > 0) & ~col.str.contains(_NOT_PLAIN) & ~rest.str.contains(_STRAY_QUOTE)
    ).fill_null(False)
