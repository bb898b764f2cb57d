"""Vectorised SQL pre-normalisation: millions of statement texts -> a few shapes.

:func:`sql_canonical` and :func:`sql_shape` are polars expressions built only from
``str.replace_all`` / ``str.contains`` over the whole column. A *shape* is the text with
comments dropped, blanks collapsed, literals and ``$n`` replaced by kind markers, all-literal
``IN (...)``, ``ARRAY[...]`` and ``VALUES`` lists folded, and keywords lowercased.

A shape is never coarser than :func:`understudy.sqlfp.fingerprint`: two texts with the same
shape have the same fingerprint, so one sqlglot call per shape fingerprints every row.
Where a lexical rule could be wrong the shape is made finer, never coarser:

* the first pass lexes comments, quoted identifiers, strings, numbers, ``$n``, words and
  blanks in one leftmost-first alternation, so a digit inside an identifier, a quote inside
  a comment or ``--`` inside a string is never mistaken for something else;
* ordinals (``ORDER BY 1``) and type modifiers (``varchar(10)``) are structure, not values:
  rows where a number may be one keep all their numbers;
* text the regular expressions cannot lex exactly (dollar quotes, ``E'...'`` and ``U&``
  escapes, nested comments, control characters) keeps its raw text as its shape.
"""

from __future__ import annotations

from typing import Final

import polars as pl

__all__ = ["shape_from_canonical", "sql_canonical", "sql_shape"]

# Pass 1 marks the tokens that matter with their kind:
# <keep>\x01<str>\x02<num>\x03<param>\x04<comment>\x05<blank>\x06, one slot non-empty.
# Plain words and single spaces are not matched at all (they are most of the text, and each
# match costs a capture-group resolution); a word is only matched when it holds a digit or
# "$", so that the digit is not read as a number. Blanks other than one space are matched.
_LEX: Final = (
    r'(?s)(?P<k>"(?:[^"]|"")*"|[^\W\d][\w$]*[\d$][\w$]*)'
    r"|(?P<s>'(?:[^']|'')*')"
    r"|(?P<n>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<p>\$\d+)"
    r"|(?P<c>--[^\n]*|/\*.*?\*/)"
    r"|(?P<w>[^\S ]\s*|  \s*)"
)
_LEX_TO: Final = "${k}\x01${s}\x02${n}\x03${p}\x04${c}\x05${w}\x06"
_KEEP_SUFFIX: Final = "\x01\x02\x03\x04\x05\x06"
# comments and marked blanks, with the single spaces around them: one space
_BLANKS: Final = r" *(?:\x01\x02\x03\x04[^\x05]*\x05[^\x06]*\x06 *)+"
_STR: Final = r"\x01[^\x02]*\x02\x03\x04\x05\x06"
_NUM: Final = r"\x01\x02([^\x03]*)\x03\x04\x05\x06"
_PARAM: Final = r"\x01\x02\x03[^\x04]*\x04\x05\x06"

#: Raw text the lexer above cannot split exactly: its shape is the raw text itself.
_UNLEXABLE: Final = (
    r"[\x00-\x08\x0E-\x1F]"  # control characters (and our markers)
    r"|\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$"  # dollar quoting
    r"|(?i:(?:^|[^\w$])(?:e|u&)')|(?i:u&\x22)"  # escape strings, Unicode escapes
    r"|/\*(?:[^*]|\*[^/])*/\*"  # nested comments
)
#: Numbers that may be ordinals or type modifiers (in canonical text): keep all numbers.
_TYPES: Final = (
    "varchar|char|character|varying|numeric|decimal|dec|timestamp|timestamptz|time|timetz"
    "|interval|bit|varbit|float"
)
_STRUCTURAL_NUMBER: Final = (
    r"(?is)\b(?:order|group) by ?\x01\x02|\b(?:order|group) by\b.*?, ?\x01\x02"
    rf"|\b(?:{_TYPES}) ?\( ?\x01\x02"
)

_LIT: Final = r"\x0E[snpz]"  # a literal in a shape: string, number, parameter, null/bool
_MAX_VALUES_ARITY: Final = 32


def _values_fold() -> str:
    alternatives = []
    for k in range(1, _MAX_VALUES_ARITY + 1):
        row = rf"\( ?{_LIT}(?: ?, ?{_LIT}){{{k - 1}}} ?\)"
        alternatives.append(rf"({row})(?: ?, ?{row})*")
    return r"(?i)\b(values) ?(?:" + "|".join(alternatives) + ")"


_VALUES: Final = _values_fold()
_VALUES_TO: Final = "${1} " + "".join(f"${{{i}}}" for i in range(2, _MAX_VALUES_ARITY + 2))


def _col(sql: str | pl.Expr) -> pl.Expr:
    return pl.col(sql) if isinstance(sql, str) else sql


def sql_canonical(sql: str | pl.Expr = "sql") -> pl.Expr:
    """Comments dropped and blanks collapsed; literal tokens still marked, values kept.

    Two texts with equal canonical text differ at most in the case of keywords. Use it
    to tell parameter sets apart (it keeps literal values) and as the input of
    :func:`shape_from_canonical`. Unlexable text is returned prefixed with ``\\x10``.

    Examples
    --------
    >>> df = pl.DataFrame({"sql": ["SELECT  1 /* x */", "select 1 -- y"]})
    >>> df.select(sql_canonical().str.replace_all(r"[\\x01-\\x06]", "")).to_series().to_list()
    ['SELECT 1', 'select 1']
    """
    col = _col(sql)
    lexed = (
        col.str.replace_all(_LEX, _LEX_TO)
        .str.replace_all(_KEEP_SUFFIX, "", literal=True)
        .str.replace_all(_BLANKS, " ")
        .str.strip_chars(" ")
    )
    return pl.when(col.str.contains(_UNLEXABLE)).then(pl.lit("\x10") + col).otherwise(lexed)


def shape_from_canonical(canonical: str | pl.Expr = "canonical") -> pl.Expr:
    """The shape of a canonical text (see :func:`sql_canonical`)."""
    col = _col(canonical)
    keep_numbers = col.str.contains(_STRUCTURAL_NUMBER)
    no_strings = col.str.replace_all(_STR, "\x0es").str.replace_all(_PARAM, "\x0ep")
    numbers = (
        pl.when(keep_numbers)
        .then(no_strings.str.replace_all(_NUM, "${1}"))
        .otherwise(no_strings.str.replace_all(_NUM, "\x0en"))
    )
    shaped = (
        numbers.str.replace_all(r"(?i)\b(is|not) (null|true|false)\b", "${1} \x0f${2}")
        .str.replace_all(r"(?i)(^|[^\x0F])\b(?:null|true|false)\b", "${1}\x0ez")
        .str.replace_all(rf"(?i)\b(in) ?\( ?{_LIT}(?: ?, ?{_LIT})* ?\)", "${1} (\x0el)")
        .str.replace_all(rf"(?i)\b(array) ?\[ ?{_LIT}(?: ?, ?{_LIT})* ?\]", "${1}[\x0el]")
        .str.replace_all(_VALUES, _VALUES_TO)
        .str.replace_all(r"(?: ?;)+$", "")
    )
    quoted_upper = shaped.str.extract_all(r'"(?:[^"]|"")*"').list.join("").str.contains(r"\p{Lu}")
    lowered = pl.when(quoted_upper).then(shaped).otherwise(shaped.str.to_lowercase())
    return pl.when(col.str.starts_with("\x10")).then(col).otherwise(lowered)


def sql_shape(sql: str | pl.Expr = "sql") -> pl.Expr:
    """Vectorised shape of statement texts: equal shapes imply equal fingerprints.

    Examples
    --------
    >>> df = pl.DataFrame({"sql": [
    ...     "SELECT * FROM t WHERE id IN (1, 2, 3) -- a",
    ...     "select * from t where id in (4)",
    ...     "INSERT INTO t VALUES (1, 'a'), (2, 'b')",
    ...     "insert into t values (3, 'c')",
    ... ]})
    >>> df.select(sql_shape().n_unique()).item()
    2
    """
    return shape_from_canonical(sql_canonical(sql))


def with_shapes(
    lf: pl.LazyFrame,
    sql: str = "sql",
    *,
    canonical: str = "canonical",
    shape: str = "shape",
) -> pl.LazyFrame:
    """Add ``canonical`` and ``shape`` columns, each stage computed once.

    Prefer this to ``sql_shape`` on large frames: the expression form references the
    canonical text several times, which only the lazy engine's common-subexpression
    elimination computes once.

    Examples
    --------
    >>> lf = pl.LazyFrame({"sql": ["SELECT 1", "SELECT  2 -- x"]})
    >>> with_shapes(lf).collect()["shape"].n_unique()
    1
    """
    return lf.with_columns(sql_canonical(pl.col(sql).fill_null("")).alias(canonical)).with_columns(
        shape_from_canonical(canonical).alias(shape)
    )
