"""A world for the judge tests: a plans API (HTTP) and a shop database (SQL), mined for real.

HTTP: a seeded synthetic tape (:mod:`understudy.testing.synthetic_http`) of a host with
plans ``free`` (5/s, burst 5, refused ``GET /api/export`` with 403) and ``pro`` (20/s, burst
20), whose identities are the pseudonyms of the API keys the tests send. SQL: a real
PostgreSQL behind ``understudy record --pg``, driven by psycopg with the production workload
(per unit of work: one ``= ANY($1)`` fetch, one point lookup, one INSERT). Both tapes go
through :func:`analysis.world.build_world`, the pipeline behind ``understudy analyze``.

:func:`run_session` serves the world with the real replayer in-process
(``replayer.run.replay``, reverse mode plus the PostgreSQL server) while ``drive`` runs real
clients against it from a thread; it returns the session report and tape.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor
from understudy.tape import commit_part, ensure_tape_dir, open_tape, update_meta
from understudy.testing.postgres import PostgresServer, free_port
from understudy.testing.synthetic_http import Client, Limiter, Plan, Route, Scenario, generate
from understudy.world import write_world

HOST = "api.plans.test"
KEYS = {"free-1": "free", "free-2": "free", "pro-1": "pro", "pro-2": "pro"}
UNDERSTUDY = Path(sys.executable).parent / "understudy"
SCHEMA_SQL = (
    "CREATE TABLE items (id int PRIMARY KEY, name text, price int);"
    "INSERT INTO items SELECT g, 'item ' || g, g % 97 FROM generate_series(1, 200) g;"
    "CREATE TABLE orders (id serial PRIMARY KEY, item_id int, qty int);"
)
ANY_SQL = "SELECT id, name, price FROM items WHERE id = ANY(%s)"
POINT_SQL = "SELECT name, price FROM items WHERE id = %s"
INSERT_SQL = "INSERT INTO orders (item_id, qty) VALUES (%s, %s)"


def identity(key: bytes, api_key: str) -> str:
    """The pseudonym the recorder and the replayer give ``X-Api-Key: api_key``."""
    redactor = Redactor(RedactionPolicy.build(), Pseudonymizer(key))
    found = redactor.redact_headers([("X-Api-Key", api_key)])[1]
    assert found is not None
    return found


def http_tape(path: Path, key: bytes) -> Path:
    """60 s of synthetic production traffic from the four keys."""
    ident = {k: identity(key, k) for k in KEYS}
    scenario = Scenario(
        routes=(
            Route("GET", "/api/items/{id}", 6, 8.0, 0.3),
            Route("GET", "/api/export", 1, 40.0, 0.3),
            Route("POST", "/api/orders", 1, 15.0, 0.3),
        ),
        plans={
            "free": Plan("free", 5.0, 5, {("GET", "/api/export"): 403}),
            "pro": Plan("pro", 20.0, 20),
        },
        clients=(
            Client(ident["free-1"], "free", ("10.0.0.1",), 8.0),
            Client(ident["free-2"], "free", ("10.0.0.2",), 4.0, "bursty", 12),
            Client(ident["pro-1"], "pro", ("10.0.0.3",), 28.0),
            Client(ident["pro-2"], "pro", ("10.0.0.4",), 12.0, "bursty", 40),
        ),
        limiter=Limiter("identity", "*"),
        duration_s=60.0,
        seed=11,
        host=HOST,
    )
    ensure_tape_dir(path)
    (path / "http").mkdir(mode=0o700)
    commit_part(path / "http", "http", generate(scenario).to_dicts())
    update_meta(path, kinds=["http"], redaction=RedactionPolicy.build().summary())
    return path


def production_sql(dsn: str, units: int = 12) -> None:
    """The production workload: per unit of work one ANY fetch, one lookup, one INSERT."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for u in range(units):
            ids = [u * 5 + i for i in range(1, 6)]
            conn.execute(ANY_SQL, (ids,)).fetchall()
            conn.execute(POINT_SQL, (ids[0],)).fetchone()
            conn.execute(INSERT_SQL, (ids[0], 1))
            time.sleep(0.12)  # the next unit of work starts after an idle gap


def sql_tape(path: Path, pg: PostgresServer, env: dict[str, str]) -> Path:
    """Record :func:`production_sql` through ``understudy record --pg``."""
    port = free_port()
    argv = [str(UNDERSTUDY), "record", "--tape", str(path), "--no-http",
            "--pg", f"127.0.0.1:{port}", "--pg-upstream", f"127.0.0.1:{pg.port}"]  # fmt: skip
    rec = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        _wait_port(port, rec)
        production_sql(f"host=127.0.0.1 port={port} user={pg.user} dbname={pg.database}")
    finally:
        rec.send_signal(signal.SIGINT)
        _, err = rec.communicate(timeout=60)
    assert rec.returncode == 0, err.decode()
    return path


def _wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "recorder exited early"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"recorder did not listen on {port}")


def build(world: Path, tapes: list[Path]) -> Path:
    """``understudy analyze``'s pipeline: mine the tapes, write the world bundle."""
    from analysis.world import build_world

    built = build_world([open_tape(t) for t in tapes])
    return write_world(world, built.doc, built.tables)


Drive = Callable[[str, int], None]


def run_session(
    world: Path, out: Path, drive: Drive, *, latency: bool = False, seed: int = 7
) -> tuple[dict[str, Any], Path]:
    """Serve ``world`` in-process while ``drive(http_base_url, pg_port)`` runs in a thread.

    Returns the session report (also written to ``out/report.json``) and the session tape.
    """
    from replayer.config import ReplayConfig
    from replayer.run import replay

    out.mkdir(parents=True, exist_ok=True)
    tape = out / "session.tape"
    pg_port = free_port()
    config = ReplayConfig(
        world=world, http_listen=("127.0.0.1", 0), http_explicit=True,
        mode=f"reverse:https://{HOST}", latency=latency, seed=seed, session_tape=tape,
        report=out / "report.json", pg_listen=("127.0.0.1", pg_port), quiet=True,
    )  # fmt: skip
    failed: list[BaseException] = []

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        threads: list[threading.Thread] = []

        def client(url: str) -> None:
            try:
                drive(url, pg_port)
            except BaseException as exc:  # re-raised on the test's thread
                failed.append(exc)
            finally:
                loop.call_soon_threadsafe(stop.set)

        def ready(bound: list[tuple[str, int]]) -> None:
            host, port = bound[0]
            t = threading.Thread(target=client, args=(f"http://{host}:{port}",))
            threads.append(t)
            t.start()

        try:
            return await replay(config, stop=stop, on_ready=ready)
        finally:
            for t in threads:
                await asyncio.to_thread(t.join, 60)

    report = asyncio.run(main())
    if failed:
        raise failed[0]
    assert json.loads((out / "report.json").read_text())["format"] == report["format"]
    return report, tape


def pg_dsn(port: int) -> str:
    return f"host=127.0.0.1 port={port} user=app dbname=app"
