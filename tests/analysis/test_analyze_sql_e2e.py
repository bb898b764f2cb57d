"""Record real SQL through the recorder, analyze it, compare with pg_stat_statements."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from understudy.sqlfp import fingerprint
from understudy.testing.postgres import PostgresServer, free_port
from understudy.world import load_world

UNDERSTUDY = Path(sys.executable).parent / "understudy"


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with PostgresServer.start() as server:
        server.psql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        server.psql(
            "CREATE TABLE items (id int PRIMARY KEY, name text, price int);"
            "INSERT INTO items SELECT g, 'item ' || g, g % 97 FROM generate_series(1, 200) g;"
        )
        yield server


def test_recorded_sql_becomes_fingerprints_that_agree_with_pg(
    pg: PostgresServer, tmp_path: Path, understudy_env: dict[str, str], wait_for_port
) -> None:
    tape, world_dir = tmp_path / "sql.tape", tmp_path / "world"
    port = free_port()
    rec = subprocess.Popen(
        [str(UNDERSTUDY), "record", "--tape", str(tape), "--no-http",
         "--pg", f"127.0.0.1:{port}", "--pg-upstream", f"127.0.0.1:{pg.port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=understudy_env,
    )  # fmt: skip
    try:
        wait_for_port("127.0.0.1", port, proc=rec)
        pg.psql("SELECT pg_stat_statements_reset()")
        dsn = f"host=127.0.0.1 port={port} user={pg.user} dbname={pg.database}"
        with psycopg.connect(dsn, autocommit=True) as conn:
            # the N+1 an ORM writes: one SELECT per id, twelve times in one burst
            for _ in range(3):
                ids = [r[0] for r in conn.execute("SELECT id FROM items ORDER BY id LIMIT 12")]
                for i in ids:
                    conn.execute("SELECT name, price FROM items WHERE id = %s", (i,)).fetchone()
            conn.execute("UPDATE items SET price = price + 1 WHERE id = %s", (5,))
            with pytest.raises(psycopg.errors.UndefinedTable):
                conn.execute("SELECT * FROM missing_table")
    finally:
        rec.send_signal(signal.SIGINT)
        _, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err.decode()
    result = subprocess.run(
        [str(UNDERSTUDY), "analyze", str(tape), "--world", str(world_dir)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    doc = load_world(world_dir).doc
    ours = {s["fingerprint"]: s for s in doc["sql"]}
    # pg_stat_statements, read directly, grouped by our fingerprint of its normalized text
    out = pg.psql(
        "SELECT query, calls FROM pg_stat_statements WHERE query ILIKE '%items%' "
        "AND query NOT ILIKE '%pg_stat_statements%'"
    ).stdout.decode()
    theirs: Counter[str] = Counter()
    for line in out.strip().splitlines():
        query, _, calls = line.rpartition("|")
        theirs[fingerprint(query).fingerprint] += int(calls)
    assert theirs, out
    for fp, calls in theirs.items():
        assert fp in ours, (fp, sorted(s["normalized"] for s in doc["sql"]))
        assert ours[fp]["calls"] == calls, ours[fp]["normalized"]
    by_norm = {s["normalized"]: s for s in doc["sql"]}
    point = next(s for n, s in by_norm.items() if "WHERE" in n and "id = $1" in n and "name" in n)
    assert point["calls"] == 36 and point["tables"] == ["items"]
    missing = next(s for s in doc["sql"] if "missing_table" in s["normalized"])
    assert missing["errors"] == {"42P01": 1}
    n1 = [p for p in doc["n_plus_one"] if p["fingerprint"] == point["fingerprint"]]
    assert n1 and n1[0]["max_per_request"] >= 12
