"""Helpers for the import/export tests: the traffic they drive and the CLI as a process."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from click.testing import CliRunner, Result

from understudy.cli import cli
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor
from understudy.tape import open_tape

UNDERSTUDY = Path(sys.executable).parent / "understudy"
MITMDUMP = Path(sys.executable).parent / "mitmdump"

ALICE = {"Authorization": "Bearer sk_live_alice_secret"}
BOB = {"X-Api-Key": "key-bob-secret"}
SECRETS = ("sk_live_alice_secret", "key-bob-secret", "hunter2", "tok-123-secret")


@dataclass
class Sent:
    """One request a test sent and what the client got back."""

    method: str
    path: str
    query: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


def drive(base_url: str) -> list[Sent]:
    """A small, varied workload: two identities, secrets, gzip, a POST, a binary body."""
    plan: list[tuple[str, str, dict[str, str], dict[str, Any]]] = [
        ("GET", "/json", ALICE, {}),
        ("GET", "/json", ALICE, {}),
        ("GET", "/json", ALICE, {}),
        ("GET", "/n/1", BOB, {}),
        ("GET", "/n/2", BOB, {}),
        ("GET", "/n/3", BOB, {}),
        ("GET", "/secrets?password=hunter2&token=tok-123-secret", ALICE, {}),
        ("GET", "/encoded/gzip", BOB, {}),
        ("POST", "/sink", ALICE, {"json": {"password": "hunter2", "name": "widget"}}),
        ("GET", "/random?size=3000", BOB, {}),
    ]
    sent = []
    # The three GET /json must be answered within one clock second: the upstream's Date
    # header is part of what makes two responses the same one in a world.
    if (into := time.time() % 1.0) > 0.5:
        time.sleep(1.0 - into + 0.01)
    with httpx.Client(base_url=base_url, timeout=30) as c:
        for method, target, headers, kw in plan:
            r = c.request(method, target, headers=headers, **kw)
            path, _, query = target.partition("?")
            sent.append(Sent(method, path, query, r.status_code, r.content, headers))
    return sent


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``understudy ARGS...`` as a real process."""
    return subprocess.run(
        [str(UNDERSTUDY), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def invoke(*args: str, key: bytes) -> Result:
    """``understudy ARGS...`` in this process (fast; the real binary is :func:`run_cli`)."""
    return CliRunner().invoke(cli, list(args), env={"UNDERSTUDY_KEY": key.hex()})


def rows(tape: Path) -> list[dict[str, Any]]:
    return open_tape(tape).read("http").to_pylist()


def pseudonym(key: bytes, headers: dict[str, str]) -> str | None:
    """The identity the recorder derives from ``headers`` under ``key``."""
    redactor = Redactor(RedactionPolicy(), Pseudonymizer(key))
    return redactor.redact_headers(list(headers.items()))[1]


def leaked(row: dict[str, Any]) -> list[str]:
    """Secrets of :data:`SECRETS` found anywhere in a tape row."""
    text = repr(row)
    return [s for s in SECRETS if s in text]
