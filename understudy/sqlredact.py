"""Redaction for SQL: secrets in bound parameters, literals and result columns.

A value counts as secret when the column it belongs to has a secret name
(:func:`understudy.redact.is_secret_name`: ``password``, ``api_token``, ``card_number``...,
plus the policy's extra JSON keys). It is replaced by the same keyed pseudonym the HTTP side
uses (``redacted:<16 hex>`` from :meth:`Redactor.token`), so equal secrets stay equal.

What is covered, by cheap regular expressions over the statement text (no SQL parser):

- result values: every column whose RowDescription name is secret, in any statement;
- bound parameters ``$n`` of the extended protocol, when the text ties ``$n`` to a secret
  column as ``col = $n`` (also ``<>``, ``!=``, ``LIKE``, ``ILIKE``, ``$n = col``,
  ``col = ANY($n)``), ``col IN ($n, ...)``, ``SET col = $n`` and the column lists of
  ``INSERT INTO t (cols) VALUES (...), (...)`` (any ``$n`` inside a secret column's slot,
  so ``crypt($2, gen_salt('bf'))`` is covered too);
- literals in the stored text (simple protocol, or SQL with inlined values) in the same
  positions, and after ``PASSWORD`` (``CREATE ROLE ... PASSWORD '...'``): quoted strings
  (``'...'``, ``E'...'``) and numbers become ``'redacted:...'``.

Not covered: secrets passed to functions without a secret column in sight
(``SELECT login($1, $2)``), dollar-quoted literals, values inside ``COPY`` data (never stored
anyway), ``SET password_encryption``-style settings, and secrets whose column has an
innocent name. A pattern that happens to sit inside a string literal may be redacted there
too: redaction errs on the side of hiding.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Final

from understudy.redact import Redactor, is_secret_name

__all__ = ["HINT_WORDS", "SqlRedactor"]

#: Words one of which every secret name contains (a cheap pre-filter; a superset is fine).
HINT_WORDS: Final = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "cvv",
    "cvc",
    "ssn",
    "credential",
    "card_number",
    "private_key",
    "access_key",
    "secret_key",
)

_IDENT = r'(?:[A-Za-z_\x80-\uffff][A-Za-z0-9_$\x80-\uffff]*|"(?:[^"]|"")+")'
_QIDENT = rf"(?:{_IDENT}\s*\.\s*)*({_IDENT})"  # group: the last part
_OP = r"(?:=|<>|!=|\bI?LIKE\b|\bIS\s+(?:NOT\s+)?DISTINCT\s+FROM\b)"
_LIT = r"(?:[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|(?<![\w$])-?\d+(?:\.\d+)?(?![\w.]))"

_COL_OP_PARAM: Final = re.compile(rf"{_QIDENT}\s*{_OP}\s*(?:ANY\s*\(\s*)?\$(\d+)", re.I)
_PARAM_OP_COL: Final = re.compile(rf"\$(\d+)(?:\s*::\s*\w+)?\s*{_OP}\s*{_QIDENT}", re.I)
_COL_IN: Final = re.compile(rf"{_QIDENT}\s+(?:NOT\s+)?IN\s*\(([^()]*)\)", re.I)
_COL_OP_LIT: Final = re.compile(rf"{_QIDENT}\s*{_OP}\s*({_LIT})", re.I)
_LIT_OP_COL: Final = re.compile(rf"({_LIT})(?:\s*::\s*\w+)?\s*{_OP}\s*{_QIDENT}", re.I)
_INSERT: Final = re.compile(
    r"\bINSERT\s+INTO\s+[^(;]+?\(([^()]*)\)\s*(?:OVERRIDING\s+\w+\s+VALUE\s+)?VALUES\s*", re.I
)
_ROLE_PASSWORD: Final = re.compile(rf"\bPASSWORD\s+({_LIT})", re.I)  # CREATE/ALTER ROLE
_PARAM: Final = re.compile(r"\$(\d+)")
_LITERAL: Final = re.compile(_LIT)
_VALUES_TOKEN: Final = re.compile(
    r"""[Ee]'(?:[^'\\]|\\.|'')*'|'(?:[^']|'')*'|"(?:[^"]|"")*"|[(),]"""
)

_CACHE_MAX = 4096


def _unquote_ident(ident: str) -> str:
    if ident.startswith('"'):
        return ident[1:-1].replace('""', '"')
    return ident


def _literal_value(lit: str) -> str:
    """The value a literal denotes (approximately: enough for a stable pseudonym)."""
    if lit.endswith("'"):
        body = lit[lit.index("'") + 1 : -1]
        return body.replace("''", "'")
    return lit


def _value_slots(sql: str, pos: int) -> tuple[list[list[tuple[int, int]]], int]:
    """Parse ``(a, b), (c, d)`` from ``pos``: per tuple, the (start, end) of each slot."""
    tuples: list[list[tuple[int, int]]] = []
    depth = 0
    slots: list[tuple[int, int]] = []
    slot_start = pos
    for m in _VALUES_TOKEN.finditer(sql, pos):
        tok = m.group()
        if tok == "(":
            depth += 1
            if depth == 1:
                slots, slot_start = [], m.end()
        elif tok == ")":
            depth -= 1
            if depth == 0:
                slots.append((slot_start, m.start()))
                tuples.append(slots)
            elif depth < 0:
                break
        elif tok == "," and depth == 1:
            slots.append((slot_start, m.start()))
            slot_start = m.end()
        elif tok == "," and depth == 0:
            continue
        elif depth == 0:
            break
        if depth == 0 and tok == ")":
            rest = sql[m.end() :].lstrip()
            if not rest.startswith(","):
                return tuples, m.end()
    return tuples, len(sql)


class SqlRedactor:
    """Find and pseudonymise secrets in SQL statements; caches per text, bounded."""

    def __init__(self, redactor: Redactor, *, extra_names: Iterable[str] = ()) -> None:
        self.redactor = redactor
        self._extra = frozenset(redactor.policy.json_keys) | frozenset(extra_names)
        # Compared with the lowercased text without underscores ("apiKey", "api_key"):
        # plain substring tests, and no word that contains another one (15x a regex).
        words = {w.lower().replace("_", "").replace("-", "") for w in (*HINT_WORDS, *self._extra)}
        self._hints = tuple(sorted(w for w in words if not any(o in w for o in words - {w})))
        self._names: dict[str, bool] = {}
        self._params: dict[str, frozenset[int]] = {}
        self._texts: dict[str, str] = {}

    def token(self, value: str | bytes) -> str:
        """The pseudonym of ``value``."""
        return self.redactor.token(value)

    def may_hold_secrets(self, sql: str) -> bool:
        """Cheap test: False means no secret column name occurs in ``sql`` at all."""
        low = sql.lower()
        if "_" in low:
            low = low.replace("_", "")
        for word in self._hints:  # noqa: SIM110 (a loop: twice as fast as any() here)
            if word in low:
                return True
        return False

    def is_secret_column(self, name: str) -> bool:
        """Whether a column called ``name`` holds secrets (cached)."""
        secret = self._names.get(name)
        if secret is None:
            if len(self._names) >= _CACHE_MAX:
                self._names.clear()
            secret = self._names[name] = is_secret_name(_unquote_ident(name), self._extra)
        return secret

    def secret_columns(self, names: Sequence[str]) -> tuple[int, ...]:
        """Indexes of the secret columns among ``names`` (a RowDescription)."""
        return tuple(i for i, n in enumerate(names) if self.is_secret_column(n))

    # -- parameters ------------------------------------------------------------------------
    def secret_params(self, sql: str | None) -> frozenset[int]:
        """0-based indexes of the ``$n`` parameters that ``sql`` binds to secret columns."""
        if not sql or "$" not in sql or not self.may_hold_secrets(sql):
            return frozenset()
        found = self._params.get(sql)
        if found is None:
            if len(self._params) >= _CACHE_MAX:
                self._params.clear()
            found = self._params[sql] = frozenset(n - 1 for n in self._find_params(sql) if n)
        return found

    def _find_params(self, sql: str) -> set[int]:
        out: set[int] = set()
        for m in _COL_OP_PARAM.finditer(sql):
            if self.is_secret_column(m.group(1)):
                out.add(int(m.group(2)))
        for m in _PARAM_OP_COL.finditer(sql):
            if self.is_secret_column(m.group(2)):
                out.add(int(m.group(1)))
        for m in _COL_IN.finditer(sql):
            if self.is_secret_column(m.group(1)):
                out.update(int(p) for p in _PARAM.findall(m.group(2)))
        for start, end in self._insert_secret_slots(sql):
            out.update(int(p) for p in _PARAM.findall(sql, start, end))
        return out

    def _insert_secret_slots(self, sql: str) -> list[tuple[int, int]]:
        """(start, end) of every VALUES slot that an INSERT's column list calls secret."""
        slots: list[tuple[int, int]] = []
        for m in _INSERT.finditer(sql):
            cols = [c.strip() for c in m.group(1).split(",")]
            secret = {i for i, c in enumerate(cols) if self.is_secret_column(c)}
            if not secret:
                continue
            tuples, _ = _value_slots(sql, m.end())
            for t in tuples:
                slots.extend(t[i] for i in secret if i < len(t))
        return slots

    # -- literals in the text --------------------------------------------------------------
    def redact_sql(self, sql: str) -> str:
        """``sql`` with literal values of secret columns pseudonymised (cached per text)."""
        if not self.may_hold_secrets(sql):
            return sql
        if ("'" not in sql) and not any(c.isdigit() for c in sql):
            return sql
        cached = self._texts.get(sql)
        if cached is None:
            if len(self._texts) >= _CACHE_MAX:
                self._texts.clear()
            cached = self._texts[sql] = self._redact_literals(sql)
        return cached

    def _redact_literals(self, sql: str) -> str:
        spans: list[tuple[int, int]] = []
        for m in _COL_OP_LIT.finditer(sql):
            if self.is_secret_column(m.group(1)):
                spans.append(m.span(2))
        for m in _LIT_OP_COL.finditer(sql):
            if self.is_secret_column(m.group(2)):
                spans.append(m.span(1))
        spans.extend(m.span(1) for m in _ROLE_PASSWORD.finditer(sql))
        for m in _COL_IN.finditer(sql):
            if self.is_secret_column(m.group(1)):
                start, end = m.span(2)
                spans.extend(x.span() for x in _LITERAL.finditer(sql, start, end))
        for start, end in self._insert_secret_slots(sql):
            spans.extend(x.span() for x in _LITERAL.finditer(sql, start, end))
        if not spans:
            return sql
        out: list[str] = []
        pos = 0
        for start, end in sorted(set(spans)):
            if start < pos:
                continue  # overlapping matches: the first one wins
            lit = sql[start:end]
            out.append(sql[pos:start])
            out.append(f"'{self.token(_literal_value(lit))}'")
            pos = end
        out.append(sql[pos:])
        return "".join(out)
