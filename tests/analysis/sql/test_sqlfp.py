"""Unit tests of understudy.sqlfp: what folds together, what stays apart, placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from understudy.sqlfp import FOLDED, Fingerprint, fingerprint, fingerprint_with_params
from understudy.sqlfp.golden import read_golden

GOLDEN = Path(__file__).resolve().parents[3] / "fixtures" / "sql" / "fingerprints.jsonl"
TP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def same(*sqls: str) -> None:
    fps = {fingerprint(s).fingerprint: fingerprint(s).normalized for s in sqls}
    assert len(fps) == 1, fps


def apart(*sqls: str) -> None:
    fps = [fingerprint(s).fingerprint for s in sqls]
    assert len(set(fps)) == len(fps), [fingerprint(s).normalized for s in sqls]


def test_fingerprint_shape() -> None:
    fp = fingerprint("SELECT 1")
    assert isinstance(fp, Fingerprint)
    assert len(fp.fingerprint) == 16 and int(fp.fingerprint, 16) >= 0
    with pytest.raises(AttributeError):
        fp.normalized = "x"  # type: ignore[misc]


def test_whitespace_case_and_comments_do_not_matter() -> None:
    same(
        "SELECT * FROM users WHERE id = 1",
        "select *\n\tfrom USERS where ID=2;",
        "SELECT /* hint */ * FROM users -- trailing\n WHERE id = 3",
        f"/*traceparent='{TP}'*/ SELECT * FROM users WHERE id = 4",
        f"SELECT * FROM users WHERE id = 5 /*action='show',traceparent='{TP}'*/",
    )


def test_literals_and_bound_parameters_become_placeholders() -> None:
    same(
        "SELECT * FROM t WHERE a = 1 AND b = 'x'",
        "SELECT * FROM t WHERE a = -7.5e3 AND b = E'y\\n'",
        "SELECT * FROM t WHERE a = $1 AND b = $2",
        "SELECT * FROM t WHERE a = $1 AND b = 'z'",
    )
    assert fingerprint("SELECT * FROM t WHERE a = 1 AND b = 'x'").normalized == (
        "SELECT * FROM t WHERE a = $1 AND b = $2"
    )


def test_placeholders_numbered_in_order_and_reused_parameters_keep_their_number() -> None:
    fp = fingerprint("SELECT * FROM t WHERE a = $2 AND b = $1 AND c = $2 AND d = 5")
    assert fp.normalized == "SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $1 AND d = $3"
    apart("SELECT * FROM t WHERE a = $1 OR b = $1", "SELECT * FROM t WHERE a = $1 OR b = $2")


@pytest.mark.parametrize("n", [1, 2, 3, 17, 200])
def test_in_lists_of_any_length_fold(n: int) -> None:
    items = ", ".join(str(i) for i in range(n))
    fp, params = fingerprint_with_params(f"SELECT * FROM t WHERE id IN ({items}) AND x = 'q'")
    assert fp.normalized == f"SELECT * FROM t WHERE id IN ($1 {FOLDED}) AND x = $2"
    assert params == (*[str(i) for i in range(n)], "q")


def test_in_lists_of_bound_parameters_fold_and_later_parameters_renumber() -> None:
    same(
        "SELECT * FROM t WHERE id IN ($1, $2) AND x = $3",
        "SELECT * FROM t WHERE id IN ($1, $2, $3, $4) AND x = $5",
        "SELECT * FROM t WHERE id = ANY(ARRAY[1, 2, 3]) AND x = 'a'",
    )
    apart("SELECT * FROM t WHERE id IN (1, 2)", "SELECT * FROM t WHERE id NOT IN (1, 2)")
    apart("SELECT * FROM t WHERE id IN (a, b)", "SELECT * FROM t WHERE id IN (1, 2)")


def test_multi_row_values_fold_and_keep_values_in_row_order() -> None:
    fp, params = fingerprint_with_params("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')")
    assert fp.normalized == f"INSERT INTO t (a, b) VALUES ($1, $2) {FOLDED}"
    assert params == ("1", "x", "2", "y", "3", "z")
    same("INSERT INTO t (a, b) VALUES (1, 'x')", "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)")
    apart("INSERT INTO t (a, b) VALUES (1, 'x')", "INSERT INTO t (a, b) VALUES (1, now())")


def test_fold_lists_false_keeps_lengths_apart_like_postgres() -> None:
    a = fingerprint("SELECT * FROM t WHERE id IN (1, 2)", fold_lists=False)
    b = fingerprint("SELECT * FROM t WHERE id IN (1, 2, 3)", fold_lists=False)
    assert a != b and a.normalized == "SELECT * FROM t WHERE id IN ($1, $2)"
    # PostgreSQL turns a one-element IN list into "="
    assert fingerprint("SELECT * FROM t WHERE id IN (1)", fold_lists=False) == fingerprint(
        "SELECT * FROM t WHERE id = 1", fold_lists=False
    )


def test_aliases_and_qualifiers_postgres_does_not_see() -> None:
    same(
        "SELECT * FROM users WHERE id = 1",
        "SELECT * FROM users u WHERE u.id = 1",
        "SELECT * FROM public.users AS x WHERE x.id = 1",
        'SELECT * FROM "users" WHERE "users"."id" = 1',
        "SELECT * FROM users WHERE (id = 1)",
    )
    same(
        "SELECT u.name, o.total FROM users u JOIN orders o ON o.uid = u.id",
        "SELECT users.name, orders.total FROM users INNER JOIN orders ON orders.uid = users.id",
    )
    same("SELECT count(*) AS n FROM t", "SELECT count(*) FROM t")
    same(
        "SELECT a AS x FROM t ORDER BY x",
        "SELECT a FROM t ORDER BY a",
        "SELECT a FROM t ORDER BY 1",
    )


def test_things_that_matter_stay_apart() -> None:
    apart('SELECT * FROM "Users"', "SELECT * FROM users")
    apart("SELECT * FROM t WHERE (a OR b) AND c", "SELECT * FROM t WHERE a OR b AND c")
    apart("SELECT (a + b) * c FROM t", "SELECT a + b * c FROM t")
    apart("SELECT * FROM t ORDER BY 1", "SELECT * FROM t ORDER BY 2")
    apart("SELECT x IS NULL FROM t", "SELECT x = NULL FROM t")
    apart("SELECT CAST(x AS varchar(10)) FROM t", "SELECT CAST(x AS varchar(20)) FROM t")
    apart(
        "SELECT * FROM t WHERE a = 1", "SELECT * FROM t WHERE a > 1", "SELECT * FROM u WHERE a = 1"
    )


def test_statement_types_and_tables() -> None:
    cases = {
        "WITH c AS (SELECT * FROM a) INSERT INTO b SELECT * FROM c": ("INSERT", ("a", "b")),
        "UPDATE s.t SET x = 1 FROM u WHERE u.id = t.id": ("UPDATE", ("s.t", "u")),
        "DELETE FROM t": ("DELETE", ("t",)),
        "begin": ("BEGIN", ()),
        "END": ("COMMIT", ()),
        "ROLLBACK TO SAVEPOINT a": ("ROLLBACK", ()),
        "SET x = 1": ("SET", ()),
        "SHOW ALL": ("SHOW", ()),
        "COPY t (a) FROM STDIN": ("COPY", ("t",)),
        "CREATE INDEX ON t (a)": ("CREATE", ()),
        "": ("EMPTY", ()),
        "!!!": ("OTHER", ()),
    }
    for sql, (kind, tables) in cases.items():
        fp = fingerprint(sql)
        assert (fp.statement_type, fp.tables) == (kind, tables), sql


def test_utility_statements_normalise_case_and_literals() -> None:
    same("BEGIN", "begin;", "  Begin  ")
    same("SET statement_timeout = 1000", "set statement_timeout = 2000")
    same("SET enable_seqscan = true", "SET enable_seqscan = FALSE")
    assert fingerprint_with_params("SET x TO 'a'")[1] == ("a",)


def test_unparseable_dml_falls_back_to_tokens() -> None:
    a = fingerprint("SELECT * FROM users WHERE id = 1 AND")
    b = fingerprint("select * from users where id = 2 and")
    assert a == b and not a.parsed
    assert a.normalized == "select * from users where id = $1 and"
    assert not fingerprint("SELEC 1").parsed
    assert fingerprint("BEGIN").parsed


def test_normalized_text_is_a_fixed_point() -> None:
    _, cases = read_golden(GOLDEN)
    unparsed = 0
    for case in cases:
        again = fingerprint(case["normalized"])
        if case["parsed"] and not again.parsed:
            unparsed += 1  # e.g. sqlglot cannot read a[$2:$3] back
            continue
        if case["parsed"] and case["statement_type"] not in ("EMPTY",):
            assert again.normalized == case["normalized"], case["sql"]
    assert unparsed <= 1


SQLISH = st.lists(
    st.sampled_from(
        [
            "SELECT", "FROM", "WHERE", "IN", "(", ")", ",", "'x'", "'", '"', "$1", "$$",
            "1", "-", "::", "/*", "*/", "--", "\n", "users", "VALUES", "ORDER BY", "AND",
            "INSERT INTO", "ARRAY[", "]", "E'\\'", "NULL", "=", ";", "WITH", "AS", "\x00",
        ]
    ),
    max_size=30,
).map(" ".join)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), SQLISH))
def test_fingerprint_never_raises(sql: str) -> None:
    fp, params = fingerprint_with_params(sql)
    assert len(fp.fingerprint) == 16
    assert all(isinstance(p, str) for p in params)
    assert fingerprint(sql) == fp
