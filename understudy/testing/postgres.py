"""Start a throwaway, real PostgreSQL server for tests, benchmarks and the demo.

Uses the system's server binaries (``/usr/lib/postgresql/*/bin``) when present. ``initdb``
refuses to run as root, so when we are root the cluster is created and run as the
unprivileged ``postgres`` user (or ``nobody``) in a directory that user owns.

Example::

    with PostgresServer.start() as pg:
        print(pg.dsn)          # postgresql://understudy@127.0.0.1:PORT/understudy
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from understudy.errors import ConfigError

__all__ = ["PostgresServer", "find_pg_bin", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free on ``host`` a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def find_pg_bin() -> Path:
    """Return the directory holding ``initdb`` and ``postgres`` (newest version first)."""
    env = os.environ.get("UNDERSTUDY_PG_BIN")
    candidates = [env] if env else []
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(str(Path(initdb).parent))
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "postgres").exists():
            return Path(c)
    raise ConfigError(
        "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH); "
        "install them with `apt-get install postgresql` or set UNDERSTUDY_PG_BIN"
    )


def _run_as() -> str | None:
    """Name of the unprivileged user to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise ConfigError("running as root and no unprivileged user (postgres, nobody) exists")


def _as_user(run_as: str | None) -> dict[str, Any]:
    """subprocess keyword arguments that drop to ``run_as`` (uid, gid and groups)."""
    if run_as is None:
        return {}
    pw = pwd.getpwnam(run_as)
    return {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}


@dataclass
class PostgresServer:
    """A running PostgreSQL cluster on 127.0.0.1, owned by this process."""

    bin_dir: Path
    data_dir: Path
    port: int
    user: str = "understudy"
    database: str = "understudy"
    host: str = "127.0.0.1"
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def env(self) -> dict[str, str]:
        """libpq environment variables pointing at this server."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.user,
            "PGDATABASE": self.database,
        }

    @classmethod
    def start(
        cls,
        base_dir: Path | None = None,
        *,
        settings: Mapping[str, str] | None = None,
        port: int | None = None,
    ) -> PostgresServer:
        """Create a cluster in ``base_dir`` (a fresh temp dir if None) and start it."""
        bin_dir = find_pg_bin()
        tmp: tempfile.TemporaryDirectory[str] | None = None
        if base_dir is None:
            tmp = tempfile.TemporaryDirectory(prefix="understudy-pg-")
            base_dir = Path(tmp.name)
        run_as = _run_as()
        data_dir = base_dir / "pgdata"
        data_dir.mkdir(parents=True, exist_ok=True)
        if run_as is not None:
            pw = pwd.getpwnam(run_as)
            # the server user must be able to traverse to its data directory
            for p in [base_dir, *base_dir.parents]:
                if p == Path("/"):
                    break
                mode = p.stat().st_mode
                if not mode & 0o001:
                    os.chmod(p, mode | 0o001)
            os.chown(data_dir, pw.pw_uid, pw.pw_gid)
        os.chmod(data_dir, 0o700)
        server = cls(bin_dir=bin_dir, data_dir=data_dir, port=port or free_port(), _tmp=tmp)
        try:
            server._initdb(run_as)
            server._configure(settings or {})
            server._launch(run_as)
        except BaseException:
            server.stop()
            raise
        return server

    def _initdb(self, run_as: str | None) -> None:
        cmd = [
            str(self.bin_dir / "initdb"),
            "-D", str(self.data_dir),
            "-U", self.user,
            "--auth=trust",
            "--no-sync",
            "-E", "UTF8",
            "--locale=C",
        ]  # fmt: skip
        res = subprocess.run(cmd, capture_output=True, check=False, **_as_user(run_as))
        if res.returncode != 0:
            raise ConfigError(f"initdb failed: {res.stderr.decode(errors='replace').strip()}")

    def _configure(self, settings: Mapping[str, str]) -> None:
        conf = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": "''",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "shared_preload_libraries": "'pg_stat_statements'",
            "pg_stat_statements.track": "all",
            "log_min_messages": "warning",
        }
        conf.update(settings)
        with open(self.data_dir / "postgresql.conf", "a", encoding="utf-8") as f:
            for k, v in conf.items():
                f.write(f"{k} = {v}\n")

    def _launch(self, run_as: str | None) -> None:
        with open(self.data_dir / "server.log", "ab") as log:
            self._proc = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **_as_user(run_as),
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ConfigError(f"postgres exited at start-up: {self.log_tail()}")
            if self._ready():
                return
            time.sleep(0.05)
        raise ConfigError(f"postgres did not become ready in 30 s: {self.log_tail()}")

    def _ready(self) -> bool:
        res = subprocess.run(
            [str(self.bin_dir / "pg_isready"), "-h", self.host, "-p", str(self.port), "-q"],
            check=False,
        )
        if res.returncode != 0:
            return False
        made = self.psql(f"CREATE DATABASE {self.database}", dbname="postgres", check=False)
        return made.returncode == 0 or b"already exists" in made.stderr

    def psql(
        self, sql: str, *, dbname: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``sql`` through the real ``psql`` client directly against the server."""
        psql = shutil.which("psql") or str(self.bin_dir / "psql")
        return subprocess.run(
            [psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-c", sql],
            env={**os.environ, **self.env, "PGDATABASE": dbname or self.database},
            capture_output=True,
            check=check,
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = (self.data_dir / "server.log").read_text(errors="replace")
        except OSError:
            return "(no server log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its temporary directory if we made it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(2)  # SIGINT: fast shutdown
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
