"""Fixtures of the judge tests: one mined world, and replay sessions against it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from judge_world_kit import (
    ANY_SQL,
    INSERT_SQL,
    POINT_SQL,
    SCHEMA_SQL,
    build,
    http_tape,
    pg_dsn,
    run_session,
    sql_tape,
)

from understudy.testing.postgres import PostgresServer

TEST_KEY_HEX = "5e" * 32  # the suite's redaction key (tests/conftest.py)


@dataclass(frozen=True)
class Session:
    """A finished replay session: its report and session tape."""

    report: dict[str, Any]
    tape: Path


@pytest.fixture(scope="session")
def judge_key() -> Iterator[bytes]:
    """The replayer in this process pseudonymises with the suite's key."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("UNDERSTUDY_KEY", TEST_KEY_HEX)
        yield bytes.fromhex(TEST_KEY_HEX)


@pytest.fixture(scope="session")
def judge_world(
    judge_key: bytes, tmp_path_factory: pytest.TempPathFactory, understudy_env: dict[str, str]
) -> Path:
    tmp = tmp_path_factory.mktemp("judge")
    http = http_tape(tmp / "http.tape", judge_key)
    with PostgresServer.start() as pg:
        pg.psql(SCHEMA_SQL)
        sql = sql_tape(tmp / "sql.tape", pg, understudy_env)
    return build(tmp / "prod.world", [http, sql])


def _clean(url: str, pg_port: int) -> None:
    """What production does: a few item reads per key, one unit of SQL work."""
    for key in ("pro-1", "free-1"):
        with httpx.Client(base_url=url, headers={"X-Api-Key": key}, timeout=30) as c:
            for i in (1, 2):
                assert c.get(f"/api/items/{i}").status_code == 200
    with psycopg.connect(pg_dsn(pg_port), autocommit=True) as conn:
        conn.execute(ANY_SQL, ([1, 2, 3],)).fetchall()
        conn.execute(POINT_SQL, (1,)).fetchone()
        conn.execute(INSERT_SQL, (1, 1))


def _http_bad(url: str, pg_port: int) -> None:
    """Burst past free's 5/s, call the export a free key may not, call an unknown path."""
    with httpx.Client(base_url=url, headers={"X-Api-Key": "free-1"}, timeout=30) as c:
        statuses = [c.get(f"/api/items/{i}").status_code for i in range(1, 16)]
    assert statuses.count(429) >= 5, statuses
    assert httpx.get(f"{url}/api/export", headers={"X-Api-Key": "free-2"}).status_code == 403
    assert httpx.get(f"{url}/api/itemz/1", headers={"X-Api-Key": "pro-2"}).status_code == 599


def _sql_bad(url: str, pg_port: int) -> None:
    """An N+1 (one SELECT per id), INSERTs in a loop, and a query production never ran."""
    with psycopg.connect(pg_dsn(pg_port), autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(ANY_SQL, (list(range(1, 13)),)).fetchall()]
        assert ids
        for i in range(1, 13):
            conn.execute(POINT_SQL, (i,)).fetchone()
        for i in range(10):
            conn.execute(INSERT_SQL, (i, 1))
        with pytest.raises(psycopg.Error) as info:
            conn.execute("SELECT count(*) FROM orders")
        assert info.value.sqlstate == "UN001"


@pytest.fixture(scope="session")
def clean_session(judge_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Session:
    out = tmp_path_factory.mktemp("clean")
    return Session(*run_session(judge_world, out, _clean, latency=True))


@pytest.fixture(scope="session")
def http_bad_session(judge_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Session:
    return Session(*run_session(judge_world, tmp_path_factory.mktemp("http-bad"), _http_bad))


@pytest.fixture(scope="session")
def sql_bad_session(judge_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Session:
    return Session(*run_session(judge_world, tmp_path_factory.mktemp("sql-bad"), _sql_bad))
