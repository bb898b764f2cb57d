"""``--on-miss forward`` in reverse mode: send a missed request to the real upstream.

Only ever called for a miss when the user asked for forwarding (default deny). One
connection per forwarded request (misses are the exception), HTTP/1.1 through the ``h11``
state machine on asyncio streams, bounded in time and size. The answer comes back decoded
(no Content-Encoding), like every replayed answer, so the session tape stores plain bytes.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import h11

from replayer.core.responses import clean_headers
from replayer.core.types import Headers, StoredResponse
from replayer.http.decode import decode_request_body
from understudy.errors import ConfigError

__all__ = ["ForwardError", "ForwardTarget", "forward"]

_HOP: Final = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade",
     "trailer", "host", "content-length", "expect"}
)  # fmt: skip
MAX_FORWARD_BODY: Final = 64 * 1024 * 1024


class ForwardError(Exception):
    """The upstream could not be reached or answered badly."""


@dataclass(frozen=True, slots=True)
class ForwardTarget:
    """Where misses go: ``scheme://host:port`` plus an optional base path."""

    scheme: str
    host: str
    port: int
    base_path: str = ""

    @classmethod
    def parse(cls, url: str) -> ForwardTarget:
        """Parse ``http(s)://HOST[:PORT][/base]``; raise :class:`ConfigError` if it is not."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"invalid upstream URL {url!r}: use http(s)://HOST[:PORT]")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError as exc:
            raise ConfigError(f"invalid port in upstream URL {url!r}") from exc
        return cls(parts.scheme, parts.hostname.lower(), port, parts.path.rstrip("/"))

    @property
    def authority(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


async def _exchange(
    target: ForwardTarget, method: str, path: str, headers: Headers, body: bytes
) -> StoredResponse:
    ctx = ssl.create_default_context() if target.scheme == "https" else None
    try:
        reader, writer = await asyncio.open_connection(
            target.host, target.port, ssl=ctx, server_hostname=target.host if ctx else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise ForwardError(f"upstream refused: {exc}") from exc
    conn = h11.Connection(h11.CLIENT)
    out = [(k, v) for k, v in headers if k.lower() not in _HOP]
    out += [("Host", target.authority), ("Connection", "close"),
            ("Content-Length", str(len(body)))]  # fmt: skip
    try:
        writer.write(conn.send(h11.Request(method=method, target=path, headers=out)) or b"")
        writer.write(conn.send(h11.Data(data=body)) if body else b"")
        writer.write(conn.send(h11.EndOfMessage()) or b"")
        await writer.drain()
        status, resp_headers, chunks, size = 0, [], [], 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                conn.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Response):
                status = event.status_code
                resp_headers = [(k.decode("latin-1"), v.decode("utf-8", "surrogateescape"))
                                for k, v in event.headers]  # fmt: skip
            elif isinstance(event, h11.Data):
                size += len(event.data)
                if size > MAX_FORWARD_BODY:
                    raise ForwardError("upstream answer larger than the forwarding cap")
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
                break
    except (OSError, h11.ProtocolError, ssl.SSLError) as exc:
        raise ForwardError(f"upstream disconnected: {exc}") from exc
    finally:
        writer.close()
    encoding = next((v for k, v in resp_headers if k.lower() == "content-encoding"), None)
    data = decode_request_body(b"".join(chunks), encoding, MAX_FORWARD_BODY)
    return StoredResponse(status, clean_headers(resp_headers), data)


async def forward(
    target: ForwardTarget,
    method: str,
    path_query: str,
    headers: Headers,
    body: bytes,
    *,
    timeout: float = 30.0,
) -> StoredResponse:
    """The upstream's answer to the request; raise :class:`ForwardError` on failure."""
    try:
        async with asyncio.timeout(timeout):
            return await _exchange(target, method, target.base_path + path_query, headers, body)
    except TimeoutError as exc:
        raise ForwardError(f"timeout: the upstream did not answer within {timeout:g} s") from exc
