"""Fixtures for the PostgreSQL replay server: a real PostgreSQL, a world recorded from it
(see ``pg_replay_helpers``), and replay servers on their own event-loop threads."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from pg_replay_helpers import SCHEMA, Recorded, record, settings

from replayer.pg import PgSession
from replayer.pg.testing.thread import ServerThread
from understudy.testing.postgres import PostgresServer


@pytest.fixture(scope="session")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Recorded]:
    """A real PostgreSQL with the test schema and pgbench tables, and its recorded world."""
    with PostgresServer.start() as pg:
        pg.psql(SCHEMA)
        subprocess.run(
            ["pgbench", "-i", "-s", "1", "-q"],
            env={**os.environ, **pg.env},
            check=True,
            capture_output=True,
        )
        yield record(pg, tmp_path_factory.mktemp("pg-world") / "world")


@pytest.fixture(scope="session")
def replay(recorded: Recorded) -> Iterator[ServerThread]:
    """The replay server with recorded latency, shared by the tests that only read."""
    with ServerThread(recorded.world, settings(latency="recorded", seed=7)) as server:
        yield server


@pytest.fixture
def start_replay(recorded: Recorded) -> Iterator[Callable[..., ServerThread]]:
    """Start extra replay servers with other settings; all stopped at the end."""
    started: list[ServerThread] = []

    def start(session: PgSession | None = None, **kw: Any) -> ServerThread:
        server = ServerThread(recorded.world, settings(**kw), session=session)
        server.__enter__()
        started.append(server)
        return server

    yield start
    for s in started:
        s.stop()
