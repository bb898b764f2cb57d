# mitmproxy is not fully annotated:
# mypy: disallow-untyped-calls=False
"""Foreign exchanges (a HAR entry, a cassette interaction) as mitmproxy flows.

Importers turn what they parse into an :class:`Exchange` and then into a real
:class:`mitmproxy.http.HTTPFlow`, so that the recorder's own row builder
(:func:`recorder.http.rows.flow_to_row`) makes the tape row: the same redaction, the same
identity pseudonym, the same body cap as live capture. Bodies that the source already stores
decoded (HAR text, some cassettes) are flagged with
:data:`~recorder.http.rows.DECODED_BODIES` so they are not decoded twice.

>>> ex = Exchange(method="GET", url="https://api.example.com/v1/items?id=3",
...               ts_start=1.0, ts_end=1.25, status=200)
>>> flow = build_flow(ex)
>>> flow.request.host, flow.request.port, flow.request.path, flow.response.status_code
('api.example.com', 443, '/v1/items?id=3', 200)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Final
from urllib.parse import urlsplit

from mitmproxy import connection, http
from mitmproxy.flow import Error

from recorder.http.rows import DECODED_BODIES

__all__ = [
    "Exchange",
    "Imported",
    "NotHttp",
    "Skip",
    "UrlError",
    "build_flow",
    "http_version",
    "split_url",
    "to_imported",
]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}


class UrlError(ValueError):
    """A URL an exchange cannot be built from (the message says why)."""


class NotHttp(UrlError):
    """A well-formed URL of another scheme (``data:``, ``ws:``...): skipped, not an error."""


@dataclass(frozen=True, slots=True)
class Skip:
    """An item of the input that is well formed but not an HTTP exchange, and why."""

    reason: str


@dataclass(slots=True)
class Exchange:
    """One HTTP exchange as a foreign format describes it, before redaction."""

    method: str
    url: str
    ts_start: float
    ts_end: float
    status: int | None = None  # None: no response (see ``error``)
    reason: str = ""
    http_version: str = "HTTP/1.1"
    request_headers: Sequence[tuple[str, str]] = ()
    request_body: bytes = b""
    request_decoded: bool = False
    response_headers: Sequence[tuple[str, str]] = ()
    response_body: bytes = b""
    response_decoded: bool = False
    error: str | None = None
    server_ip: str | None = None


@dataclass(slots=True)
class Imported:
    """A flow to turn into a row, and row columns the source knows better than the flow."""

    flow: http.HTTPFlow
    overrides: dict[str, Any] = field(default_factory=dict)


def split_url(url: str) -> tuple[str, str, int, str]:
    """``(scheme, host, port, path_and_query)`` of an absolute http(s) URL.

    Raises :class:`UrlError` for a malformed URL and :class:`NotHttp` for another scheme.

    >>> split_url("http://[::1]:8080/a/b?x=1#frag")
    ('http', '::1', 8080, '/a/b?x=1')
    >>> split_url("https://Example.COM")
    ('https', 'example.com', 443, '/')
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlError(f"invalid URL {url[:200]!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise NotHttp(f"{scheme or 'scheme-less'} URL (not HTTP)")
    host = parts.hostname
    if not host:
        raise UrlError(f"invalid URL {url[:200]!r}: no host")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, host, port if port is not None else _DEFAULT_PORTS[scheme], path


def http_version(text: str | None) -> str:
    """A protocol name as mitmproxy spells it (``HTTP/1.1``, ``HTTP/2.0``, ``HTTP/3``).

    >>> http_version("h2"), http_version("http/2.0"), http_version(""), http_version("HTTP/1.0")
    ('HTTP/2.0', 'HTTP/2.0', 'HTTP/1.1', 'HTTP/1.0')
    """
    t = (text or "").strip().lower()
    if t in ("h2", "http/2", "http/2.0", "h2c"):
        return "HTTP/2.0"
    if t in ("h3", "http/3", "http/3.0"):
        return "HTTP/3"
    if t == "http/1.0":
        return "HTTP/1.0"
    return "HTTP/1.1"


def _headers(pairs: Sequence[tuple[str, str]]) -> http.Headers:
    fields = [
        (k.encode("utf-8", "backslashreplace"), v.encode("utf-8", "backslashreplace"))
        for k, v in pairs
        if not k.startswith(":")  # HTTP/2 pseudo-headers: live capture never stores them
    ]
    return http.Headers(fields)


def _reason(status: int, reason: str) -> bytes:
    if reason:
        return reason.encode("latin-1", "replace")
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def build_flow(ex: Exchange) -> http.HTTPFlow:
    """A completed (or failed) mitmproxy flow for ``ex``; raises :class:`UrlError`."""
    scheme, host, port, path = split_url(ex.url)
    version = ex.http_version.encode()
    client = connection.Client(peername=("", 0), sockname=("", 0), timestamp_start=ex.ts_start)
    server = connection.Server(address=(ex.server_ip or host, port))
    if ex.server_ip:
        server.peername = (ex.server_ip, port)
    flow = http.HTTPFlow(client, server)
    flow.request = http.Request(
        host=host,
        port=port,
        method=ex.method.encode("ascii", "replace"),
        scheme=scheme.encode(),
        authority=b"",
        path=path.encode("utf-8", "backslashreplace"),
        http_version=version,
        headers=_headers(ex.request_headers),
        content=ex.request_body,
        trailers=None,
        timestamp_start=ex.ts_start,
        timestamp_end=ex.ts_start,
    )
    if ex.status is not None:
        flow.response = http.Response(
            http_version=version,
            status_code=ex.status,
            reason=_reason(ex.status, ex.reason),
            headers=_headers(ex.response_headers),
            content=ex.response_body,
            trailers=None,
            timestamp_start=ex.ts_end,
            timestamp_end=ex.ts_end,
        )
    else:
        flow.error = Error(ex.error or "no response recorded", timestamp=ex.ts_end)
    plain = tuple(
        name
        for name, flag in (("request", ex.request_decoded), ("response", ex.response_decoded))
        if flag
    )
    if plain:
        flow.metadata[DECODED_BODIES] = plain
    return flow


def to_imported(ex: Exchange, **overrides: Any) -> Imported:
    """:func:`build_flow` for ``ex``; foreign formats do not know the client's address."""
    return Imported(build_flow(ex), {"client_addr": None, **overrides})
