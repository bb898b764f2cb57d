"""A world out to a HAR 1.2 file, for HAR viewers, browser dev tools and HAR-based mocks.

Every recorded exchange becomes one entry, in recorded order, with its recorded latency
(``time``, and ``timings.wait``). A world keeps latencies, not instants, so
``startedDateTime`` is reconstructed: entries follow one another from the world's first
recorded time. A world keeps no request headers or bodies, so requests carry only method,
URL and query. Exchanges that got no response are entries with status 0 and ``_error``.
Custom fields (underscore-prefixed, as browsers do): ``_route``, ``_identityClass``,
``_bodyTruncated``.

>>> from replayer.export.source import Recorded, Response
>>> r = Recorded("h", "GET", "/x", "/x", "a=1", "", "pro", 0, 12.5, None,
...              Response("1", 200, (("Content-Type", "application/json"),), b"{}", False))
>>> e = har_document([r], BaseUrls({"h": "https://h"}), {})["log"]["entries"][0]
>>> e["request"]["url"], e["time"], e["response"]["content"]["text"], e["_identityClass"]
('https://h/x?a=1', 12.5, '{}', 'pro')
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

import understudy
from replayer.export.source import BaseUrls, Recorded, Response

__all__ = ["dump_har", "har_document"]


def _start(doc: dict[str, Any]) -> datetime:
    text = (doc.get("source") or {}).get("start")
    try:
        when = datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        when = None
    if when is None:
        return datetime(1970, 1, 1, tzinfo=UTC)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _content(resp: Response) -> dict[str, Any]:
    ctype = next((v for k, v in resp.headers if k.lower() == "content-type"), "")
    content: dict[str, Any] = {"size": len(resp.body), "mimeType": ctype}
    try:
        content["text"] = resp.body.decode("utf-8")
    except UnicodeDecodeError:
        content["text"] = base64.b64encode(resp.body).decode("ascii")
        content["encoding"] = "base64"
    return content


def _response(ex: Recorded) -> dict[str, Any]:
    resp = ex.response
    if resp is None:
        return {
            "status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
            "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1,
            "bodySize": -1, "_error": ex.error or "no response recorded",
        }  # fmt: skip
    try:
        reason = HTTPStatus(resp.status).phrase
    except ValueError:
        reason = ""
    return {
        "status": resp.status,
        "statusText": reason,
        "httpVersion": "HTTP/1.1",
        "cookies": [],
        "headers": [{"name": k, "value": v} for k, v in resp.headers],
        "content": _content(resp),
        "redirectURL": next((v for k, v in resp.headers if k.lower() == "location"), ""),
        "headersSize": -1,
        "bodySize": len(resp.body),
        "_bodyTruncated": resp.truncated,
    }


def har_document(
    exchanges: Sequence[Recorded], urls: BaseUrls, doc: dict[str, Any]
) -> dict[str, Any]:
    """The HAR document of ``exchanges`` (``doc``: the world's world.json, for its times)."""
    t = _start(doc)
    entries = []
    for ex in exchanges:
        entries.append({
            "startedDateTime": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "time": ex.duration_ms,
            "request": {
                "method": ex.method,
                "url": urls.url(ex.host, ex.path, ex.query),
                "httpVersion": "HTTP/1.1",
                "cookies": [],
                "headers": [],
                "queryString": [
                    {"name": k, "value": v}
                    for k, v in parse_qsl(ex.query, keep_blank_values=True)
                ],
                "headersSize": -1,
                "bodySize": -1,
            },
            "response": _response(ex),
            "cache": {},
            "timings": {"send": 0, "wait": ex.duration_ms, "receive": 0},
            "_route": ex.route,
            "_identityClass": ex.identity_class,
        })  # fmt: skip
        t += timedelta(milliseconds=ex.duration_ms)
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "understudy", "version": understudy.__version__},
            "pages": [],
            "entries": entries,
        }
    }


def dump_har(doc: dict[str, Any]) -> bytes:
    """The HAR document as UTF-8 JSON."""
    return json.dumps(doc, indent=1, ensure_ascii=False).encode("utf-8")
