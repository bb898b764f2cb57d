"""Reading what a recorder wrote, for the HTTP recorder tests."""

from __future__ import annotations

import ssl
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from understudy.errors import TapeError
from understudy.tape import open_tape

Row = dict[str, Any]


def marker() -> str:
    """A unique value to find one test's rows in a shared tape."""
    return uuid.uuid4().hex[:12]


def read_rows(tape: Path) -> list[Row]:
    """Every committed ``http`` row, through pyarrow."""
    try:
        return open_tape(tape).read("http").to_pylist()
    except (TapeError, KeyError):
        return []


def wait_rows(
    tape: Path, pred: Callable[[Row], bool], n: int = 1, timeout: float = 15.0
) -> list[Row]:
    """Poll the tape until at least ``n`` rows match ``pred`` (they commit every flush)."""
    deadline = time.monotonic() + timeout
    while True:
        found = [r for r in read_rows(tape) if pred(r)]
        if len(found) >= n or time.monotonic() > deadline:
            assert len(found) >= n, f"expected {n} rows, found {len(found)}"
            return found
        time.sleep(0.1)


def with_query(text: str) -> Callable[[Row], bool]:
    return lambda r: text in (r["query"] or "")


def header(headers: list[dict[str, str]] | None, name: str) -> str | None:
    for h in headers or []:
        if h["name"].lower() == name.lower():
            return h["value"]
    return None


def trusting(ca: Path, *, http2: bool = False) -> ssl.SSLContext:
    """A client TLS context that trusts ``ca`` (e.g. mitmproxy's CA certificate)."""
    ctx = ssl.create_default_context(cafile=str(ca))
    if http2:  # httpx sets ALPN only on contexts it makes itself
        ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx
