"""Adapt a mitmproxy flow into one ``http`` tape row: pure, no IO, no global options.

Everything that reaches the row is redacted here, before any byte leaves this function:
headers (:meth:`Redactor.redact_headers`), the query string (:meth:`Redactor.redact_query`)
and both bodies (:meth:`Redactor.redact_body`, on the decoded body).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from mitmproxy import http

from recorder.http.decode import DEFAULT_CEILING, decode_body
from understudy.redact import Redactor

__all__ = [
    "DECODED_BODIES",
    "DEFAULT_MAX_BODY",
    "CaptureSettings",
    "error_text",
    "flow_kind",
    "flow_to_row",
    "format_addr",
    "row_nbytes",
]

DEFAULT_MAX_BODY: Final = 1024 * 1024
#: Flow metadata key naming the messages (``"request"``, ``"response"``) whose bodies are
#: already decoded from their Content-Encoding: flows built by the importers from HAR files
#: and cassettes. Live capture never sets it.
DECODED_BODIES: Final = "understudy.decoded_bodies"
#: Bodies up to this size are decoded whole so that JSON and forms are redacted as documents.
DEFAULT_REDACT_WINDOW: Final = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class CaptureSettings:
    """What the capture hooks need to know, validated once (``configure`` or the CLI)."""

    max_body: int = DEFAULT_MAX_BODY
    redact_window: int = DEFAULT_REDACT_WINDOW
    size_ceiling: int = DEFAULT_CEILING

    @property
    def decode_keep(self) -> int:
        return max(self.max_body, self.redact_window)


# mitmproxy's error messages -> short, stable texts; the detail is kept after a colon.
_ERRORS: Final = (
    (re.compile(r"connection killed", re.I), "killed by recorder"),
    (re.compile(r"client disconnected|client closed|stream reset by client", re.I),
     "client disconnected"),
    (re.compile(r"refused|connect call failed", re.I), "upstream refused"),
    (re.compile(r"timed? ?out", re.I), "timeout"),
    (re.compile(r"name or service|nodename|getaddrinfo|name resolution|no address", re.I),
     "upstream unresolvable"),
    (re.compile(r"tls|ssl|certificate|handshake", re.I), "tls failure"),
    (re.compile(r"server disconnected|reset by peer|connection reset|peer closed|"
                r"broken pipe|\beof\b|incomplete|server closed", re.I), "upstream disconnected"),
    (re.compile(r"exceeds .*body_size_limit", re.I), "body too large"),
    (re.compile(r"smuggling|malformed|invalid|bad request|protocol error", re.I),
     "protocol error"),
)  # fmt: skip


def error_text(msg: str, *, request_complete: bool = True) -> str:
    """Map a mitmproxy ``flow.error.msg`` to ``"<short stable text>: <detail>"``.

    mitmproxy says "peer closed connection" for either side; a peer that closed before the
    request was complete is the client.

    >>> error_text("Connect call failed ('127.0.0.1', 1)")
    "upstream refused: Connect call failed ('127.0.0.1', 1)"
    >>> error_text("peer closed connection", request_complete=False)
    'client disconnected: peer closed connection'
    """
    detail = msg.strip() or "unknown error"
    short = next((s for pattern, s in _ERRORS if pattern.search(detail)), "proxy error")
    if short == "upstream disconnected" and not request_complete:
        short = "client disconnected"
    return f"{short}: {detail}"


def format_addr(addr: Any) -> str | None:
    """``ip:port`` (``[ip]:port`` for IPv6) of a socket address tuple, or None.

    >>> format_addr(("127.0.0.1", 8080)), format_addr(("::1", 80, 0, 0)), format_addr(None)
    ('127.0.0.1:8080', '[::1]:80', None)
    """
    if not addr:
        return None
    host, port = str(addr[0]), addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _text(data: bytes) -> str:
    """Header bytes as text: UTF-8, else backslash-escaped (never invalid UTF-8 in the tape)."""
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data.decode("utf-8", "backslashreplace")


def _safe(text: str) -> str:
    """A str from mitmproxy (surrogate-escaped) as valid UTF-8 text."""
    if text.isascii():
        return text
    try:
        text.encode()
    except UnicodeEncodeError:
        return _text(text.encode("utf-8", "surrogateescape"))
    return text


def _headers(fields: Iterable[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    return [(_text(k), _text(v)) for k, v in fields]


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


def flow_kind(flow: http.HTTPFlow) -> str:
    """``websocket``, ``stream`` (a body was streamed, not buffered) or ``http``."""
    if flow.websocket is not None:
        return "websocket"
    if flow.request.stream or (flow.response is not None and flow.response.stream):
        return "stream"
    return "http"


def _declared_size(msg: http.Message) -> int | None:
    value = msg.headers.get("content-length")
    if value is None:
        return None
    try:
        size = int(value.strip())
    except ValueError:
        return None
    return size if size >= 0 else None


def _body(
    msg: http.Message | None, settings: CaptureSettings, redactor: Redactor, plain: bool = False
) -> tuple[bytes, int | None, bool, str | None, str | None]:
    """(stored body, decoded size, truncated, content encoding, decoding error) of a message.

    ``plain``: the body is already decoded (the encoding is still reported, not applied).
    """
    if msg is None:
        return b"", None, False, None, None
    encoding = msg.headers.get("content-encoding")
    if encoding is not None:
        encoding = _safe(encoding)
    raw = msg.raw_content
    if raw is None:
        if not msg.stream:  # no body at all (e.g. CONNECT)
            return b"", 0, False, encoding, None
        size = _declared_size(msg)  # streamed: the body went by without being kept
        return b"", size, size != 0, encoding, None
    max_body = settings.max_body
    decoded = decode_body(
        raw, None if plain else encoding, keep=settings.decode_keep, ceiling=settings.size_ceiling
    )
    data = decoded.data
    ctype = msg.headers.get("content-type")
    if decoded.complete:  # the whole body (decoded, or raw if it did not decode)
        data = redactor.redact_body(data, ctype)
        truncated = len(data) > max_body
    else:
        # Larger than the redaction window: a cut document cannot be parsed, so structured
        # bodies are dropped rather than stored unredacted; other bytes get the JWT pass.
        head = data.lstrip()[:1]
        lctype = (ctype or "").lower()
        if "json" in lctype or "form" in lctype or head in (b"{", b"["):
            data = b""
        else:
            data = redactor.redact_body(data[:max_body], "application/octet-stream")
        truncated = True
    if len(data) > max_body:
        data = data[:max_body]
    return data, decoded.size, truncated, encoding, decoded.error


def _micros(ts: float | None) -> int | None:
    return None if ts is None else int(ts * 1_000_000)


def flow_to_row(
    flow: http.HTTPFlow, settings: CaptureSettings, redactor: Redactor
) -> dict[str, Any]:
    """One ``HTTP_SCHEMA`` row for ``flow``, every column filled, secrets redacted."""
    req = flow.request
    resp = flow.response
    raw_req_headers = _headers(req.headers.fields)
    req_headers, identity = redactor.redact_headers(raw_req_headers)
    resp_headers = redactor.redact_headers(_headers(resp.headers.fields))[0] if resp else None
    path, _, query = _text(req.data.path).partition("?")
    plain = flow.metadata.get(DECODED_BODIES, ())
    req_body, req_size, req_trunc, req_enc, req_err = _body(
        req, settings, redactor, "request" in plain
    )
    resp_body, resp_size, resp_trunc, resp_enc, resp_err = _body(
        resp, settings, redactor, "response" in plain
    )

    ts_start = req.timestamp_start
    ts_end: float | None = None
    errors = []
    if flow.error is not None:
        ts_end = flow.error.timestamp
        errors.append(error_text(flow.error.msg, request_complete=req.timestamp_end is not None))
    elif resp is not None:
        ts_end = resp.timestamp_end or resp.timestamp_start
        if req.method == "CONNECT" and resp.status_code >= 400:  # mitmproxy's own 502
            detail = (resp.raw_content or b"").decode("utf-8", "replace")
            errors.append(error_text(detail.split(" If you plan", 1)[0] or resp.reason))
    errors += [e for e in (req_err, resp_err) if e]
    if ts_end is None:
        ts_end = req.timestamp_end or ts_start

    return {
        "exchange_id": flow.id.replace("-", ""),
        "ts_start": _micros(ts_start),
        "ts_end": _micros(ts_end),
        "duration_ms": max(0.0, (ts_end - ts_start) * 1000.0),
        "method": _safe(req.method),
        "scheme": _safe(req.scheme),
        "host": _safe(req.host),
        "port": req.port,
        "path": path,
        "query": redactor.redact_query(query),
        "http_version": _safe(req.http_version),
        "status": resp.status_code if resp is not None else None,
        "request_headers": req_headers,
        "response_headers": resp_headers,
        "request_body": req_body,
        "response_body": resp_body,
        "request_body_size": req_size,
        "response_body_size": resp_size,
        "request_body_truncated": req_trunc,
        "response_body_truncated": resp_trunc,
        "request_content_encoding": req_enc,
        "response_content_encoding": resp_enc,
        "identity": identity,
        "client_addr": format_addr(flow.client_conn.peername),
        "server_addr": format_addr(flow.server_conn.peername),
        "traceparent": _header(raw_req_headers, "traceparent"),
        "flow_kind": flow_kind(flow),
        "error": "; ".join(errors) if errors else None,
    }


def row_nbytes(row: dict[str, Any]) -> int:
    """A cheap estimate of a row's size in memory, for the writer's byte-based flush."""
    return 512 + len(row["request_body"]) + len(row["response_body"])
