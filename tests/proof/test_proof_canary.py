"""One canary across the whole pipeline: secrets planted in every place they hide, recorded
(HTTP and PostgreSQL, through one recorder), analyzed (world and HTML report), replayed to a
candidate sending the same secrets (session tape and report): not one byte of any secret
reaches any file written, or any log.

Every file under the test's directory is scanned twice: its raw bytes, and for Parquet files
every value decoded (pages are zstd-compressed, so raw bytes alone would prove nothing), with
gzip-looking binary values decompressed too.
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import httpx
import psycopg
import pyarrow.parquet as pq
import pytest

from understudy.testing.postgres import PostgresServer, free_port

UNDERSTUDY = Path(sys.executable).parent / "understudy"
APP_USER = "canary_app"


def _canary(name: str) -> str:
    return f"{name}{secrets.token_hex(10)}"


@pytest.fixture(scope="module")
def secret() -> dict[str, str]:
    names = ("bearer", "basic", "apikey", "cookie", "query", "jsonpw", "jsontok", "formpw",
             "multipw", "jwtsig", "gzpw", "pgpass", "bindpw", "bindtok", "literal")  # fmt: skip
    return {n: _canary(n) for n in names}


@pytest.fixture(scope="module")
def pg(secret: dict[str, str]) -> Any:
    server = PostgresServer.start(settings={"password_encryption": "'scram-sha-256'"})
    try:
        hba = server.data_dir / "pg_hba.conf"
        hba.write_text(f"host all {APP_USER} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        server.psql(f"CREATE ROLE {APP_USER} LOGIN PASSWORD '{secret['pgpass']}'")
        server.psql("CREATE TABLE accounts (id int PRIMARY KEY, name text, password text, "
                    "api_token text)")  # fmt: skip
        server.psql(f"GRANT ALL ON accounts TO {APP_USER}")
        server.psql("SELECT pg_reload_conf()")
        yield server
    finally:
        server.stop()


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERSTUDY_")}
    env.update(UNDERSTUDY_KEY_FILE=str(tmp / "key"), PYTHONUNBUFFERED="1", TMPDIR=str(tmp / "t"))
    (tmp / "t").mkdir(exist_ok=True)
    return env


def _start(tmp: Path, name: str, argv: list[str], port: int) -> subprocess.Popen[bytes]:
    with (tmp / f"{name}.log").open("wb") as log:
        proc = subprocess.Popen([str(UNDERSTUDY), *argv], env=_env(tmp), stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp / f"{name}.log").read_text()
        if "stop with Ctrl-C" in (tmp / f"{name}.log").read_text():
            return proc
        time.sleep(0.1)
    raise TimeoutError(f"{name} did not start")


def _jwt(sig: str) -> str:
    def b64(d: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': 'alice'})}.{sig}"


def _traffic(http_base: str, pg_port: int, s: dict[str, str]) -> None:
    """The same secret-laden session for production and for the candidate."""
    with httpx.Client(base_url=http_base, timeout=30) as c:
        assert c.get("/json", headers={"Authorization": f"Bearer {s['bearer']}"}).status_code
        c.get("/json", auth=("alice", s["basic"]))
        c.get("/json", headers={"X-Api-Key": s["apikey"], "Cookie": f"session={s['cookie']}"})
        c.get(f"/json?api_key={s['query']}&page=1")
        doc = {"user": {"password": s["jsonpw"]}, "items": [{"token": s["jsontok"]}]}
        c.post("/sink", json=doc)
        c.post("/sink", data={"user": "bob", "password": s["formpw"]})
        c.post("/sink", files={"password": (None, s["multipw"]), "note": (None, "hello")})
        c.get("/json", headers={"X-Session": _jwt(s["jwtsig"])})
        c.get("/secrets-gzip", params={"password": s["gzpw"]}, headers={"Accept-Encoding": "gzip"})
    dsn = f"postgresql://{APP_USER}:{s['pgpass']}@127.0.0.1:{pg_port}/understudy"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM accounts")
        conn.execute("INSERT INTO accounts (id, name, password, api_token) VALUES (%s, %s, %s, %s)",
                     (1, "alice", s["bindpw"], s["bindtok"]))  # fmt: skip
        conn.execute(f"SELECT id FROM accounts WHERE api_token = '{s['literal']}'").fetchall()
        conn.execute("SELECT id, password, api_token FROM accounts").fetchall()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 0


def _values(v: Any) -> list[str]:
    if isinstance(v, dict):
        return [x for item in v.values() for x in _values(item)]
    if isinstance(v, list | tuple):
        return [x for item in v for x in _values(item)]
    if isinstance(v, bytes):
        out = [v.decode("utf-8", "replace")]
        if v[:2] == b"\x1f\x8b":
            try:
                out.append(gzip.decompress(v).decode("utf-8", "replace"))
            except OSError:
                pass
        return out
    return [] if v is None else [str(v)]


def test_no_secret_reaches_any_file_or_log(tmp_path: Path, upstream, pg, secret) -> None:
    s = secret
    tape, world = tmp_path / "prod.tape", tmp_path / "prod.world"
    http_port, pg_port = free_port(), free_port()
    rec = _start(tmp_path, "record", [
        "record", "--tape", str(tape), "--mode", f"reverse:{upstream.url}",
        "--http", f"127.0.0.1:{http_port}", "--pg", f"127.0.0.1:{pg_port}",
        "--pg-upstream", f"127.0.0.1:{pg.port}", "--confdir", str(tmp_path / "mitm"),
    ], http_port)  # fmt: skip
    try:
        _traffic(f"http://127.0.0.1:{http_port}", pg_port, s)
    finally:
        _stop(rec)
    res = subprocess.run(
        [str(UNDERSTUDY), "analyze", str(tape), "--world", str(world),
         "--report", str(tmp_path / "report.html")],
        env=_env(tmp_path), capture_output=True, timeout=300,
    )  # fmt: skip
    (tmp_path / "analyze.log").write_bytes(res.stdout + res.stderr)
    assert res.returncode == 0, res.stderr.decode()
    http2, pg2 = free_port(), free_port()
    rep = _start(tmp_path, "replay", [
        "replay", "--world", str(world), "--mode", f"reverse:{upstream.url}",
        "--http", f"127.0.0.1:{http2}", "--pg", f"127.0.0.1:{pg2}", "--latency", "off",
        "--session-tape", str(tmp_path / "session.tape"),
        "--report", str(tmp_path / "session.json"),
    ], http2)  # fmt: skip
    try:
        _traffic(f"http://127.0.0.1:{http2}", pg2, s)
    finally:
        _stop(rep)

    basic_b64 = base64.b64encode(f"alice:{s['basic']}".encode()).decode()
    forbidden = [*s.values(), basic_b64]
    forbidden += [quote_plus(v) for v in forbidden]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "key"]
    parquet = [p for p in files if p.suffix == ".parquet"]
    kinds = {p.parent.name for p in parquet}
    assert {"http", "sql"} <= kinds and len(parquet) >= 6, sorted(map(str, parquet))
    assert (tmp_path / "report.html").stat().st_size > 1000
    leaks = []
    for p in files:
        data = p.read_bytes()
        leaks += [(p.name, "raw", x) for x in forbidden if x.encode() in data]
    for p in parquet:
        text = "\n".join(_values(pq.read_table(p).to_pylist()))
        leaks += [(str(p.relative_to(tmp_path)), "value", x) for x in forbidden if x in text]
    assert leaks == [], "\n".join(map(str, leaks))
