"""SQL fingerprints: one function shared by analysis (grouping a tape) and the replayer.

``fingerprint(sql)`` maps a statement text to a :class:`Fingerprint` whose ``normalized``
text is canonical SQL with placeholders, and whose ``fingerprint`` is 16 hex digits of a
BLAKE2b hash of ``normalized``. Two texts share a fingerprint when they differ only in
literal values, bound-parameter numbering, whitespace, keyword and unquoted-identifier
case, comments (sqlcommenter ``/*traceparent='...'*/`` included), table aliases and other
syntax ``pg_stat_statements`` does not see, or the length of ``IN (...)`` lists,
``ARRAY[...]`` constructors and multi-row ``VALUES``.

Normalized text
    Placeholders are written ``$1``, ``$2``... numbered in order of appearance, like
    ``pg_stat_statements``; each use of the same bound parameter keeps one number. A folded
    list keeps its first element and writes the rest as ``/*, ... */`` (as PostgreSQL 18
    does), e.g. ``WHERE id IN ($1 /*, ... */)``. DML goes through sqlglot (PostgreSQL
    dialect; keywords upper case); utility statements (``BEGIN``, ``SET``, ``SHOW``,
    ``COPY``, DDL...) and texts sqlglot cannot parse go through a token-level normaliser
    (lower case), with ``parsed=False`` for the latter.

Literal values
    :func:`fingerprint_with_params` also returns the literal values in placeholder order
    (a folded list contributes all its elements): strings unquoted and unescaped, numbers
    as written (with their sign), ``true``/``false``, ``NULL`` as the text ``"NULL"``.
    Bound parameters have no value in the text: read them from the Bind message.

Agreement with pg_stat_statements (PostgreSQL 15)
    ``tests/analysis/sql/test_pg_agreement.py`` runs a varied workload (~150 texts) on a real
    server and compares partitions. Rewrites that make us agree with PostgreSQL's parse
    analysis: comments, case and ``public.`` ignored; table aliases, single-table
    qualifiers and output-column aliases dropped; redundant parentheses dropped (by
    operator precedence); ``INNER``/``OUTER``/``ASC`` noise dropped; ``GROUP BY 1`` and
    ``ORDER BY alias`` resolved to the output expression; ``BETWEEN`` expanded to
    ``>= AND <=``; ``= ANY(ARRAY[...])`` read as ``IN (...)``; ``NULL``/``TRUE`` constants
    (not ``IS NULL``) and negative numbers are placeholders. Known disagreements:

    * by design: ``IN``/``ARRAY``/``VALUES`` lists of any length are one group (PostgreSQL
      15 keeps lengths apart, and reads ``x IN (v)`` as ``x = v``);
    * by design: a statement with bound parameters and the same statement with literals
      are one group (PostgreSQL jumbles ``Param`` and ``Const`` nodes apart); ``$2 ... $1``
      and ``$1 ... $2`` are one group (placeholders are renumbered in text order);
    * by design: utility statements (``BEGIN``, ``SET``, ``SHOW``, DDL...) are normalised;
      PostgreSQL 15 hashes their raw text, so ``BEGIN``/``begin`` or ``SET x = 1``/``SET x
      = 2`` are separate entries there;
    * constant types: PostgreSQL keeps ``id = 1`` and ``id = 3000000000`` (int4/int8),
      ``total > 100`` and ``total > 250.5``, ``SELECT 1`` and ``SELECT 'a'`` apart; we do
      not type literals. It folds ``'5'::int`` into the same constant as ``5``; we keep the
      cast;
    * no catalog: ``SELECT *`` and the same columns listed, ``t.col`` and ``col`` in
      multi-table scopes, renamed subquery aliases, and coercions differing only in type
      modifier (``::varchar(10)``/``::varchar(20)``) are one entry there, two here;
    * sqlglot reads ``now()`` as ``CURRENT_TIMESTAMP``, and ``->`` with an integer or a
      text key alike: one group here, two there.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from understudy.sqlfp._slots import FOLDED, Rendered, render
from understudy.sqlfp._sqlglot import normalize_tree
from understudy.sqlfp._tokens import DML_KEYWORDS, first_keyword, normalize_tokens

__all__ = [
    "FOLDED",
    "UTILITY_TYPES",
    "Fingerprint",
    "fingerprint",
    "fingerprint_with_params",
]


def _words(text: str) -> list[str]:
    return text.split()


#: Statement types PostgreSQL handles as utility statements (not planned).
UTILITY_TYPES: Final = frozenset(
    _words(
        """
        BEGIN COMMIT ROLLBACK SAVEPOINT RELEASE PREPARE SET RESET SHOW COPY CREATE ALTER DROP
        TRUNCATE EXPLAIN VACUUM ANALYZE LOCK LISTEN NOTIFY UNLISTEN EXECUTE DEALLOCATE DISCARD
        FETCH MOVE CLOSE DECLARE GRANT REVOKE CALL DO COMMENT REFRESH REINDEX CLUSTER CHECKPOINT
        """
    )
)
_CACHE_SIZE: Final = 65_536
_BLANKS: Final = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """The identity of a statement shape.

    Attributes
    ----------
    fingerprint : str
        16 hex digits of a BLAKE2b-64 hash of ``normalized``.
    normalized : str
        Canonical SQL with ``$n`` placeholders.
    statement_type : str
        ``SELECT``, ``INSERT``, ``UPDATE``, ``DELETE``, ``BEGIN``, ``COMMIT``, ``ROLLBACK``,
        ``SET``, ``SHOW``, ``COPY``, ``CREATE``... ``EMPTY`` for blank text, else ``OTHER``.
    tables : tuple of str
        Tables referenced (sorted; ``schema.table`` unless the schema is ``public``).
    parsed : bool
        False when the token-level fallback stood in for a parser: sqlglot could not parse a
        DML text, or the text starts with no statement keyword PostgreSQL knows. Utility
        statements are normalised token by token by design and count as parsed.
    """

    fingerprint: str
    normalized: str
    statement_type: str
    tables: tuple[str, ...]
    parsed: bool


def fingerprint(sql: str, *, fold_lists: bool = True) -> Fingerprint:
    """Fingerprint one statement text. Never raises; cached on the text.

    Parameters
    ----------
    sql : str
        Statement text as sent by the client (simple Query or Parse message).
    fold_lists : bool, default True
        Fold ``IN`` lists, ``ARRAY[...]`` and ``VALUES`` rows. ``False`` gives the grouping
        ``pg_stat_statements`` (which does not fold) uses; for comparisons only.

    Returns
    -------
    Fingerprint

    Examples
    --------
    >>> a = fingerprint("select * from Users u where u.id in (1, 2, 3) -- app")
    >>> a.normalized
    'SELECT * FROM users WHERE id IN ($1 /*, ... */)'
    >>> b = fingerprint("/*traceparent='00-ab-cd-01'*/ SELECT * FROM users WHERE id IN ($1)")
    >>> a.fingerprint == b.fingerprint, a.statement_type, a.tables, a.parsed
    (True, 'SELECT', ('users',), True)
    """
    return _analyse(sql, fold_lists)[0]


def fingerprint_with_params(
    sql: str, *, fold_lists: bool = True
) -> tuple[Fingerprint, tuple[str, ...]]:
    """Fingerprint ``sql`` and return its literal values in placeholder order.

    Examples
    --------
    >>> fp, values = fingerprint_with_params(
    ...     "UPDATE t SET name = 'it''s', n = -2 WHERE id IN (7, 8)")
    >>> fp.normalized
    'UPDATE t SET name = $1, n = $2 WHERE id IN ($3 /*, ... */)'
    >>> values
    ("it's", '-2', '7', '8')
    """
    return _analyse(sql, fold_lists)


@lru_cache(maxsize=_CACHE_SIZE)
def _analyse(sql: str, fold_lists: bool) -> tuple[Fingerprint, tuple[str, ...]]:
    try:
        return _analyse_uncached(sql, fold_lists)
    except Exception:  # last resort: fingerprinting must never break recording or replay
        text = _BLANKS.sub(" ", str(sql)).strip()
        return _make(Rendered(text, ()), "OTHER", (), parsed=False), ()


def _analyse_uncached(sql: str, fold_lists: bool) -> tuple[Fingerprint, tuple[str, ...]]:
    if first_keyword(sql) in DML_KEYWORDS:
        tree = normalize_tree(sql, fold_lists=fold_lists)
        if tree is not None:
            rendered = render(tree.text, tree.slots)
            return _make(rendered, tree.statement_type, tree.tables, parsed=True), rendered.params
        parsed = False
    else:
        parsed = True
    tok = normalize_tokens(sql, fold_lists=fold_lists)
    rendered = render(tok.text, tok.slots)
    parsed = parsed and tok.statement_type != "OTHER"
    return _make(rendered, tok.statement_type, tok.tables, parsed=parsed), rendered.params


def _make(
    rendered: Rendered, statement_type: str, tables: tuple[str, ...], *, parsed: bool
) -> Fingerprint:
    digest = hashlib.blake2b(rendered.normalized.encode("utf-8", "surrogatepass"), digest_size=8)
    return Fingerprint(digest.hexdigest(), rendered.normalized, statement_type, tables, parsed)
