"""Canary: secrets planted wherever clients and upstreams put them never reach the disk."""

from __future__ import annotations

import base64
import json
import secrets
import signal
from urllib.parse import quote_plus

import httpx
import pyarrow.parquet as pq
from http_tape_helpers import read_rows, trusting

from understudy.redact import Pseudonymizer


def canary(name: str) -> str:
    return f"{name}-{secrets.token_hex(12)}"


def test_no_secret_reaches_the_tape(
    tmp_path, start_recorder, upstream, tls_upstream, test_key
) -> None:
    rec = start_recorder(
        tmp_path / "canary.tape",
        "--redact-header", "X-Internal-Secret",
        "--redact-query", "cookie",  # the upstream is told which Set-Cookie to send
    )  # fmt: skip
    s = {k: canary(k) for k in (
        "bearer", "basic", "apikey", "cookie", "setcookie", "q_api_key", "q_access_token",
        "req_password", "req_token", "resp_password", "resp_token", "gz_password", "gz_token",
        "form_password", "tls_bearer", "internal",
    )}  # fmt: skip
    basic_b64 = base64.b64encode(f"alice:{s['basic']}".encode()).decode()
    with httpx.Client(proxy=rec.url, verify=trusting(rec.ca)) as c:
        base = upstream.url
        c.get(f"{base}/json", headers={"Authorization": f"Bearer {s['bearer']}"})
        c.get(f"{base}/json", auth=("alice", s["basic"]))
        c.get(
            f"{base}/json", headers={"X-Api-Key": s["apikey"], "X-Internal-Secret": s["internal"]}
        )
        c.get(f"{base}/json", headers={"Cookie": f"session={s['cookie']}; theme=dark"})
        c.get(f"{base}/secrets", params={"cookie": s["setcookie"]})
        c.get(f"{base}/json?api_key={s['q_api_key']}&access_token={s['q_access_token']}&page=1")
        c.post(
            f"{base}/sink",
            json={"user": {"credentials": {"password": s["req_password"]}},
                  "items": [{"token": s["req_token"], "n": 1}]},
        )  # fmt: skip
        # the upstream puts these into its JSON response (they also ride in the query)
        c.get(f"{base}/secrets", params={"password": s["resp_password"], "token": s["resp_token"]})
        r = c.get(
            f"{base}/secrets-gzip",
            params={"password": s["gz_password"], "token": s["gz_token"]},
            headers={"Accept-Encoding": "gzip"},
        )
        assert r.json()["user"]["auth"]["password"] == s["gz_password"]
        c.post(f"{base}/sink", data={"user": "bob", "password": s["form_password"]})
        c.get(f"{tls_upstream.url}/json", headers={"Authorization": f"Bearer {s['tls_bearer']}"})
    assert rec.stop(signal.SIGINT) == 0
    assert "11 http exchanges committed" in rec.stderr

    forbidden = [*s.values(), basic_b64]
    forbidden += [quote_plus(v) for v in forbidden]
    files = [p for p in rec.tape.rglob("*") if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files)
    # 1) raw bytes of every file in the tape directory
    for p in files:
        data = p.read_bytes()
        for secret in forbidden:
            assert secret.encode() not in data, (secret, p)
    # 2) every column of every row, decompressed (Parquet pages are zstd-compressed)
    decoded = []
    for p in rec.tape.rglob("*.parquet"):
        for row in pq.read_table(p).to_pylist():
            decoded.append(repr(row))
            for v in row.values():
                if isinstance(v, bytes):
                    decoded.append(v.decode("utf-8", "replace"))
    text = "\n".join(decoded)
    for secret in forbidden:
        assert secret not in text, secret
    assert all(secret not in rec.stderr for secret in forbidden)
    # 3) ...and the pseudonyms are there instead
    token = Pseudonymizer(test_key).token
    for expected in (
        token(s["bearer"]), token(basic_b64), token(s["apikey"]), token(s["internal"]),
        token(s["cookie"]), token(s["setcookie"]), token(s["req_password"]),
        token(s["req_token"]), token(s["resp_password"]), token(s["gz_token"]),
        token(s["form_password"]), token(s["tls_bearer"]),
    ):  # fmt: skip
        assert expected in text or quote_plus(expected) in text, expected
    rows = read_rows(rec.tape)
    identities = {r["identity"] for r in rows} - {None}
    assert {token(s["bearer"]), token(basic_b64), token(s["apikey"])} <= identities
    (gz,) = [r for r in rows if r["path"] == "/secrets-gzip"]
    assert gz["response_content_encoding"] == "gzip"
    body = json.loads(gz["response_body"])
    assert body["user"]["auth"]["password"] == token(s["gz_password"])
