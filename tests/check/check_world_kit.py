"""A world for the check tests, recorded for real and mined by ``understudy analyze``.

HTTP: ``fixtures/plans_api.py`` (plans free 5/s burst 5, refused ``/api/export``; pro 20/s)
in its own process, behind ``understudy record --mode reverse:...``, driven by httpx clients
at rates that show both limits. SQL: a real PostgreSQL behind the same recorder's ``--pg``
relay, driven by psycopg. The API and the database are stopped before any check runs, so
every answer a candidate gets comes from the replayer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg

from understudy.testing.postgres import PostgresServer, free_port

REPO = Path(__file__).resolve().parents[2]
UNDERSTUDY = Path(sys.executable).parent / "understudy"
SCHEMA_SQL = (
    "CREATE TABLE items (id int PRIMARY KEY, name text, price int);"
    "INSERT INTO items SELECT g, 'item ' || g, g % 97 FROM generate_series(1, 100) g;"
)
POINT_SQL = "SELECT name, price FROM items WHERE id = %s"


@dataclass(frozen=True)
class CheckWorld:
    """The mined world and the (now stopped) API's base URL the recording used."""

    world: Path
    api: str


def _client(base: str, key: str, rate: float | None, seconds: float, paths: list[str]) -> None:
    """Requests at about ``rate`` per second (None: as fast as answers come) for ``seconds``."""
    with httpx.Client(base_url=base, headers={"X-Api-Key": key}, timeout=10) as c:
        start = time.monotonic()
        i = 0
        while (now := time.monotonic() - start) < seconds:
            target = i / rate if rate else 0.0
            if target > now:
                time.sleep(target - now)
            c.get(paths[i % len(paths)])
            i += 1


def _drive_http(base: str) -> None:
    """Free keys at about 12/s from two senders each (well above 5/s, even when a loaded
    machine slows each sender), pro keys below 20/s; then, with full buckets, the export
    probes that show free's refusal."""
    paths = [f"/api/items/{i}" for i in range(1, 40)] + ["/api/export"]
    clients = [("free-1", 6.0), ("free-1", 6.0), ("free-2", 6.0), ("free-2", 6.0),
               ("pro-1", 6.0), ("pro-2", 6.0)]  # fmt: skip
    threads = [threading.Thread(target=_client, args=(base, k, r, 6.0, paths)) for k, r in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    time.sleep(1.5)  # buckets refill: the plan check, not the limiter, answers the probes
    for key in ("free-1", "free-2", "pro-1", "pro-2"):
        for _ in range(2):
            httpx.get(f"{base}/api/export", headers={"X-Api-Key": key}, timeout=10)


def _drive_sql(port: int, pg: PostgresServer) -> None:
    dsn = f"host=127.0.0.1 port={port} user={pg.user} dbname={pg.database}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in range(1, 11):
            conn.execute(POINT_SQL, (i,)).fetchone()


def record_world(
    tmp: Path, env: dict[str, str], confdir: Path, wait_for_port: Callable[..., None]
) -> CheckWorld:
    """Record the plans API and a database through one recorder, then analyze the tape."""
    api_port, http_port, pg_port = free_port(), free_port(), free_port()
    api = subprocess.Popen(
        [sys.executable, str(REPO / "fixtures" / "plans_api.py"), "--port", str(api_port)],
        stdout=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    base = f"http://127.0.0.1:{api_port}"
    tape, world = tmp / "prod.tape", tmp / "prod.world"
    try:
        wait_for_port("127.0.0.1", api_port, proc=api)
        with PostgresServer.start() as pg:
            pg.psql(SCHEMA_SQL)
            argv = [str(UNDERSTUDY), "record", "--tape", str(tape), "--mode", f"reverse:{base}",
                    "--http", f"127.0.0.1:{http_port}", "--pg", f"127.0.0.1:{pg_port}",
                    "--pg-upstream", f"127.0.0.1:{pg.port}", "--confdir", str(confdir)]  # fmt: skip
            rec = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   env=env)  # fmt: skip
            try:
                wait_for_port("127.0.0.1", http_port, proc=rec)
                wait_for_port("127.0.0.1", pg_port, proc=rec)
                _drive_sql(pg_port, pg)
                _drive_http(f"http://127.0.0.1:{http_port}")
            finally:
                rec.send_signal(signal.SIGINT)
                _, err = rec.communicate(timeout=60)
            assert rec.returncode == 0, err.decode()
    finally:
        api.terminate()
        api.wait(10)
    out = subprocess.run([str(UNDERSTUDY), "analyze", str(tape), "--world", str(world)],
                         capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    return CheckWorld(world, base)


@dataclass
class CheckRun:
    """A finished ``understudy check``: its exit status, output and verdict (if written)."""

    code: int
    stdout: str
    stderr: str
    out: Path
    verdict: dict[str, Any] | None

    def kinds(self) -> set[str]:
        assert self.verdict is not None, self.stderr
        return {f["kind"] for f in self.verdict["findings"]}

    def failing(self) -> set[str]:
        assert self.verdict is not None, self.stderr
        return {f["kind"] for f in self.verdict["findings"] if f["failing"]}


def run_check(
    world: Path, out: Path, cmd: Sequence[str], *args: str, env: dict[str, str],
    timeout: float = 120,
) -> CheckRun:  # fmt: skip
    """``understudy check --world W --out OUT ARGS -- CMD`` as a subprocess."""
    argv = [str(UNDERSTUDY), "check", "--world", str(world), "--out", str(out), *args,
            "--", *cmd]  # fmt: skip
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)  # fmt: skip
    verdict_file = out / "verdict.json"
    verdict = json.loads(verdict_file.read_text()) if verdict_file.exists() else None
    return CheckRun(proc.returncode, proc.stdout, proc.stderr, out, verdict)


def script(path: Path, text: str) -> Path:
    """Write an executable script."""
    path.write_text(text)
    path.chmod(0o700)
    return path
