"""Our grouping against pg_stat_statements on a real PostgreSQL 15.

Every workload text runs alone; after each, the pg_stat_statements row whose ``calls`` grew
names its queryid, so no marker is added to the statements. Two partitions are compared:

* the *model*: ``fingerprint(sql, fold_lists=False)`` plus "uses bound parameters", and the
  raw text for utility statements (PostgreSQL 15 hashes their text). It must equal
  PostgreSQL's partition up to the documented exceptions below.
* our real grouping: every pair it groups differently from PostgreSQL must be explained by
  list folding, parameters-vs-literals, utility normalisation, or a documented exception.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import psycopg
import pytest
from pg_workload import SCHEMA, WORKLOAD

from understudy.sqlfp import UTILITY_TYPES, fingerprint
from understudy.testing.postgres import PostgresServer

SNAPSHOT = (
    "SELECT queryid, calls FROM pg_stat_statements WHERE query NOT LIKE '%pg_stat_statements%'"
)

#: PostgreSQL groups these; we cannot (documented in understudy.sqlfp).
PG_MERGES = {
    ("pk-1", "cast-int"): "'5'::int folds into an int4 constant during parse analysis",
    ("derived-1", "derived-2"): "subquery aliases are not jumbled",
    ("typmod-10", "typmod-20"): "type modifiers of coercions are not jumbled",
    ("star", "star-cols"): "* expands to the column list (needs the catalog)",
}
#: PostgreSQL splits these; we group them (documented in understudy.sqlfp).
PG_SPLITS = {
    ("sub-1", "sub-dec"): "int4 vs numeric constant",
    ("const-1", "const-str"): "int4 vs text constant",
    ("pk-1", "const-big"): "int4 vs int8 constant",
    ("now-fn", "now-kw"): "sqlglot parses now() as CURRENT_TIMESTAMP",
}


def _run(pg: PostgresServer) -> dict[str, int]:
    ids: dict[str, int] = {}
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(SCHEMA)  # type: ignore[arg-type]
        conn.execute("SELECT pg_stat_statements_reset()")
        pgc = conn.pgconn

        def snapshot() -> dict[int, int]:
            res = pgc.exec_(SNAPSHOT.encode())
            return {
                int(res.get_value(i, 0) or 0): int(res.get_value(i, 1) or 0)
                for i in range(res.ntuples)
            }

        before = snapshot()
        for label, sql, params in WORKLOAD:
            if params is None:
                res = pgc.exec_(sql.encode())
            else:
                res = pgc.exec_params(sql.encode(), [p.encode() for p in params])
            assert res.status in (1, 2), f"{label}: {pgc.error_message.decode()}"
            after = snapshot()
            grown = [q for q, calls in after.items() if calls > before.get(q, 0)]
            assert len(grown) == 1, f"{label}: {len(grown)} pg_stat_statements rows grew"
            ids[label] = grown[0]
            before = after
    return ids


@pytest.fixture(scope="module")
def pg_ids() -> Iterator[dict[str, int]]:
    with PostgresServer.start() as pg:
        yield _run(pg)


TEXTS = {label: sql for label, sql, _ in WORKLOAD}
USES_PARAMS = {label: params is not None for label, _, params in WORKLOAD}


def _model(label: str) -> tuple[object, ...]:
    sql = TEXTS[label]
    fp = fingerprint(sql, fold_lists=False)
    if fp.statement_type in UTILITY_TYPES:
        return ("utility", sql.strip().rstrip(";"))
    return (fp.fingerprint, USES_PARAMS[label])


def _partition(key: dict[str, object], merges: list[tuple[str, str]]) -> set[frozenset[str]]:
    """Partition labels by ``key``, then union the groups of each pair in ``merges``."""
    parent = {label: label for label in key}

    def find(x: str) -> str:
        while parent[x] != x:
            x = parent[x]
        return x

    for a, b in itertools.combinations(key, 2):
        if key[a] == key[b]:
            parent[find(a)] = find(b)
    for a, b in merges:
        parent[find(a)] = find(b)
    groups: dict[str, set[str]] = {}
    for label in key:
        groups.setdefault(find(label), set()).add(label)
    return {frozenset(g) for g in groups.values()}


def test_workload_labels_are_unique() -> None:
    assert len(TEXTS) == len(WORKLOAD)


def test_documented_exceptions_still_happen(pg_ids: dict[str, int]) -> None:
    for a, b in PG_MERGES:
        assert pg_ids[a] == pg_ids[b] and _model(a) != _model(b), (a, b)
    for a, b in PG_SPLITS:
        assert pg_ids[a] != pg_ids[b] and _model(a) == _model(b), (a, b)


def test_model_partition_equals_pg_stat_statements(pg_ids: dict[str, int]) -> None:
    model = {label: _model(label) for label in TEXTS}
    ours = _partition(dict(model), list(PG_MERGES))
    theirs = _partition(dict(pg_ids), list(PG_SPLITS))
    only_ours = sorted(sorted(g) for g in ours - theirs)
    only_theirs = sorted(sorted(g) for g in theirs - ours)
    assert only_ours == only_theirs == [], (
        f"groups only in our model: {only_ours}\ngroups only in pg_stat_statements: {only_theirs}"
    )


def _reason(a: str, b: str) -> str | None:
    folded = fingerprint(TEXTS[a]) == fingerprint(TEXTS[b])
    unfolded = fingerprint(TEXTS[a], fold_lists=False) == fingerprint(TEXTS[b], fold_lists=False)
    if folded != unfolded:
        return "list folding"
    if USES_PARAMS[a] != USES_PARAMS[b]:
        return "bound parameters vs literals"
    if {fingerprint(TEXTS[x]).statement_type for x in (a, b)} <= UTILITY_TYPES:
        return "utility statements normalised"
    return None


def test_ours_differs_from_the_model_only_by_design() -> None:
    """Our grouping = the model + folding, parameter/literal merging, utility normalising.

    With the model test above, every disagreement with pg_stat_statements is explained.
    """
    unexplained = [
        (a, b)
        for a, b in itertools.combinations(TEXTS, 2)
        if (_model(a) == _model(b)) != (fingerprint(TEXTS[a]) == fingerprint(TEXTS[b]))
        and _reason(a, b) is None
    ]
    assert unexplained == []
