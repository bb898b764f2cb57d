"""The demo's production database: a real PostgreSQL with the demo schema and data loaded.

The server is :class:`understudy.testing.postgres.PostgresServer` on the system's binaries
(``/usr/lib/postgresql/*/bin``, ``UNDERSTUDY_PG_BIN`` or ``PATH``). On a machine without them
the binaries bundled by the ``pgserver`` wheel are used instead (``pip install
'understudy[demo]'``); without either the demo stops with one line saying what to install.

Example::

    db = start_database(None)
    try:
        load_schema(db, Path("fixtures/demo_schema.sql"))
        print(db.dsn)
    finally:
        db.stop()
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from understudy.errors import ConfigError
from understudy.testing.postgres import PostgresServer, find_pg_bin

__all__ = ["describe", "ensure_available", "load_schema", "pgserver_bin", "start_database"]


def pgserver_bin() -> Path | None:
    """The PostgreSQL binaries bundled by the ``pgserver`` wheel, if it is installed."""
    try:
        from pgserver._commands import POSTGRES_BIN_PATH  # type: ignore[import-not-found]
    except ImportError:
        return None
    path = Path(POSTGRES_BIN_PATH)
    return path if (path / "initdb").exists() and (path / "pg_isready").exists() else None


def ensure_available() -> None:
    """Raise :class:`ConfigError` (saying what to install) when no PostgreSQL can start."""
    try:
        find_pg_bin()
    except ConfigError as missing:
        if pgserver_bin() is None:
            raise ConfigError(
                f"{missing}; or install the pgserver wheel: pip install 'understudy[demo]'"
            ) from None


def start_database(base_dir: Path | None) -> PostgresServer:
    """Start PostgreSQL in ``base_dir`` (a temporary directory when None)."""
    try:
        find_pg_bin()
    except ConfigError as missing:
        bundled = pgserver_bin()
        if bundled is None:
            raise ConfigError(
                f"{missing}; or install the pgserver wheel: pip install 'understudy[demo]'"
            ) from None
        os.environ["UNDERSTUDY_PG_BIN"] = str(bundled)
        # the wheel's build may lack pg_stat_statements: the demo does not need it
        return PostgresServer.start(base_dir, settings={"shared_preload_libraries": "''"})
    return PostgresServer.start(base_dir)


def load_schema(db: PostgresServer, schema: Path) -> None:
    """Run the SQL file ``schema`` with the real ``psql`` against ``db``."""
    try:
        db.psql(schema.read_text(encoding="utf-8"))
    except subprocess.CalledProcessError as exc:
        err = exc.stderr.decode(errors="replace").strip() if exc.stderr else ""
        raise ConfigError(f"loading {schema} failed: {err}") from None


def describe(db: PostgresServer) -> str:
    """``PostgreSQL 15.x on 127.0.0.1:PORT`` (the server's own version string)."""
    res = db.psql("SHOW server_version", check=False)
    version = res.stdout.decode(errors="replace").strip() or "?"
    return f"PostgreSQL {version} ({db.bin_dir}) on {db.host}:{db.port}"
