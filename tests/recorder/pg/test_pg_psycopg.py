"""psycopg 3 through the relay: extended protocol, pipelines, binary, prepared, notices."""

from __future__ import annotations

import polars as pl
import psycopg
import pytest
from pg_relay_helpers import REDACTOR, assert_matches_pgss, new_database, tape_bytes_contain


def one(df: pl.DataFrame, pattern: str) -> dict:
    found = df.filter(pl.col("sql").str.contains(pattern, literal=True))
    assert found.height == 1, (pattern, found["sql"].to_list())
    return found.row(0, named=True)


def test_psycopg_workload(pg, record):
    db = new_database(pg, "psycopg_work")
    rec = record()
    with psycopg.connect(rec.dsn(db), autocommit=True) as conn:
        conn.execute("CREATE TABLE t (id int PRIMARY KEY, name text, score float8)")
        conn.execute("SELECT %s::int + 1 AS answer /* plain */", (41,))
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO t (id, name, score) VALUES (%s, %s, %s)",
                [(i, f"n{i}", i / 2) for i in range(5)],
            )
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT id, name, score FROM t WHERE id < %b ORDER BY id", (2,))
            assert cur.fetchall() == [(0, "n0", 0.0), (1, "n1", 0.5)]
        with conn.pipeline():
            conn.execute("UPDATE t SET score = score + 1 WHERE id = %s", (1,))
            conn.execute("SELECT count(*) AS pipelined FROM t")
        conn.execute("DO $$BEGIN RAISE NOTICE 'hello from plpgsql'; END$$")
        with pytest.raises(psycopg.errors.DivisionByZero):
            with conn.transaction():
                conn.execute("INSERT INTO t (id, name) VALUES (%s, %s)", (100, "gone"))
                conn.execute("SELECT 1/0 AS boom")
        assert conn.execute("SELECT count(*) FROM t AS after_error").fetchone() == (5,)
    df = rec.stop()
    # psycopg sends statements without parameters (BEGIN, DDL) as simple queries
    assert (df.filter(pl.col("sql").str.contains(r"\$\d"))["protocol"] == "extended").all()
    assert (df["tx_status"].is_not_null()).all()
    row = one(df, "AS answer")
    assert row["sql"] == "SELECT $1::int + 1 AS answer /* plain */"
    assert row["params"] == ["41"] and row["result_rows"] == [[b"42"]]
    assert row["statement_name"] == "" and row["portal_name"] == ""
    inserts = df.filter(pl.col("sql").str.starts_with("INSERT INTO t (id, name, score)"))
    params = inserts["params"].to_list()
    assert [(int(a), b, float(c)) for a, b, c in params] == [(i, f"n{i}", i / 2) for i in range(5)]
    assert (inserts["command_tag"] == "INSERT 0 1").all() and (inserts["rows"] == 1).all()
    binary = one(df, "WHERE id < $1")
    assert binary["params"] == ["2"] and binary["param_formats"] == [1]
    assert binary["result_formats"] == [1, 1, 1]
    assert binary["columns"] == [
        {"name": "id", "type_oid": 23},
        {"name": "name", "type_oid": 25},
        {"name": "score", "type_oid": 701},
    ]
    assert binary["result_rows"] == [
        [b"\0\0\0\0", b"n0", b"\0" * 8],
        [b"\0\0\0\1", b"n1", bytes.fromhex("3fe0000000000000")],
    ]
    assert one(df, "AS pipelined")["result_rows"] == [[b"5"]]
    assert one(df, "RAISE NOTICE")["command_tag"] == "DO"
    boom = one(df, "AS boom")
    assert boom["sqlstate"] == "22012" and boom["tx_status"] == "failed"
    assert one(df, "VALUES ($1, $2)")["tx_status"] == "in_transaction"
    assert one(df, "AS after_error")["tx_status"] == "idle"
    assert_matches_pgss(pg, db, df, " t ")


def test_pipeline_error_skips_the_rest_of_the_pipeline(pg, record):
    db = new_database(pg, "psycopg_pipe")
    rec = record()
    with psycopg.connect(rec.dsn(db), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.DivisionByZero), conn.pipeline():
            conn.execute("SELECT %s::int AS first", (1,))
            conn.execute("SELECT 1/%s AS second", (0,))
            conn.execute("SELECT %s::int AS third", (3,))
            conn.execute("SELECT %s::int AS fourth", (4,))
        assert conn.execute("SELECT 'after' AS fifth").fetchone() == ("after",)
    df = rec.stop()
    assert df.select("sql", "sqlstate").rows() == [
        ("SELECT $1::int AS first", None),
        ("SELECT 1/$1 AS second", "22012"),
        ("SELECT 'after' AS fifth", None),
    ]
    assert_matches_pgss(pg, db, df)


def test_prepared_statements_keep_their_text(pg, record):
    db = new_database(pg, "psycopg_prep")
    rec = record()
    with psycopg.connect(rec.dsn(db), autocommit=True, prepare_threshold=0) as conn:
        for i in range(3):
            conn.execute("SELECT %s::int * 2 AS doubled", (i,))
        conn.execute("DEALLOCATE ALL")
        conn.execute("SELECT %s::int * 2 AS doubled", (9,))
    df = rec.stop()
    doubled = df.filter(pl.col("sql").str.contains("doubled"))
    assert doubled["sql"].unique().to_list() == ["SELECT $1::int * 2 AS doubled"]
    assert doubled["params"].to_list() == [["0"], ["1"], ["2"], ["9"]]
    assert [r[0] for r in doubled["result_rows"].to_list()] == [[b"0"], [b"2"], [b"4"], [b"18"]]
    names = doubled["statement_name"].to_list()
    assert all(n.startswith("_pg3_") for n in names) and len(set(names[:3])) == 1
    assert_matches_pgss(pg, db, df, "doubled")


def test_listen_notify_interleaves(pg, record):
    rec = record()
    with (
        psycopg.connect(rec.dsn(), autocommit=True) as listener,
        psycopg.connect(rec.dsn(), autocommit=True) as sender,
    ):
        listener.execute("LISTEN chan")
        sender.execute("NOTIFY chan, 'ping'")
        sender.execute("SELECT pg_notify('chan', 'pong')")
        assert listener.execute("SELECT 7 AS after_notify").fetchone() == (7,)
        got = [n.payload for n in listener.notifies(timeout=2, stop_after=2)]
        assert got == ["ping", "pong"]
    df = rec.stop()
    assert df["error"].is_null().all() and df["sqlstate"].is_null().all()
    assert df.filter(pl.col("sql").str.contains("after_notify"))["result_rows"].to_list() == [
        [[b"7"]]
    ]
    assert df.height == 4


def test_secrets_are_pseudonymised(pg, record):
    db = new_database(pg, "secrets")
    secret1, secret2, secret3, token = "hunter2-Xq9", "s3cr3t-Zz7", "lit-pw-Kk3", "tok-Yy5"
    rec = record()
    with psycopg.connect(rec.dsn(db), autocommit=True) as conn:
        conn.execute("CREATE TABLE users (id int, name text, password text, api_token text)")
        conn.execute(
            "INSERT INTO users (id, name, password, api_token) VALUES (%s, %s, %s, %s)",
            (1, "alice", secret1, token),
        )
        conn.execute("UPDATE users SET password = %s WHERE id = %s", (secret2, 1))
        row = conn.execute("SELECT name, password FROM users WHERE api_token = %s", (token,))
        assert row.fetchall() == [("alice", secret2)]
        with conn.cursor(binary=True) as cur:
            cur.execute("SELECT id, password FROM users")
    rec.psql(
        "-c", f"INSERT INTO users (id, name, password) VALUES (2, 'bob', '{secret3}')",
        "-c", f"SELECT name FROM users WHERE password = '{secret3}'",
        dbname=db,
    )  # fmt: skip
    df = rec.stop()
    for secret in (secret1, secret2, secret3, token):
        assert not tape_bytes_contain(rec.tape, secret), secret
    tok = REDACTOR.token
    ins = df.filter(pl.col("sql").str.starts_with("INSERT INTO users (id, name, password, api"))
    assert ins["params"].to_list() == [["1", "alice", tok(secret1), tok(token)]]
    upd = df.filter(pl.col("sql").str.starts_with("UPDATE"))
    assert upd["params"].to_list() == [[tok(secret2), "1"]]
    sel = df.filter(pl.col("sql").str.contains("WHERE api_token"))
    assert sel["result_rows"].to_list() == [[[b"alice", tok(secret2).encode()]]]
    binsel = df.filter(pl.col("sql") == "SELECT id, password FROM users")
    assert binsel["result_rows"].to_list()[0][0] == [b"\0\0\0\1", tok(secret2).encode()]
    literal = df.filter(pl.col("sql").str.contains("'bob'"))["sql"].to_list()
    assert literal == [
        f"INSERT INTO users (id, name, password) VALUES (2, 'bob', '{tok(secret3)}')"
    ]
    assert_matches_pgss(pg, db, df, "users")
