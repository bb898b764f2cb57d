"""Workload, recording and client helpers shared by the PostgreSQL replay tests.

The world is built the way the analysis step will build it: statements run on the real
server through :class:`~replayer.pg.testing.CaptureClient` (the wire bytes it answered are
kept as they are), fingerprinted with ``understudy.sqlfp``, written with ``write_world``.
Tests then run the same workload against the real server and the replay server and compare.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from replayer.pg import PgReplaySettings
from replayer.pg.testing import CaptureClient, SqlWorldKit
from understudy.testing.postgres import PostgresServer
from understudy.world import World, load_world

COLUMNS = (
    "id, name, balance, created, active, ratio, meta, uid, big, small, day, data, tags, scores"
)
BY_ID = f"SELECT {COLUMNS} FROM accounts WHERE id = "
BY_ID_PARAM = f"SELECT {COLUMNS} FROM accounts WHERE id = $1"
RICHER = "SELECT id, name FROM accounts WHERE balance > $1 ORDER BY id LIMIT 5"
COUNT = "SELECT count(*) FROM accounts"
INSERT_EVENT = "INSERT INTO events(account_id, kind) VALUES ($1, $2)"
DUPLICATE = "INSERT INTO accounts(id, name) VALUES (1, 'dup')"
SLOW = "SELECT name AS slow_name FROM accounts WHERE id = $1"
SLOW_DELAY_MS = 4000.0
PGBENCH_AIDS = 300
PGBENCH_STARTUP = [
    "select count(*) from pgbench_branches",
    "select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c "
    "join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral "
    "(select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) "
    "left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join "
    "pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = 'pgbench_accounts' "
    "and o.n is not null group by 1, 2 order by 1 asc limit 1",
]

SCHEMA = """
CREATE TABLE accounts(
    id int PRIMARY KEY, name text NOT NULL, balance numeric(12,2), created timestamptz,
    active bool, ratio float8, meta jsonb, uid uuid, big bigint, small smallint, day date,
    data bytea, tags text[], scores int4[]);
INSERT INTO accounts
SELECT i, 'name ' || i, i * 10.25, '2024-01-01 12:00:00+00'::timestamptz + i * interval '1 day',
       i % 2 = 0, i / 3.0, jsonb_build_object('n', i), md5(i::text)::uuid, i * 10000000000,
       i, '2024-02-01'::date + i, decode(md5(i::text), 'hex'),
       ARRAY['t' || i, 'x y', 'q"uote'], ARRAY[i, NULL, i * 2]
FROM generate_series(1, 40) i;
CREATE TABLE events(id serial PRIMARY KEY, account_id int, kind text);
"""


@dataclass
class Recorded:
    """The real server, the world recorded from it and what was recorded."""

    pg: PostgresServer
    world: World
    parameters: dict[str, str]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **self.pg.env}


def record(pg: PostgresServer, path: Path) -> Recorded:
    kit = SqlWorldKit()
    with CaptureClient.connect(pg.host, pg.port, pg.user, pg.database) as c:
        for i in range(1, 11):  # simple protocol, text results
            for r in c.simple(f"{BY_ID}{i}"):
                kit.add(r)
        for i in range(11, 21):  # extended protocol, binary results
            kit.add(c.extended(BY_ID_PARAM, (str(i),), result_format=1))
        for v in ("100", "250.5"):
            kit.add(c.extended(RICHER, (v,)))
        for r in c.simple(COUNT):
            kit.add(r)
        for params in (("1", "login"), ("2", "logout"), ("3", "login")):
            kit.add(c.extended(INSERT_EVENT, params))
        for r in c.simple(DUPLICATE):
            kit.add(r)
        kit.add(c.extended(SLOW, ("1",)), duration_ms=SLOW_DELAY_MS)
        for sql in PGBENCH_STARTUP:
            for r in c.simple(sql):
                kit.add(r)
        for aid in range(1, PGBENCH_AIDS + 1):
            for r in c.simple(f"SELECT abalance FROM pgbench_accounts WHERE aid = {aid};"):
                kit.add(r)
        params = dict(c.parameters)
    # every statement the workload runs again below restarts from the same data
    pg.psql("TRUNCATE events RESTART IDENTITY")
    return Recorded(pg, load_world(kit.write(path, pg_parameters=params)), params)


def settings(**kw: Any) -> PgReplaySettings:
    return PgReplaySettings(listen=("127.0.0.1", 0), **kw)


def libpq_env(port: int, **extra: str) -> dict[str, str]:
    """Environment for psql/pgbench against a replay server on ``port``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(
        {
            "PGHOST": "127.0.0.1",
            "PGPORT": str(port),
            "PGUSER": "app",
            "PGDATABASE": "app",
            "PGCONNECT_TIMEOUT": "10",
        }
    )
    env.update(extra)
    return env


def dsn(port: int, **extra: str) -> str:
    parts = {"host": "127.0.0.1", "port": str(port), "user": "app", "dbname": "app", **extra}
    return " ".join(f"{k}={v}" for k, v in parts.items())
