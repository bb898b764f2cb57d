"""HTTP/1.1 response bytes for the reverse-mode front door.

A recorded response is serialised once (keep-alive form) and cached on the response object;
the body is framed with Content-Length whatever the recording used.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

from replayer.core.types import MISS_STATUS, StoredResponse

__all__ = ["CONTINUE", "error_bytes", "reason", "response_bytes"]

CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
_REASONS: Final = {s.value: s.phrase for s in HTTPStatus}
_REASONS[MISS_STATUS] = "Understudy Miss"


def reason(status: int) -> str:
    """The reason phrase of ``status`` ("Understudy Miss" for 599, else the standard one)."""
    return _REASONS.get(status, "Status")


def _head(resp: StoredResponse, keep_alive: bool, length: int) -> bytearray:
    out = bytearray(b"HTTP/1.1 %d %s\r\n" % (resp.status, reason(resp.status).encode()))
    for name, value in resp.headers:
        out += name.encode("latin-1", "replace")
        out += b": "
        out += value.encode("utf-8", "surrogateescape")
        out += b"\r\n"
    if resp.status >= 200 and resp.status not in (204, 304):
        out += b"content-length: %d\r\n" % length
    if not keep_alive:
        out += b"connection: close\r\n"
    out += b"\r\n"
    return out


def response_bytes(resp: StoredResponse, *, keep_alive: bool = True, head: bool = False) -> bytes:
    """The response on the wire; the keep-alive GET form is cached on ``resp``."""
    if keep_alive and not head:
        wire = resp.wire
        if wire is None:
            body = resp.body if resp.status not in (204, 304) else b""
            wire = resp.wire = bytes(_head(resp, True, len(body)) + body)
        return wire
    out = _head(resp, keep_alive, len(resp.body))
    if not head and resp.status not in (204, 304):
        out += resp.body
    return bytes(out)


def error_bytes(status: int, message: str) -> bytes:
    """A small text/plain error answer that closes the connection."""
    body = (message + "\n").encode()
    return (
        b"HTTP/1.1 %d %s\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n"
        % (
            status,
            reason(status).encode(),
            len(body),
        )
        + b"connection: close\r\n\r\n"
        + body
    )
