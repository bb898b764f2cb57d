"""A world out to a vcrpy cassette (YAML, format version 1) that vcrpy plays back.

Python tests that already use vcrpy get production's answers without a replayer::

    with vcr.use_cassette("prod.yaml", record_mode="none"):
        requests.get("https://api.example.com/v1/items/42")

Each distinct recorded exchange (same request key, same response) becomes one interaction,
in recorded order; ``all_exchanges=True`` keeps every recorded exchange instead, so vcrpy
replays production's sequence (e.g. 200, 200, then 429). Bodies are the recorded bytes,
secrets still redacted; a world keeps no request headers or bodies, so interactions match
on vcrpy's default parts (method, scheme, host, port, path, query). Exchanges that got no
response (connection errors) cannot be expressed in a cassette and are counted as left out.

>>> from replayer.export.source import Recorded, Response
>>> r = Recorded("h", "GET", "/x", "/x", "", "", None, 0, 1.0, None,
...              Response("1", 200, (("Content-Type", "text/plain"),), b"hi", False))
>>> doc, left_out = cassette([r, r], BaseUrls({"h": "http://h:1"}))
>>> len(doc["interactions"]), doc["interactions"][0]["response"]["body"], left_out
(1, {'string': 'hi'}, 0)
"""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus
from typing import Any, Final

import yaml  # type: ignore[import-untyped]

from replayer.export.source import BaseUrls, Recorded, Response

__all__ = ["CASSETTE_VERSION", "cassette", "dump_cassette"]

#: vcrpy's cassette format version (``vcr.serialize.CASSETTE_FORMAT_VERSION``).
CASSETTE_VERSION: Final = 1
_NO_BODY_STATUSES: Final = frozenset({204, 304})


def _headers(resp: Response) -> dict[str, list[str]]:
    """vcrpy's ``{name: [values]}``, first-seen order, with a Content-Length for the body."""
    out: dict[str, list[str]] = {}
    for name, value in resp.headers:
        out.setdefault(name, []).append(value)
    if resp.status >= 200 and resp.status not in _NO_BODY_STATUSES:
        out["Content-Length"] = [str(len(resp.body))]
    return out


def _body(data: bytes) -> str | bytes:
    """Text when it is UTF-8 (readable cassettes, as vcrpy writes them), else bytes."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # YAML !!binary, which yaml.safe_load and vcrpy both read


def _interaction(ex: Recorded, resp: Response, urls: BaseUrls) -> dict[str, Any]:
    try:
        message = HTTPStatus(resp.status).phrase
    except ValueError:
        message = ""
    return {
        "request": {
            "body": None,
            "headers": {},
            "method": ex.method,
            "uri": urls.url(ex.host, ex.path, ex.query),
        },
        "response": {
            "status": {"code": resp.status, "message": message},
            "headers": _headers(resp),
            "body": {"string": _body(resp.body)},
        },
    }


def cassette(
    exchanges: Sequence[Recorded], urls: BaseUrls, *, all_exchanges: bool = False
) -> tuple[dict[str, Any], int]:
    """The cassette document for ``exchanges`` and how many had no response to export."""
    seen: set[tuple[str, ...]] = set()
    interactions = []
    left_out = 0
    for ex in exchanges:
        if ex.response is None:
            left_out += 1
            continue
        key = (ex.host, ex.method, ex.path, ex.query, ex.body_key, ex.response.response_id)
        if not all_exchanges:
            if key in seen:
                continue
            seen.add(key)
        interactions.append(_interaction(ex, ex.response, urls))
    return {"interactions": interactions, "version": CASSETTE_VERSION}, left_out


def dump_cassette(doc: dict[str, Any]) -> bytes:
    """The cassette as YAML text (safe dumper: plain YAML, ``!!binary`` for binary bodies)."""
    text: str = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=1000)
    return text.encode("utf-8")
