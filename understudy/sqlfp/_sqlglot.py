"""The sqlglot adapter: the only module of understudy that imports sqlglot.

sqlglot is pinned to a minor range in ``pyproject.toml``; the golden fixtures in
``fixtures/sql/fingerprints.jsonl`` break loudly when an upgrade changes any output.

:func:`normalize_tree` parses DML (``SELECT``/``WITH``/``INSERT``/``UPDATE``/``DELETE``/
``VALUES``/``TABLE``) with the PostgreSQL dialect and rewrites the tree towards what
``pg_stat_statements`` jumbles: comments dropped, identifiers case-folded, ``public.``
dropped, table aliases replaced by the table name when unambiguous, qualifiers dropped in
single-table scopes, unreferenced output aliases dropped, redundant parentheses dropped,
``INNER``/``OUTER`` and ``ASC`` noise words dropped, literals and ``$n`` replaced by slot
markers, and lists of same-shaped elements folded. It returns ``None`` whenever sqlglot
cannot give a faithful tree; the caller then uses the token-level normaliser.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import sqlglot
from sqlglot import TokenType, exp

from understudy.sqlfp._slots import SlotTable, marker_values, neutral
from understudy.sqlfp._tokens import unquote_ok

__all__ = ["SQLGLOT_VERSION", "TreeResult", "normalize_tree"]

DIALECT: Final = "postgres"

# sqlglot logs a warning for every statement it can only keep as an opaque Command; we
# route those to the token normaliser ourselves, so the warnings are noise.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

_STATEMENTS: Final = (exp.Query, exp.Insert, exp.Update, exp.Delete, exp.Values)
_SCOPES: Final = (exp.Select, exp.Update, exp.Delete)
_STRINGISH: Final = (
    exp.BitString, exp.HexString, exp.ByteString, exp.National, exp.UnicodeString, exp.RawString,
)  # fmt: skip
_ATOMS: Final = (
    exp.Column, exp.Literal, exp.Parameter, exp.Var, exp.Func, exp.Paren, exp.Subquery,
    exp.Null, exp.Boolean, exp.Star,
)  # fmt: skip
_STRING_TOKENS: Final = frozenset(
    {
        TokenType.STRING, TokenType.NATIONAL_STRING, TokenType.BIT_STRING,
        TokenType.HEX_STRING, TokenType.BYTE_STRING, TokenType.RAW_STRING,
        TokenType.NATIONAL_RAW_STRING, TokenType.UNICODE_STRING, TokenType.HEREDOC_STRING,
    }
)  # fmt: skip
#: Operator classes (some are also ``exp.Func`` subclasses in sqlglot).
_OPERATORS: Final = (exp.Binary, exp.Unary, exp.Predicate, exp.Connector)
#: Function-like nodes whose generated SQL relies on a parenthesised argument.
_PAREN_FUNCS: Final = (exp.Any, exp.All, exp.Exists)
#: Binding strength of operators, after PostgreSQL's precedence table (higher binds tighter).
_PRECEDENCE: Final[tuple[tuple[int, tuple[type[exp.Expr], ...]], ...]] = (
    (1, (exp.Or,)), (2, (exp.And,)), (3, (exp.Not,)), (4, (exp.Is,)),
    (5, (exp.EQ, exp.NEQ, exp.LT, exp.LTE, exp.GT, exp.GTE)),
    (6, (exp.Between, exp.In, exp.Like, exp.ILike, exp.SimilarTo)),
    (7, (exp.DPipe,)), (8, (exp.Add, exp.Sub)), (9, (exp.Mul, exp.Div, exp.Mod)),
    (10, (exp.Pow,)), (11, (exp.Neg,)),
)  # fmt: skip
_LEFT_ASSOCIATIVE: Final = frozenset({1, 2, 7, 8, 9})
#: Parents under which a parenthesised expression never needs its parentheses.
_NEUTRAL_PARENTS: Final = (
    exp.Where, exp.Having, exp.Select, exp.Ordered, exp.Group, exp.Join, exp.Alias, exp.Paren,
    exp.Cast, exp.Anonymous, exp.Limit, exp.If, exp.Case, exp.Tuple,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class TreeResult:
    """Marker text of the rewritten tree(s), slot values, statement type and tables."""

    text: str
    slots: SlotTable
    statement_type: str
    tables: tuple[str, ...]


def normalize_tree(sql: str, *, fold_lists: bool = True) -> TreeResult | None:
    """Normalise DML ``sql`` through sqlglot, or ``None`` when that is not faithful."""
    if "\x00" in sql:
        return None
    try:
        trees = sqlglot.parse(sql, read=DIALECT)
        statements = [t for t in trees if t is not None]
        if not statements or not all(isinstance(t, _STATEMENTS) for t in statements):
            return None
        if any(t.find(exp.Command) is not None for t in statements):
            return None
        if not _strings_stay_values(sql, statements):
            return None
        slots = SlotTable()
        texts = [_rewrite(t, slots, fold_lists) for t in statements]
        tables = sorted({name for t in statements for name in _tables(t)})
        return TreeResult("; ".join(texts), slots, _statement_type(statements[0]), tuple(tables))
    except Exception:  # sqlglot raises ParseError, TokenError, ValueError, RecursionError...
        return None


def _strings_stay_values(sql: str, trees: list[exp.Expr]) -> bool:
    """Every string literal of the text is a value in the trees, never a name.

    sqlglot accepts ``INSERT INTO 'x'`` or ``AS 'alias'`` (not PostgreSQL): the string then
    becomes an identifier, and two texts differing only in it would differ in structure.
    """
    tokens = sum(t.token_type in _STRING_TOKENS for t in sqlglot.tokenize(sql, read=DIALECT))
    values = sum(
        1
        for tree in trees
        for node in tree.find_all(exp.Literal, exp.JSONPathKey, *_STRINGISH)
        if not isinstance(node, exp.Literal) or node.is_string
    )
    return values >= tokens  # numbers may become JSON path keys too (``-> 2e3``)


def _rewrite(tree: exp.Expr, slots: SlotTable, fold_lists: bool) -> str:
    for node in tree.walk():
        node.comments = None
    _identifiers(tree)
    _aliases(tree)
    _qualifiers(tree)
    _output_aliases(tree)
    _noise_words(tree)
    _between(tree)
    _parens(tree)
    _ordinals(tree)
    _in_lists(tree, fold_lists)
    _literals(tree, slots)
    if fold_lists:
        _fold_lists(tree, slots)
    return tree.sql(dialect=DIALECT, comments=True)


# -- names -------------------------------------------------------------------------------


def _identifiers(tree: exp.Expr) -> None:
    for ident in tree.find_all(exp.Identifier):
        name = ident.name
        if not ident.quoted:
            ident.set("this", name.lower())
        elif unquote_ok(name):
            ident.set("quoted", False)
    for node in tree.find_all(exp.Table, exp.Column):
        if node.args.get("db") and node.text("db") == "public" and not node.args.get("catalog"):
            node.set("db", None)


def _named_tables(tree: exp.Expr) -> Iterator[exp.Table]:
    for table in tree.find_all(exp.Table):
        if isinstance(table.this, exp.Identifier):
            yield table


def _aliases(tree: exp.Expr) -> None:
    """``FROM users u ... u.id`` -> ``FROM users ... users.id`` when nothing is ambiguous."""
    tables = list(_named_tables(tree))
    per_table = Counter((t.db, t.name) for t in tables)
    alias_uses = Counter(a.name for a in tree.find_all(exp.TableAlias))
    names = {t.name for t in tables}
    for table in tables:
        alias = table.args.get("alias")
        if not isinstance(alias, exp.TableAlias) or alias.args.get("columns"):
            continue
        a = alias.name
        if per_table[(table.db, table.name)] != 1 or alias_uses[a] != 1:
            continue
        if a != table.name and (a in names or alias_uses[table.name]):
            continue
        for col in tree.find_all(exp.Column):
            if col.table == a and not col.args.get("db"):
                col.set("table", table.this.copy())
        table.set("alias", None)


def _sources(scope: exp.Expr) -> list[exp.Expr]:
    out: list[exp.Expr] = []
    if isinstance(scope, (exp.Update, exp.Delete)):
        out.append(scope.this)
        out += list(scope.args.get("using") or [])
    source = scope.args.get("from_") or scope.args.get("from")
    if isinstance(source, exp.From):
        out.append(source.this)
    out += [j.this for j in scope.args.get("joins") or []]
    return out


def _qualifiers(tree: exp.Expr) -> None:
    """Drop ``users.`` from ``users.id`` where ``users`` is the only source of the scope."""
    for scope in list(tree.find_all(*_SCOPES)):
        sources = _sources(scope)
        if len(sources) != 1:
            continue
        only = sources[0]
        if not isinstance(only, exp.Table) or only.args.get("alias"):
            continue
        if not isinstance(only.this, exp.Identifier):
            continue
        for col in scope.find_all(exp.Column):
            mine = col.find_ancestor(*_SCOPES) is scope
            if mine and col.table == only.name and not col.args.get("db"):
                col.set("table", None)


def _output_aliases(tree: exp.Expr) -> None:
    """Drop output-column aliases of the outermost query (pg_stat_statements ignores them)."""
    if isinstance(tree, (exp.Insert, exp.Update, exp.Delete)):
        returning = tree.args.get("returning")
        if isinstance(returning, exp.Returning):
            for item in list(returning.expressions):
                if isinstance(item, exp.Alias):
                    item.replace(item.this)
        return
    if not isinstance(tree, exp.Select):
        return
    aliased = {a.alias: a.this for a in tree.expressions if isinstance(a, exp.Alias)}
    order = tree.args.get("order")
    if isinstance(order, exp.Order):
        for ordered in order.expressions:
            col = ordered.this
            if isinstance(col, exp.Column) and not col.table and col.name in aliased:
                ordered.set("this", aliased[col.name].copy())
    used: set[str] = set()
    for key in ("group", "having", "qualify", "order"):
        part = tree.args.get(key)
        if isinstance(part, exp.Expr):
            used |= {c.name for c in part.find_all(exp.Column) if not c.table}
    for item in list(tree.expressions):
        if isinstance(item, exp.Alias) and item.alias not in used:
            item.replace(item.this)


def _ordinals(tree: exp.Expr) -> None:
    """``GROUP BY 1`` / ``ORDER BY 1`` -> the first output expression, as PostgreSQL does."""
    for select in tree.find_all(exp.Select):
        outputs = select.expressions
        if any(
            isinstance(o, exp.Star) or (isinstance(o, exp.Column) and o.is_star) for o in outputs
        ):
            continue
        group = select.args.get("group")
        order = select.args.get("order")
        refs: list[exp.Expr] = list(group.expressions) if isinstance(group, exp.Group) else []
        if isinstance(order, exp.Order):
            refs += [o.this for o in order.expressions if isinstance(o, exp.Ordered)]
        for ref in refs:
            if isinstance(ref, exp.Literal) and not ref.is_string and ref.name.isdigit():
                pos = int(ref.name)
                if 1 <= pos <= len(outputs):
                    out = outputs[pos - 1]
                    ref.replace((out.this if isinstance(out, exp.Alias) else out).copy())


def _in_lists(tree: exp.Expr, fold_lists: bool) -> None:
    """``x = ANY(ARRAY[a, b])`` is ``x IN (a, b)`` to PostgreSQL; ``x IN (a)`` is ``x = a``."""
    for eq in list(tree.find_all(exp.EQ)):
        any_ = eq.expression
        array = any_.this.unnest() if isinstance(any_, exp.Any) else None
        if isinstance(array, exp.Array) and not array.find(exp.Column, exp.Query):
            items = [e.copy() for e in array.expressions]
            if fold_lists or len(items) > 1:
                eq.replace(exp.In(this=eq.this.copy(), expressions=items))
    if not fold_lists:
        for in_ in list(tree.find_all(exp.In)):
            items = in_.expressions
            if len(items) == 1 and not in_.args.get("query"):
                in_.replace(exp.EQ(this=in_.this.copy(), expression=items[0].copy()))


# -- syntax noise ------------------------------------------------------------------------


def _noise_words(tree: exp.Expr) -> None:
    for join in tree.find_all(exp.Join):
        if join.args.get("kind") in ("INNER", "OUTER"):
            join.set("kind", None)
    for ordered in tree.find_all(exp.Ordered):
        if ordered.args.get("desc") is False:
            ordered.set("desc", None)


def _between(tree: exp.Expr) -> None:
    """``x BETWEEN a AND b`` is ``(x >= a AND x <= b)`` to PostgreSQL (NOT: ``<`` OR ``>``)."""
    for node in list(tree.find_all(exp.Between)):
        if node.args.get("symmetric"):
            continue
        x, low, high = node.this, node.args["low"], node.args["high"]
        target: exp.Expr = node
        if isinstance(node.parent, exp.Not):
            target = node.parent
            cond: exp.Expr = exp.Or(
                this=exp.LT(this=x.copy(), expression=low.copy()),
                expression=exp.GT(this=x.copy(), expression=high.copy()),
            )
        else:
            cond = exp.And(
                this=exp.GTE(this=x.copy(), expression=low.copy()),
                expression=exp.LTE(this=x.copy(), expression=high.copy()),
            )
        target.replace(exp.Paren(this=cond))


def _precedence(node: exp.Expr) -> int | None:
    for level, classes in _PRECEDENCE:
        if isinstance(node, classes):
            return level
    return None


def _is_plain_func(node: exp.Expr) -> bool:
    return isinstance(node, exp.Func) and not isinstance(node, _OPERATORS)


def _is_atom(node: exp.Expr) -> bool:
    if isinstance(node, exp.Paren):
        return True
    return isinstance(node, _ATOMS) and not isinstance(node, _OPERATORS)


def _parens(tree: exp.Expr) -> None:
    """Drop parentheses that do not change the parse tree PostgreSQL builds."""
    for paren in list(tree.find_all(exp.Paren)):
        inner, parent = paren.this, paren.parent
        if parent is None or isinstance(parent, (exp.Bracket, exp.Dot)):
            continue
        outer = _precedence(parent)
        own = _precedence(inner)
        if outer is None:
            drop = isinstance(parent, _NEUTRAL_PARENTS) or (
                _is_plain_func(parent) and not isinstance(parent, _PAREN_FUNCS)
            )
        else:
            drop = _is_atom(inner) or (own is not None and own > outer)
            # left operand of a left-associative operator of the same strength: (a + b) + c
            drop = drop or (
                own == outer
                and outer in _LEFT_ASSOCIATIVE
                and isinstance(parent, exp.Binary)
                and paren.arg_key == "this"
            )
        if drop:
            paren.replace(inner)


# -- literals ----------------------------------------------------------------------------


def _is_ordinal(lit: exp.Literal) -> bool:
    parent = lit.parent
    if lit.is_string or parent is None or not lit.name.isdigit():
        return False
    if isinstance(parent, exp.Group):
        return True
    order = parent.parent if isinstance(parent, exp.Ordered) else None
    return isinstance(order, exp.Order) and not isinstance(order.parent, exp.Window)


def _slot_for(node: exp.Expr, slots: SlotTable) -> exp.Expr | None:
    """The marker replacing ``node``, or ``None`` to keep it (and visit its children)."""
    parent = node.parent
    number = node.this if isinstance(node, exp.Parameter) else None
    if isinstance(number, exp.Literal) and not number.is_string and number.name.isdigit():
        return exp.Var(this=SlotTable.param(int(number.name)))
    if isinstance(node, exp.Literal) and not _is_ordinal(node):
        value = node.name
        if isinstance(parent, exp.Bracket) and not node.is_string and value.isdigit():
            value = str(int(value) + 1)  # sqlglot stores PostgreSQL subscripts 0-based
        return exp.Var(this=slots.literal(value))
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and node.this.is_number:
        return exp.Var(this=slots.literal("-" + node.this.name))
    if isinstance(node, exp.Boolean) and not isinstance(parent, exp.Is):
        return exp.Var(this=slots.literal("true" if node.this else "false"))
    if isinstance(node, exp.Null) and not isinstance(parent, exp.Is):
        return exp.Var(this=slots.literal("NULL"))
    if isinstance(node, _STRINGISH):
        return exp.Var(this=slots.literal(node.name))
    if isinstance(node, exp.Interval) and isinstance(node.this, exp.Literal):
        unit = node.args.get("unit")
        value = f"{node.this.name} {unit.sql(dialect=DIALECT).lower()}" if unit else node.this.name
        marker = exp.Var(this=slots.literal(value))
        return exp.Cast(this=marker, to=exp.DataType.build("interval"))
    return None


def _literals(node: exp.Expr, slots: SlotTable) -> None:
    if isinstance(node, exp.DataType):
        for lit in node.find_all(exp.Literal):  # type modifiers stay, spelled one way
            lit.set("this", lit.name.lower())
        return
    if isinstance(node, (exp.JSONExtract, exp.JSONExtractScalar)):
        path = node.expression
        if isinstance(path, exp.JSONPath) and len(path.expressions) == 2:
            step = path.expressions[1]
            if isinstance(step, (exp.JSONPathKey, exp.JSONPathSubscript)):
                node.set("expression", exp.Var(this=slots.literal(str(step.this))))
    replacement = _slot_for(node, slots)
    if replacement is not None:
        node.replace(replacement)
        return
    for child in list(node.iter_expressions()):
        _literals(child, slots)


def _fold_lists(tree: exp.Expr, slots: SlotTable) -> None:
    """Fold IN lists, ARRAY[...] and VALUES rows whose elements differ only in values."""
    lists = [
        n
        for n in tree.find_all(exp.In, exp.Values, exp.Array)
        if not (isinstance(n, exp.Array) and any(isinstance(e, exp.Query) for e in n.expressions))
    ]
    for node in reversed(lists):  # innermost first
        items = list(node.expressions)
        if not items:
            continue
        key = neutral(items[0].sql(dialect=DIALECT, comments=False))
        if any(neutral(i.sql(dialect=DIALECT, comments=False)) != key for i in items[1:]):
            continue
        extra: list[str] = []
        for item in items[1:]:
            extra += marker_values(item.sql(dialect=DIALECT, comments=True), slots)
            item.pop()
        items[0].add_comments([slots.folded(tuple(extra))])


# -- facts -------------------------------------------------------------------------------


def _statement_type(tree: exp.Expr) -> str:
    if isinstance(tree, exp.Insert):
        return "INSERT"
    if isinstance(tree, exp.Update):
        return "UPDATE"
    if isinstance(tree, exp.Delete):
        return "DELETE"
    return "SELECT"


def _tables(tree: exp.Expr) -> Iterator[str]:
    ctes = {cte.alias for cte in tree.find_all(exp.CTE)}
    for table in _named_tables(tree):
        if table.db:
            yield f"{table.db}.{table.name}"
        elif table.name not in ctes:
            yield table.name


#: The sqlglot version in use (recorded in the golden fixtures).
SQLGLOT_VERSION: Final = str(getattr(sqlglot, "__version__", "unknown"))
