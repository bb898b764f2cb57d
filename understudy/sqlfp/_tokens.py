"""Token-level normalisation: utility statements, and the fallback when sqlglot fails.

It lexes like PostgreSQL (comments, quoted identifiers, standard, escape, bit and
dollar-quoted strings, numbers, ``$n``, operator runs), lowercases words, replaces literals
(``NULL``/``TRUE``/``FALSE`` too, unless after ``IS``/``NOT``) by slot markers, keeps
``ORDER BY``/``GROUP BY`` ordinals and type modifiers (``varchar(10)``), and folds ``IN``
lists, ``ARRAY[...]`` and ``VALUES`` rows made only of placeholders. It is total: any text
gives a result, nothing raises.
"""

from __future__ import annotations

import re
from typing import Final

from understudy.sqlfp._slots import SlotTable, marker_values

__all__ = [
    "DML_KEYWORDS",
    "RESERVED",
    "TokenResult",
    "first_keyword",
    "normalize_tokens",
    "unquote_ok",
]


def _words(text: str) -> list[str]:
    return text.split()


#: First keywords of statements the sqlglot path handles; everything else is a utility.
DML_KEYWORDS: Final = frozenset({"select", "with", "insert", "update", "delete", "values", "table"})

#: PostgreSQL reserved and column-name keywords: never written without quotes.
RESERVED: Final = frozenset(
    _words(
        """
        all analyse analyze and any array as asc asymmetric authorization between bigint binary
        bit boolean both case cast char character check coalesce collate collation column
        concurrently constraint create cross current_catalog current_date current_role
        current_schema current_time current_timestamp current_user dec decimal default
        deferrable desc distinct do else end except exists extract false fetch float for foreign
        freeze from full grant greatest group grouping having ilike in initially inner inout int
        integer intersect interval into is isnull join lateral leading least left like limit
        localtime localtimestamp national natural nchar none normalize not notnull null nullif
        numeric offset on only or order out outer overlaps overlay placing position precision
        primary real references returning right row select session_user setof similar smallint
        some substring symmetric table tablesample then time timestamp to trailing treat trim
        true union unique user using values varchar variadic verbose when where window with
        xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi
        xmlroot xmlserialize xmltable
        """
    )
)

_SIMPLE_IDENT: Final = re.compile(r"[a-z_][a-z0-9_$]*")

_TOKEN: Final = re.compile(
    r"""
     (?P<ws>\s+)
    |(?P<comment>--[^\n]*|/\*(?:[^*]|\*(?!/))*\*/)
    |(?P<dollar>\$\$.*?\$\$|\$(?P<tag>[A-Za-z_][A-Za-z0-9_]*)\$.*?\$(?P=tag)\$)
    |(?P<estr>[eE]'(?:[^'\\]|\\.|'')*')
    |(?P<str>(?:[bBxXnN]|[uU]&)?'(?:[^']|'')*')
    |(?P<qid>(?:[uU]&)?"(?:[^"]|"")*")
    |(?P<param>\$\d+)
    |(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    |(?P<word>[^\W\d][\w$]*)
    |(?P<op>::|:=|[-+*/<>=~!@\#%^&|`?]+)
    |(?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)

#: Type names whose parenthesised numbers are modifiers, not literals.
_TYPMOD_TYPES: Final = frozenset(
    _words(
        """
        varchar char character varying numeric decimal dec timestamp timestamptz time timetz
        interval bit varbit float
        """
    )
)
#: Constants that are literals (placeholders) unless they follow IS or NOT.
_CONSTANT_WORDS: Final = frozenset({"null", "true", "false"})
#: Words that may follow an ordinal inside an ORDER BY / GROUP BY list.
_ORDINAL_CONT: Final = frozenset({",", "asc", "desc", "nulls", "first", "last"})
#: Words after which a "-" is a sign, not a subtraction.
_SIGN_AFTER: Final = frozenset(
    _words(
        """
        select where and or not when then else values in between limit offset by set return
        returning on having is like ilike
        """
    )
)

_STATEMENT_TYPES: Final = {
    "begin": "BEGIN", "start": "BEGIN", "commit": "COMMIT", "end": "COMMIT",
    "rollback": "ROLLBACK", "abort": "ROLLBACK", "savepoint": "SAVEPOINT",
    "release": "RELEASE", "prepare": "PREPARE", "set": "SET", "reset": "RESET",
    "show": "SHOW", "copy": "COPY", "create": "CREATE", "alter": "ALTER", "drop": "DROP",
    "truncate": "TRUNCATE", "explain": "EXPLAIN", "vacuum": "VACUUM", "analyze": "ANALYZE",
    "analyse": "ANALYZE", "lock": "LOCK", "listen": "LISTEN", "notify": "NOTIFY",
    "unlisten": "UNLISTEN", "execute": "EXECUTE", "deallocate": "DEALLOCATE",
    "discard": "DISCARD", "fetch": "FETCH", "move": "MOVE", "close": "CLOSE",
    "declare": "DECLARE", "grant": "GRANT", "revoke": "REVOKE", "call": "CALL", "do": "DO",
    "comment": "COMMENT", "refresh": "REFRESH", "reindex": "REINDEX", "cluster": "CLUSTER",
    "checkpoint": "CHECKPOINT", "merge": "MERGE", "select": "SELECT", "values": "SELECT",
    "table": "SELECT", "insert": "INSERT", "update": "UPDATE", "delete": "DELETE",
}  # fmt: skip
_TABLE_AFTER: Final = frozenset(
    {"from", "join", "into", "update", "table", "truncate", "copy", "lock"}
)
_NOT_TABLES: Final = frozenset({"only", "if", "not", "exists", "table", "lateral", "select"})
_PSEUDO_TABLES: Final = frozenset({"stdin", "stdout", "program"})

Token = tuple[str, str]


class TokenResult:
    """What the token normaliser found: marker text, slots, statement type, tables."""

    __slots__ = ("slots", "statement_type", "tables", "text")

    def __init__(self, text: str, slots: SlotTable, statement_type: str, tables: tuple[str, ...]):
        self.text = text
        self.slots = slots
        self.statement_type = statement_type
        self.tables = tables


def unquote_ok(name: str) -> bool:
    """True when the quoted identifier ``name`` means the same without quotes.

    >>> unquote_ok("users"), unquote_ok("Users"), unquote_ok("user")
    (True, False, False)
    """
    return _SIMPLE_IDENT.fullmatch(name) is not None and name not in RESERVED


def _lex(sql: str) -> list[Token]:
    out: list[Token] = []
    for m in _TOKEN.finditer(sql):
        kind = m.lastgroup or "other"
        if kind == "tag":  # pragma: no cover - the tag group only nests inside "dollar"
            kind = "dollar"
        if kind in ("ws", "comment"):
            continue
        out.append((kind, m.group(kind if kind != "dollar" else "dollar")))
    return out


def first_keyword(sql: str) -> str:
    """Lowercased first word of ``sql`` after comments, blanks and opening parentheses.

    >>> first_keyword("/* app */ (SELECT 1)")
    'select'
    """
    for kind, text in _lex(sql):
        if kind == "word":
            return text.lower()
        if text != "(":
            return ""
    return ""


def _literal_value(kind: str, text: str) -> str:
    if kind == "str":
        body = text.partition("'")[2]
        return body[:-1].replace("''", "'") if body.endswith("'") else body
    if kind == "estr":
        return re.sub(r"\\(.)|''", lambda m: m.group(1) or "'", text[2:-1])
    if kind == "dollar":
        tag_end = text.index("$", 1) + 1
        return text[tag_end:-tag_end]
    return text


def _protected_numbers(tokens: list[Token]) -> set[int]:
    """Indexes of numbers that are ordinals (``ORDER BY 1``) or type modifiers."""
    keep: set[int] = set()
    mode = ""
    for i, (kind, text) in enumerate(tokens):
        low = text.lower()
        if kind == "num" and mode:
            if text.isdigit():
                keep.add(i)
        elif (mode == "by" and (low in _ORDINAL_CONT)) or (mode == "typmod" and text == ","):
            continue
        elif low == "by" and kind == "word":
            mode = "by"
        elif text == "(" and i and tokens[i - 1][1].lower() in _TYPMOD_TYPES:
            mode = "typmod"
        else:
            mode = ""
    return keep


def _normalize(tokens: list[Token], slots: SlotTable) -> list[Token]:
    keep = _protected_numbers(tokens)
    out: list[Token] = []
    for i, (kind, text) in enumerate(tokens):
        if kind in ("str", "estr", "dollar") or (kind == "num" and i not in keep):
            value = _literal_value(kind, text)
            if out and out[-1] == ("op", "-") and _is_sign(out[:-1]) and kind == "num":
                out.pop()
                value = "-" + value
            out.append(("m", slots.literal(value)))
        elif kind == "num":
            out.append((kind, text.lower()))
        elif kind == "param":
            out.append(("m", slots.param(int(text[1:]))))
        elif kind == "word" and text.lower() in _CONSTANT_WORDS and not _after_is_or_not(out):
            value = text.lower()
            out.append(("m", slots.literal("NULL" if value == "null" else value)))
        elif kind == "word":
            out.append((kind, text.lower()))
        elif kind == "qid":
            name = text[1:-1].replace('""', '"')
            out.append(("word", name) if unquote_ok(name) else (kind, text))
        else:
            out.append((kind, text.replace("\x00", "\ufffd")))
    return out


def _after_is_or_not(before: list[Token]) -> bool:
    return bool(before) and before[-1][0] == "word" and before[-1][1] in ("is", "not")


def _is_sign(before: list[Token]) -> bool:
    if not before:
        return True
    kind, text = before[-1]
    return kind == "op" or text in ("(", ",", "[") or (kind == "word" and text in _SIGN_AFTER)


def _fold(tokens: list[Token], slots: SlotTable) -> list[Token]:
    """Fold ``in (m, m...)``, ``array[m, m...]`` and ``values (m..), (m..)...`` lists."""
    out: list[Token] = []
    i = 0
    n = len(tokens)
    while i < n:
        kind, text = tokens[i]
        if kind == "word" and text in ("in", "array", "values") and i + 1 < n:
            opener = "[" if text == "array" else "("
            group = _marker_group(tokens, i + 1, opener)
            if group is not None and text != "values":
                items, end = group
                extra = tuple(v for m in items[1:] for v in marker_values(m, slots))
                out += [tokens[i], ("other", opener), ("m", items[0]), ("m", slots.folded(extra))]
                out.append(("other", "]" if opener == "[" else ")"))
                i = end
                continue
            if group is not None:
                rows = [group]
                while True:
                    _, end = rows[-1]
                    if end < n and tokens[end][1] == ",":
                        nxt = _marker_group(tokens, end + 1, "(")
                        if nxt is not None and len(nxt[0]) == len(group[0]):
                            rows.append(nxt)
                            continue
                    break
                extra = tuple(
                    v for row, _ in rows[1:] for m in row for v in marker_values(m, slots)
                )
                out += [tokens[i], ("other", "(")]
                for j, m in enumerate(group[0]):
                    out += [("other", ",")] if j else []
                    out.append(("m", m))
                out += [("other", ")"), ("m", slots.folded(extra))]
                i = rows[-1][1]
                continue
        out.append(tokens[i])
        i += 1
    return out


def _marker_group(tokens: list[Token], start: int, opener: str) -> tuple[list[str], int] | None:
    """Markers of ``(m, m, ...)`` starting at ``start``, and the index after the closer."""
    closer = "]" if opener == "[" else ")"
    if start >= len(tokens) or tokens[start][1] != opener:
        return None
    items: list[str] = []
    i = start + 1
    while i < len(tokens) and tokens[i][0] == "m":
        items.append(tokens[i][1])
        i += 1
        if i < len(tokens) and tokens[i][1] == closer:
            return items, i + 1
        if i < len(tokens) and tokens[i][1] == ",":
            i += 1
            continue
        return None
    return None


def _join(tokens: list[Token]) -> str:
    parts: list[str] = []
    prev = ""
    for _, text in tokens:
        if parts and not (prev in ("(", "[", ".", "::") or text in (")", "]", ",", ".", "::", ";")):
            parts.append(" ")
        parts.append(text)
        prev = text
    return "".join(parts)


def _statement_type(tokens: list[Token]) -> str:
    words = [t.lower() for k, t in tokens if k == "word"]
    if not tokens:
        return "EMPTY"
    if not words:
        return "OTHER"
    if words[0] == "with":
        depth = 0
        for kind, text in tokens:
            depth += text.count("(") - text.count(")") if kind == "other" else 0
            low = text.lower()
            if depth == 0 and kind == "word" and low in ("select", "insert", "update", "delete"):
                return low.upper()
        return "OTHER"
    first = next((t for k, t in tokens if k != "other" or t != "("), "")
    return _STATEMENT_TYPES.get(first.lower(), "OTHER")


def _tables(tokens: list[Token]) -> tuple[str, ...]:
    names: set[str] = set()
    ctes: set[str] = set()
    for i, (kind, text) in enumerate(tokens):
        if kind in ("word", "qid") and tokens[i + 1 : i + 3] == [("word", "as"), ("other", "(")]:
            ctes.add(text)
        if not (kind == "word" and text in _TABLE_AFTER):
            continue
        j = i + 1
        while j < len(tokens) and tokens[j][1] in _NOT_TABLES:
            j += 1
        if j >= len(tokens) or tokens[j][0] not in ("word", "qid"):
            continue
        name = tokens[j][1]
        if j + 2 < len(tokens) and tokens[j + 1][1] == "." and tokens[j + 2][0] in ("word", "qid"):
            name = f"{name}.{tokens[j + 2][1]}" if name != "public" else tokens[j + 2][1]
            j += 2
        if text in ("from", "join") and j + 1 < len(tokens) and tokens[j + 1][1] == "(":
            continue
        names.add(name)
    return tuple(sorted(names - ctes - _PSEUDO_TABLES))


def normalize_tokens(sql: str, *, fold_lists: bool = True) -> TokenResult:
    """Normalise ``sql`` token by token.

    >>> r = normalize_tokens("SET statement_timeout = 5000")
    >>> r.statement_type, r.slots.values
    ('SET', [('5000',)])
    """
    slots = SlotTable()
    raw = _lex(sql)
    tokens = _normalize(raw, slots)
    if fold_lists:
        tokens = _fold(tokens, slots)
    while tokens and tokens[-1][1] == ";":
        tokens.pop()
    return TokenResult(_join(tokens), slots, _statement_type(raw), _tables(tokens))
