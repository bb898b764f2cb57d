"""TLS on the relay's upstream leg, negotiated the PostgreSQL way (SSLRequest, then ``S``/``N``).

Clients never get TLS from the relay: it answers their SSLRequest with ``N`` itself (libpq's
default ``sslmode=prefer`` then continues in plaintext on the loopback). Towards the server,
``--pg-upstream-tls`` picks what libpq's ``sslmode`` of the same name does:

- ``disable``: plaintext;
- ``prefer``: ask for TLS, continue in plaintext if the server answers ``N``;
- ``require``: ask for TLS, fail the client's connection if the server refuses.

As with libpq's ``require``, the server certificate is not verified (there is no option for
a CA yet): the leg is encrypted, not authenticated.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import struct
from typing import Final, Protocol

from understudy.errors import ProtocolError
from understudy.pgwire import SSL_REQUEST_CODE

__all__ = ["SSL_REQUEST", "AnswerWaiter", "UpstreamTLSError", "client_context", "negotiate"]

SSL_REQUEST: Final = struct.pack("!II", 8, SSL_REQUEST_CODE)


class UpstreamTLSError(ProtocolError):
    """The upstream refused or botched the TLS upgrade the settings ask for."""


class AnswerWaiter(Protocol):
    """The upstream protocol object: it hands its next data chunk to ``answer``."""

    answer: asyncio.Future[bytes] | None


def client_context() -> ssl.SSLContext:
    """A client context for the upstream leg: modern TLS, no certificate verification."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _sni(host: str) -> str | None:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return None


async def negotiate(
    transport: asyncio.Transport,
    protocol: AnswerWaiter,
    *,
    mode: str,
    host: str,
    timeout: float = 10.0,
) -> asyncio.Transport:
    """Upgrade a fresh upstream connection as ``mode`` says; return the transport to use.

    Raises :class:`UpstreamTLSError` when ``require`` meets a refusal, when the server
    answers something other than one ``S`` or ``N`` byte (bytes after ``S`` would be
    plaintext injected before the handshake), or when the handshake fails.
    """
    if mode == "disable":
        return transport
    loop = asyncio.get_running_loop()
    answer = protocol.answer = loop.create_future()
    transport.write(SSL_REQUEST)
    try:
        data = await asyncio.wait_for(answer, timeout)
    except TimeoutError:
        raise UpstreamTLSError(f"no answer to SSLRequest within {timeout} s") from None
    finally:
        protocol.answer = None
    if data == b"N":
        if mode == "require":
            raise UpstreamTLSError("upstream refused TLS (answered N to SSLRequest)")
        return transport
    if data != b"S":
        raise UpstreamTLSError(f"unexpected answer to SSLRequest: {data[:16]!r}")
    try:
        upgraded = await asyncio.wait_for(
            loop.start_tls(transport, protocol, client_context(), server_hostname=_sni(host)),  # type: ignore[arg-type]
            timeout,
        )
    except (OSError, ssl.SSLError, TimeoutError) as exc:
        raise UpstreamTLSError(f"TLS handshake with upstream failed: {exc}") from exc
    if upgraded is None:
        raise UpstreamTLSError("TLS handshake with upstream failed: connection closed")
    return upgraded
