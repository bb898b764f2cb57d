"""Vectorised pre-normalisation: shapes never coarser than fingerprints, results exact."""

from __future__ import annotations

import random
import re
from pathlib import Path

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from pg_workload import WORKLOAD

from analysis.sql import sql_canonical, sql_shape, with_fingerprints
from understudy.sqlfp import fingerprint
from understudy.sqlfp.golden import read_golden

GOLDEN = Path(__file__).resolve().parents[3] / "fixtures" / "sql" / "fingerprints.jsonl"
STRINGS = [
    "'x'",
    "'it''s'",
    "'-- no'",
    "'/* no */'",
    "'a\"b'",
    "'SELECT'",
    "''",
    "'ÄÖ'",
    "'1'",
    "'$1'",
]
NUMBERS = ["0", "7", "-3", "1.5", "2e3", ".5", "3000000000", "42", "1E3"]


def corpus(copies: int = 8, seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    _, golden = read_golden(GOLDEN)
    base = [sql for _, sql, _ in WORKLOAD] + [c["sql"] for c in golden]
    out = list(base)
    for sql in base:
        for _ in range(copies):
            s = re.sub(r"'(?:[^']|'')*'", lambda _: rng.choice(STRINGS), sql)
            s = re.sub(r"(?<![\w$.])\d+(?:\.\d+)?(?![\w.])", lambda _: rng.choice(NUMBERS), s)
            if rng.random() < 0.3:
                s = s.upper() if rng.random() < 0.5 else s.lower()
            if rng.random() < 0.3:
                s = s.replace(" ", "  \n\t")
            if rng.random() < 0.3:
                tp = f"00-{rng.getrandbits(128):032x}-{rng.getrandbits(64):016x}-01"
                s = f"/*traceparent='{tp}'*/ {s}"
            out.append(s)
    return out


def assert_shapes_not_coarser(sqls: list[str]) -> pl.DataFrame:
    df = pl.DataFrame({"sql": sqls}).with_columns(sql_shape().alias("shape"))
    df = df.with_columns(pl.Series("fp", [fingerprint(s).fingerprint for s in sqls]))
    coarse = (
        df.group_by("shape").agg(pl.col("fp").n_unique().alias("n"), "sql").filter(pl.col("n") > 1)
    )
    assert coarse.height == 0, coarse.rows()[:3]
    return df


def test_shapes_never_group_texts_with_different_fingerprints() -> None:
    df = assert_shapes_not_coarser(corpus())
    assert df["shape"].n_unique() < df.height / 4  # and they do compress


def test_with_fingerprints_matches_each_row() -> None:
    sqls = corpus(copies=3, seed=11)
    out = with_fingerprints(pl.LazyFrame({"sql": sqls})).collect()
    assert out["fingerprint"].to_list() == [fingerprint(s).fingerprint for s in sqls]
    assert out["normalized"].to_list() == [fingerprint(s).normalized for s in sqls]
    assert out["tables"].to_list() == [list(fingerprint(s).tables) for s in sqls]


def test_a_wrong_shape_is_caught_and_each_text_fingerprinted() -> None:
    sqls = ["SELECT 1", "SELECT * FROM t", "BEGIN", "SELECT 2"]
    lf = pl.LazyFrame({"sql": sqls, "bad_shape": ["same"] * 4})
    out = with_fingerprints(lf, shape="bad_shape").collect()
    assert out["fingerprint"].to_list() == [fingerprint(s).fingerprint for s in sqls]
    assert "bad_shape" in out.columns


def test_canonical_keeps_values_and_drops_comments() -> None:
    df = pl.DataFrame({"sql": ["SELECT 1 /* a */", "SELECT  1 -- b", "SELECT 2"]})
    canon = df.select(sql_canonical()).to_series()
    assert canon[0] == canon[1] != canon[2]


def test_utility_and_unparseable_texts_shape_like_their_fingerprints() -> None:
    assert_shapes_not_coarser(
        [
            "SET enable_seqscan = true", "SET enable_seqscan = false", "SET x TO 'a'",
            "CREATE TABLE t (a int NOT NULL DEFAULT NULL)",
            "create table t (a int not null default 5)",
            "SELECT * FROM t WHERE a = NULL AND", "SELECT * FROM t WHERE a = TRUE AND",
            "SELECT * FROM t WHERE a IS NULL AND", "SELECT * FROM t WHERE a IS TRUE AND",
            "COPY t FROM STDIN", "VACUUM t", "SAVEPOINT s1", "SAVEPOINT s2",
        ]
    )  # fmt: skip


def test_unlexable_text_keeps_its_raw_shape() -> None:
    sqls = ["SELECT $$a$$", "SELECT $$b$$", "SELECT E'x\\'y'", "SELECT E'z'"]
    shapes = pl.DataFrame({"sql": sqls}).select(sql_shape()).to_series().to_list()
    assert len(set(shapes)) == 4


SQL_PIECES = st.sampled_from(
    [
        "SELECT", "select", "*", "a", "t1", '"A"', '"a b"', "FROM", "t", "WHERE", "=", "IN",
        "(", ")", ",", "1", "-2", "3.5", "'x'", "'y''z'", "$1", "$2", "NULL", "TRUE", "IS",
        "NOT", "ORDER BY", "GROUP BY", "LIMIT", "VALUES", "INSERT INTO", "ARRAY[", "]",
        "::varchar(5)", "--c\n", "/* c */", "\n", "AND", "OR", "x.y", "->", "'k'", ";",
        "SET x =", "BEGIN", "CREATE TABLE", "DEFAULT", "FALSE",
    ]
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(SQL_PIECES, min_size=1, max_size=14).map(" ".join), min_size=2, max_size=12)
)
def test_fuzzed_texts_shapes_not_coarser(sqls: list[str]) -> None:
    # each text also appears with other literal values, so coarse shapes would show
    variants = [re.sub(r"\b1\b", "9", s).replace("'x'", "'w'") for s in sqls]
    assert_shapes_not_coarser(sqls + variants)
