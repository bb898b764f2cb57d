"""psql through the relay: scripts, several statements per message, COPY, errors, \\gset."""

from __future__ import annotations

import polars as pl
from pg_relay_helpers import assert_matches_pgss, new_database

SCRIPT = """\
CREATE TABLE items (id int PRIMARY KEY, name text);
INSERT INTO items VALUES (1, 'one') \\; INSERT INTO items VALUES (2, 'two;2') \\; \
SELECT count(*) AS n FROM items;
SELECT max(id) AS top FROM items \\gset
SELECT :top + 1 AS next;
BEGIN;
INSERT INTO items VALUES (3, 'three');
SELECT 1/0;
SELECT * FROM items;
ROLLBACK;
COPY items FROM STDIN;
10\tten
11\televen
\\.
COPY items TO STDOUT;
SELECT id, name FROM items WHERE id = 1;
"""


def test_psql_script_is_recorded_statement_by_statement(pg, record):
    db = new_database(pg, "psql_script")
    rec = record()
    out = rec.psql("-f", "-", dbname=db, stdin=SCRIPT, check=False)
    assert "division by zero" in out.stderr
    df = rec.stop()
    got = df.select("sql", "command_tag", "sqlstate", "tx_status").rows()
    assert got == [
        ("CREATE TABLE items (id int PRIMARY KEY, name text);", "CREATE TABLE", None, "idle"),
        ("INSERT INTO items VALUES (1, 'one')", "INSERT 0 1", None, "idle"),
        ("INSERT INTO items VALUES (2, 'two;2')", "INSERT 0 1", None, "idle"),
        ("SELECT count(*) AS n FROM items", "SELECT 1", None, "idle"),
        ("SELECT max(id) AS top FROM items ", "SELECT 1", None, "idle"),
        ("SELECT 2 + 1 AS next;", "SELECT 1", None, "idle"),
        ("BEGIN;", "BEGIN", None, "in_transaction"),
        ("INSERT INTO items VALUES (3, 'three');", "INSERT 0 1", None, "in_transaction"),
        ("SELECT 1/0;", None, "22012", "failed"),
        ("SELECT * FROM items;", None, "25P02", "failed"),
        ("ROLLBACK;", "ROLLBACK", None, "idle"),
        ("COPY items FROM STDIN;", "COPY 2", None, "idle"),
        ("COPY items TO STDOUT;", "COPY 4", None, "idle"),
        ("SELECT id, name FROM items WHERE id = 1;", "SELECT 1", None, "idle"),
    ]
    assert df["protocol"].unique().to_list() == ["simple"]
    assert df["seq"].to_list() == list(range(df.height))
    assert df["conn_id"].n_unique() == 1
    assert (df["database"] == db).all() and (df["user"] == pg.user).all()
    assert (df["application_name"] == "psql").all()
    by_tag = {r["command_tag"]: r for r in df.to_dicts()}
    data = len("10\tten\n11\televen\n")
    assert by_tag["COPY 2"]["copy_bytes"] in (data, data + 3)  # psql < 18 also sends "\\.\n"
    assert by_tag["COPY 2"]["rows"] == 2
    assert by_tag["COPY 4"]["copy_bytes"] == len("1\tone\n2\ttwo;2\n10\tten\n11\televen\n")
    assert by_tag["COPY 4"]["result_rows"] in (None, [])
    last = df.row(-1, named=True)
    assert last["columns"] == [{"name": "id", "type_oid": 23}, {"name": "name", "type_oid": 25}]
    assert last["result_rows"] == [[b"1", b"one"]] and last["rows"] == 1
    assert last["result_formats"] == [0, 0] and last["result_truncated"] is False
    err = df.filter(pl.col("sqlstate") == "22012").row(0, named=True)
    assert err["error_message"] == "division by zero" and err["error"] is None
    assert (df["duration_ms"] >= 0).all() and (df["ts_end"] >= df["ts_start"]).all()
    assert_matches_pgss(pg, db, df, "items")


def test_one_message_with_an_error_stops_at_the_error(pg, record):
    db = new_database(pg, "psql_multi")
    rec = record()
    out = rec.psql("-c", "SELECT 1 AS a; SELECT 1/0; SELECT 3 AS c", dbname=db, check=False)
    assert out.returncode != 0
    rec.psql("-c", "SELECT 'x' AS a;;  SELECT 2 AS b -- trailing", dbname=db)
    df = rec.stop()
    got = df.select("sql", "command_tag", "sqlstate", "result_rows").rows()
    assert got == [
        ("SELECT 1 AS a", "SELECT 1", None, [[b"1"]]),
        ("SELECT 1/0", None, "22012", None),  # "SELECT 3" never ran: no row
        ("SELECT 'x' AS a", "SELECT 1", None, [[b"x"]]),
        ("SELECT 2 AS b -- trailing", "SELECT 1", None, [[b"2"]]),
    ]
    assert_matches_pgss(pg, db, df)


def test_split_mismatch_keeps_the_whole_text(pg, record):
    db = new_database(pg, "psql_rule")
    rec = record()
    sql = (
        "CREATE TABLE t (x int); CREATE TABLE log (y int); "
        "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO log VALUES (1); "
        "INSERT INTO log VALUES (2))"
    )
    rec.psql("-c", sql, dbname=db)
    df = rec.stop()
    assert df["command_tag"].to_list() == ["CREATE TABLE", "CREATE TABLE", "CREATE RULE"]
    assert (df["sql"] == sql).all()
    assert df["error"].str.contains("statement split mismatch").all()


def test_empty_query(pg, record):
    rec = record()
    rec.psql("-c", ";")  # psql sends it as is: EmptyQueryResponse
    df = rec.stop()
    assert df.select("sql", "command_tag", "sqlstate", "rows").rows() == [(";", None, None, None)]
