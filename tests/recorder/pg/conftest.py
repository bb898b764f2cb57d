"""Fixtures: one real PostgreSQL 15 per session (SCRAM role, TLS on), relays in-process."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from understudy.testing.postgres import PostgresServer

sys.path.insert(0, str(Path(__file__).parent))

from pg_relay_helpers import Recording

from fixtures.http_upstream import make_self_signed

SCRAM_USER, SCRAM_PASSWORD = "scram_user", "scram-pass-9c1e4"
TLS_USER = "tls_user"  # pg_hba rejects it without TLS


@pytest.fixture(scope="session")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real server: trust for the test user, SCRAM for SCRAM_USER, TLS required for TLS_USER."""
    server = PostgresServer.start(settings={"password_encryption": "'scram-sha-256'"})
    try:
        data = server.data_dir
        owner = data.stat()
        cert, key = make_self_signed(tmp_path_factory.mktemp("pg-tls"))
        for src, name in ((cert, "server.crt"), (key, "server.key")):
            dst = data / name
            dst.write_bytes(src.read_bytes())
            os.chown(dst, owner.st_uid, owner.st_gid)
            os.chmod(dst, 0o600)
        hba = data / "pg_hba.conf"
        hba.write_text(
            f"host all {SCRAM_USER} 127.0.0.1/32 scram-sha-256\n"
            f"hostnossl all {TLS_USER} 127.0.0.1/32 reject\n" + hba.read_text()
        )
        server.psql(f"CREATE ROLE {SCRAM_USER} LOGIN PASSWORD '{SCRAM_PASSWORD}'")
        server.psql(f"CREATE ROLE {TLS_USER} LOGIN")
        server.psql("ALTER SYSTEM SET ssl = on")
        server.psql("SELECT pg_reload_conf()")
        server.psql("CREATE EXTENSION pg_stat_statements", dbname="postgres")
        yield server
    finally:
        server.stop()


@pytest.fixture
def record(pg: PostgresServer, tmp_path: Path) -> Iterator[Callable[..., Recording]]:
    """Start relays recording into fresh tapes; each is stopped at the end of the test."""
    started: list[Recording] = []

    def start(**kwargs: Any) -> Recording:
        rec = Recording(pg, tmp_path / f"tape{len(started)}", **kwargs)
        started.append(rec)
        return rec

    yield start
    for rec in started:
        rec.stop()
