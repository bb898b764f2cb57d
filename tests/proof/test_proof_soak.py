"""Soak: mixed HTTP (keep-alive and not, HTTPS, gzip, 1 MB and tiny bodies) and PostgreSQL
(simple and extended protocol, long-lived and short connections) through ONE recorder at a
paced, moderate rate; then a sample of the same session against the replayer.

Reconciled against counts the load generator and the upstreams keep themselves, never the
recorder's own log: requests answered == HTTP rows committed == requests the upstreams
answered; statements executed == SQL rows committed. No error other than none. The
recorder's RSS, sampled every second, must be flat after warm-up.

``make test`` runs the 60-second form; ``make soak`` (``-m slow``) the 10-minute form.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from fixtures.http_upstream import UpstreamServer
from understudy.tape import open_tape
from understudy.testing.postgres import PostgresServer, free_port

UNDERSTUDY = Path(sys.executable).parent / "understudy"
MARK = "/* soak */"


class Load:
    """The generator's own ledger: what was sent, what was answered, what failed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answered: Counter[str] = Counter()
        self.errors: list[str] = []
        self.sent_paths: list[tuple[str, str]] = []  # (base, path) of answered HTTP requests
        self.sent_sql: list[tuple[str, tuple[Any, ...] | None]] = []

    def ok(self, kind: str, item: Any = None) -> None:
        with self.lock:
            self.answered[kind] += 1
            if kind.startswith("http"):
                self.sent_paths.append(item)
            elif item is not None:
                self.sent_sql.append(item)

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


def _paced(stop: threading.Event, rate: float):  # type: ignore[no-untyped-def]
    period, nxt, i = 1.0 / rate, time.monotonic(), 0
    while not stop.is_set():
        yield i
        i += 1
        nxt += period
        delay = nxt - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        else:
            nxt = time.monotonic()


def _http(load: Load, stop: threading.Event, proxy: str, base: str, kind: str, rate: float,
          verify: ssl.SSLContext | bool, keepalive: bool) -> None:  # fmt: skip
    limits = httpx.Limits(max_keepalive_connections=4 if keepalive else 0)
    headers = {} if keepalive else {"Connection": "close"}
    with httpx.Client(proxy=proxy, verify=verify, limits=limits, timeout=30) as c:
        for i in _paced(stop, rate):
            path = (f"/large?size=1000000&k={kind}&i={i}" if i % 50 == 49
                    else f"/encoded/gzip?k={kind}&i={i}" if i % 5 == 4
                    else f"/n/{i}?k={kind}")  # fmt: skip
            try:
                r = c.get(base + path, headers=headers)
            except httpx.HTTPError as exc:
                load.fail(f"{kind} {path}: {exc!r}")
                continue
            if r.status_code == 200 and (not path.startswith("/large") or len(r.content) == 10**6):
                load.ok(kind, (base, path))
            else:
                load.fail(f"{kind} {path}: {r.status_code}")


def _sql_long(load: Load, stop: threading.Event, dsn: str, rate: float) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for i in _paced(stop, rate):
            try:
                if i % 2:
                    conn.execute(f"{MARK} SELECT {i % 97} AS v").fetchall()
                    load.ok("sql", (f"{MARK} SELECT {i % 97} AS v", None))
                else:
                    q = f"{MARK} SELECT %s::int + 1 AS v"
                    conn.execute(q, (i % 89,)).fetchall()
                    load.ok("sql", (q, (i % 89,)))
            except psycopg.Error as exc:
                load.fail(f"sql {i}: {exc!r}")


def _sql_short(load: Load, stop: threading.Event, dsn: str, rate: float) -> None:
    for i in _paced(stop, rate):
        try:
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute(f"{MARK} SELECT 'short' AS s").fetchall()
                load.ok("sql", (f"{MARK} SELECT 'short' AS s", None))
        except psycopg.Error as exc:
            load.fail(f"sql short {i}: {exc!r}")


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _slope_per_min(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mv = sum(v for _, v in samples) / n
    cov = sum((t - mt) * (v - mv) for t, v in samples)
    var = sum((t - mt) ** 2 for t, _ in samples)
    return cov / var * 60.0


def _start(argv: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("wb") as f:
        proc = subprocess.Popen([str(UNDERSTUDY), *argv], stdout=f, stderr=f, env=env)
    deadline = time.monotonic() + 90
    while "stop with Ctrl-C" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return proc


def _soak(tmp: Path, seconds: float, confdir: Path, upstream_cert: tuple[Path, Path]) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERSTUDY_")}
    env.update(UNDERSTUDY_KEY="5e" * 32, PYTHONUNBUFFERED="1")
    pg = PostgresServer.start()
    plain, tls = UpstreamServer.start(), UpstreamServer.start(cert=upstream_cert)
    try:
        tape, http_port, pg_port = tmp / "soak.tape", free_port(), free_port()
        rec = _start(["record", "--tape", str(tape), "--http", f"127.0.0.1:{http_port}",
                      "--confdir", str(confdir), "--pg", f"127.0.0.1:{pg_port}",
                      "--pg-upstream", f"127.0.0.1:{pg.port}", "--flush-interval", "500ms"],
                     tmp / "record.log", env)  # fmt: skip
        ca = ssl.create_default_context(cafile=str(confdir / "mitmproxy-ca-cert.pem"))
        proxy = f"http://127.0.0.1:{http_port}"
        dsn = f"postgresql://{pg.user}@127.0.0.1:{pg_port}/{pg.database}"
        load, stop = Load(), threading.Event()
        jobs = [
            (_http, (load, stop, proxy, plain.url, "http-ka", 20.0, True, True)),
            (_http, (load, stop, proxy, plain.url, "http-close", 5.0, True, False)),
            (_http, (load, stop, proxy, tls.url, "https-ka", 10.0, ca, True)),
            (_sql_long, (load, stop, dsn, 20.0)),
            (_sql_short, (load, stop, dsn, 2.0)),
        ]
        threads = [threading.Thread(target=f, args=a) for f, a in jobs]
        for t in threads:
            t.start()
        rss: list[tuple[float, float]] = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < seconds:
            rss.append((time.monotonic() - t0, _rss_mib(rec.pid)))
            time.sleep(1.0)
        stop.set()
        for t in threads:
            t.join(60)
        rec.send_signal(signal.SIGINT)
        assert rec.wait(90) == 0, (tmp / "record.log").read_text()

        assert load.errors == []
        http_answered = sum(n for k, n in load.answered.items() if k.startswith("http"))
        assert http_answered > seconds * 20 and load.answered["sql"] > seconds * 15
        t = open_tape(tape)
        assert t.skipped == []
        rows = t.scan("http").select("status", "error").collect()
        assert rows.height == http_answered == plain.counts["total"] + tls.counts["total"]
        assert rows["error"].null_count() == rows.height and set(rows["status"]) == {200}
        sql = t.scan("sql").select("sql", "sqlstate").collect()
        ours = sql.filter(sql["sql"].str.starts_with(MARK))
        assert ours.height == load.answered["sql"] and ours["sqlstate"].null_count() == ours.height
        # RSS flat after warm-up: a leak of 1 KiB per request at ~55 requests and statements
        # a second is 3 MiB/min; the short form allows more noise (GC, arena growth)
        steady = [(t, v) for t, v in rss if t >= max(20.0, seconds / 3)]
        slope = _slope_per_min(steady)
        (tmp / "rss.json").write_text(json.dumps({"slope_mib_per_min": slope, "samples": rss}))
        bound = 10.0 if seconds < 300 else 3.0
        assert slope < bound, rss

        _replay_sample(tmp, tape, confdir, env, load)
    finally:
        plain.stop()
        tls.stop()
        pg.stop()


def _replay_sample(tmp: Path, tape: Path, confdir: Path, env: dict[str, str], load: Load) -> None:
    """The same session's traffic (a sample, in order) against the world built from it."""
    world = tmp / "soak.world"
    res = subprocess.run([str(UNDERSTUDY), "analyze", str(tape), "--world", str(world)],
                         env=env, capture_output=True, timeout=600)  # fmt: skip
    assert res.returncode == 0, res.stderr.decode()
    http_port, pg_port = free_port(), free_port()
    rep = _start(["replay", "--world", str(world), "--http", f"127.0.0.1:{http_port}",
                  "--pg", f"127.0.0.1:{pg_port}", "--confdir", str(confdir), "--latency", "off",
                  "--limits", "off", "--session-tape", str(tmp / "session.tape"),
                  "--report", str(tmp / "session.json")], tmp / "replay.log", env)  # fmt: skip
    ca = ssl.create_default_context(cafile=str(confdir / "mitmproxy-ca-cert.pem"))
    paths, stmts = load.sent_paths[:300], load.sent_sql[:300]
    sent = 0
    with httpx.Client(proxy=f"http://127.0.0.1:{http_port}", verify=ca, timeout=30) as c:
        for base, path in paths:
            r = c.get(base + path)
            assert r.status_code == 200, (path, r.status_code, r.text[:300])
            sent += 1
    with psycopg.connect(f"postgresql://soak@127.0.0.1:{pg_port}/soak", autocommit=True) as conn:
        for q, params in stmts:
            conn.execute(q, params).fetchall()
    rep.send_signal(signal.SIGINT)
    assert rep.wait(90) == 0, (tmp / "replay.log").read_text()
    report = json.loads((tmp / "session.json").read_text())
    assert report["totals"]["requests"] == sent and report["totals"]["miss"] == 0
    assert report["sql"]["matched"].get("miss", 0) == 0
    session = open_tape(tmp / "session.tape")
    assert session.count("http") == sent
    assert session.count("sql") >= len(stmts)


def test_soak_short(tmp_path: Path, mitm_confdir: Path, upstream_cert) -> None:
    _soak(tmp_path, float(os.environ.get("UNDERSTUDY_SOAK_SECONDS", "60")), mitm_confdir,
          upstream_cert)  # fmt: skip


@pytest.mark.slow
@pytest.mark.timeout(1200)  # ten minutes of load, then the replay: past the 300 s default
def test_soak_ten_minutes(tmp_path: Path, mitm_confdir: Path, upstream_cert) -> None:
    _soak(tmp_path, 600.0, mitm_confdir, upstream_cert)
