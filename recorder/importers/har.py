"""HAR 1.2 files (browsers' dev tools, mitmproxy's ``hardump``, Charles, Fiddler) to flows.

A HAR stores bodies decoded (``content.text``, base64 when binary), real start times
(``startedDateTime``) and total times (``time``, ms), so imported exchanges keep their real
timing. Each entry becomes an :class:`~recorder.importers.flows.Imported` flow; an entry that
is not an HTTP exchange (``data:`` URLs, a CONNECT tunnel) becomes a
:class:`~recorder.importers.flows.Skip`. A file that is not HAR, or an entry lacking a
field HAR requires, raises :class:`~understudy.errors.ConfigError` naming the file and entry.

>>> import json, tempfile
>>> har = {"log": {"entries": [{"startedDateTime": "2026-01-02T03:04:05.000Z", "time": 12.5,
...     "request": {"method": "GET", "url": "http://h/x", "headers": []},
...     "response": {"status": 204, "headers": [], "content": {}}}]}}
>>> with tempfile.NamedTemporaryFile("w", suffix=".har") as f:
...     _ = f.write(json.dumps(har)); f.flush()
...     [i.flow.response.status_code for i in read_har(Path(f.name), 10**6)]
[204]
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from mitmproxy.net.http.headers import infer_content_encoding

from recorder.importers.flows import (
    Exchange,
    Imported,
    NotHttp,
    Skip,
    UrlError,
    http_version,
    to_imported,
)
from recorder.importers.source import maybe_decompress, read_bounded
from understudy.errors import ConfigError

__all__ = ["EntryError", "parse_entry", "read_har"]


class EntryError(ValueError):
    """A HAR entry lacks a required field or has one of the wrong type."""


def _obj(node: Any, where: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise EntryError(f"{where} is missing or not an object")
    return node


def _str(d: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = d.get(key, default)
    if not isinstance(value, str):
        raise EntryError(f"{where}.{key} is missing or not a string")
    return value


def _num(d: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    value = d.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise EntryError(f"{where}.{key} is missing or not a finite number")
    return float(value)


def _headers(d: dict[str, Any], where: str) -> list[tuple[str, str]]:
    raw = d.get("headers", [])
    if not isinstance(raw, list):
        raise EntryError(f"{where}.headers is not a list")
    out = []
    for i, h in enumerate(raw):
        h = _obj(h, f"{where}.headers[{i}]")
        at = f"{where}.headers[{i}]"
        out.append((_str(h, "name", at), _str(h, "value", at)))
    return out


def _header(headers: list[tuple[str, str]], name: str) -> str:
    return next((v for k, v in headers if k.lower() == name), "")


def _text_bytes(text: str, encoding: str | None, ctype: str, where: str) -> bytes:
    """HAR body text as the bytes that went over the wire (after Content-Encoding)."""
    if encoding == "base64":
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise EntryError(f"{where}.text is not valid base64") from None
    if encoding:
        raise EntryError(f"{where}.encoding {encoding[:40]!r} is not supported (only base64)")
    try:  # the inverse of how mitmproxy's hardump decoded it
        return text.encode(infer_content_encoding(ctype), "surrogateescape")
    except (UnicodeEncodeError, LookupError):
        return text.encode("utf-8", "backslashreplace")


def _started(entry: dict[str, Any]) -> float:
    text = _str(entry, "startedDateTime", "entry")
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise EntryError(f"entry.startedDateTime {text[:60]!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _request_body(req: dict[str, Any], headers: list[tuple[str, str]]) -> bytes:
    post = req.get("postData")
    if post is None:
        return b""
    post = _obj(post, "request.postData")
    ctype = post.get("mimeType") if isinstance(post.get("mimeType"), str) else ""
    ctype = ctype or _header(headers, "content-type")
    text = post.get("text")
    if isinstance(text, str):
        return _text_bytes(text, post.get("encoding"), ctype, "request.postData")
    if text is not None:
        raise EntryError("request.postData.text is not a string")
    params = post.get("params", [])
    if not isinstance(params, list):
        raise EntryError("request.postData.params is not a list")
    pairs = []
    for i, p in enumerate(params):
        p = _obj(p, f"request.postData.params[{i}]")
        pairs.append((_str(p, "name", "request.postData.params"), str(p.get("value") or "")))
    return urlencode(pairs).encode()


def parse_entry(entry: Any) -> Imported | Skip:
    """One HAR entry as a flow to record, or why it is skipped; raises :class:`EntryError`."""
    entry = _obj(entry, "entry")
    ts_start = _started(entry)
    total_ms = max(0.0, _num(entry, "time", "entry", 0.0))
    req = _obj(entry.get("request"), "request")
    resp = _obj(entry.get("response"), "response")
    method = _str(req, "method", "request")
    if not method or not method.isascii() or not method.strip() == method:
        raise EntryError(f"request.method {method[:40]!r} is not an HTTP method")
    url = _str(req, "url", "request")
    req_headers = _headers(req, "request")
    status = int(_num(resp, "status", "response"))
    if method.upper() == "CONNECT" and 200 <= status < 300:
        return Skip("CONNECT tunnel (its exchanges are separate entries)")
    resp_headers = _headers(resp, "response")
    content = _obj(resp.get("content", {}), "response.content")
    text = content.get("text")
    overrides: dict[str, Any] = {"duration_ms": total_ms}  # exact, not a float difference
    if isinstance(text, str):
        ctype = content.get("mimeType") if isinstance(content.get("mimeType"), str) else ""
        body = _text_bytes(
            text, content.get("encoding"), ctype or _header(resp_headers, "content-type"),
            "response.content",
        )  # fmt: skip
    elif text is None:
        body = b""
        size = content.get("size")
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            # the HAR writer left the body out (Firefox does for images): say so in the row
            overrides.update(response_body_size=size, response_body_truncated=True)
    else:
        raise EntryError("response.content.text is not a string")
    if not 0 <= status <= 999:
        raise EntryError(f"response.status {status} is not an HTTP status")
    status_text = resp.get("statusText")
    error = resp.get("_error") or entry.get("_error")
    server_ip = entry.get("serverIPAddress")
    ex = Exchange(
        method=method,
        url=url,
        ts_start=ts_start,
        ts_end=ts_start + total_ms / 1000.0,
        status=status if status >= 100 else None,  # 0: the request got no response
        reason=status_text if isinstance(status_text, str) else "",
        http_version=http_version(req.get("httpVersion")),
        request_headers=req_headers,
        request_body=_request_body(req, req_headers),
        request_decoded=True,
        response_headers=resp_headers,
        response_body=body,
        response_decoded=True,
        error=str(error)[:500] if error else None,
        server_ip=server_ip.strip("[]") if isinstance(server_ip, str) and server_ip else None,
    )
    try:
        return to_imported(ex, **overrides)
    except NotHttp as exc:
        return Skip(str(exc))
    except UrlError as exc:
        raise EntryError(str(exc)) from None


def _load(path: Path, data: bytes) -> list[Any]:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a HAR file: not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path}: not a HAR file: invalid JSON at line {exc.lineno} column {exc.colno} "
            f"({exc.msg})"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: not a HAR file: JSON nested too deeply") from None
    log = doc.get("log") if isinstance(doc, dict) else None
    entries = log.get("entries") if isinstance(log, dict) else None
    if not isinstance(entries, list):
        raise ConfigError(f"{path}: not a HAR file: no log.entries list")
    return entries


def read_har(path: Path, max_size: int) -> Iterator[Imported | Skip]:
    """Flows (or skips) of every entry of the HAR file ``path``, in file order.

    The file is parsed whole first (a HAR is one JSON document); gzip- or zlib-compressed
    files (``.har.gz``, mitmproxy's ``.zhar``) are decompressed, bounded by ``max_size``.
    """
    entries = _load(path, maybe_decompress(path, read_bounded(path, max_size), max_size))
    for i, entry in enumerate(entries):
        try:
            item = parse_entry(entry)
        except EntryError as exc:
            raise ConfigError(f"{path}: entry {i}: {exc}") from None
        yield item
