"""vcrpy cassettes (format version 1, YAML or JSON serializer) to flows.

Cassettes are read with ``yaml.safe_load`` only: a cassette carrying a Python tag
(``!!python/object/apply:...``, which vcrpy's older full loader would have executed) is
refused with a message naming the tag, before anything is written. JSON cassettes are plain
``json``. Cassettes hold no times, so the caller supplies a :class:`SyntheticClock`: every
interaction gets the next tick and zero latency, and the import marks the tape's
``tape.json`` with ``synthetic_timestamps`` (latencies mined from such a tape are not real).

Bodies are stored as the client library saw them, usually still encoded (with their
``Content-Encoding`` header); a body that does not decode under its header is taken as
already decoded (vcrpy's ``decode_compressed_response``).

>>> c = parse_cassette(Path("c.yaml"), b'''
... version: 1
... interactions:
... - request: {method: GET, uri: 'http://h/x', body: null, headers: {}}
...   response:
...     status: {code: 200, message: OK}
...     headers: {Content-Type: [text/plain]}
...     body: {string: hi}
... ''')
>>> [i.flow.response.content for i in interactions(Path("c.yaml"), c, SyntheticClock(0.0))]
[b'hi']
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final

import yaml  # type: ignore[import-untyped]

from recorder.http.decode import decode_body
from recorder.importers.flows import Exchange, Imported, NotHttp, Skip, UrlError, to_imported
from recorder.importers.source import read_bounded
from understudy.errors import ConfigError

__all__ = ["InteractionError", "SyntheticClock", "interactions", "parse_cassette", "read_vcr"]

#: Spacing of synthesized timestamps: one interaction per millisecond, in cassette order.
TICK_S: Final = 0.001
_TAG = re.compile(r"tag '([^']+)'")


class InteractionError(ValueError):
    """A cassette interaction lacks a field vcrpy writes, or has one of the wrong type."""


class SyntheticClock:
    """Monotonic made-up times for sources that record none (one tick per exchange)."""

    def __init__(self, start: float, tick: float = TICK_S) -> None:
        self.now = start
        self.tick = tick
        self.used = False

    def next(self) -> float:
        self.used = True
        t = self.now
        self.now += self.tick
        return t


def parse_cassette(path: Path, data: bytes) -> dict[str, Any]:
    """The cassette document in ``data`` (JSON or YAML), validated as vcrpy format 1."""
    head = data.lstrip()[:1]
    try:
        doc = json.loads(data) if head in (b"{", b"[") else yaml.safe_load(data)
    except yaml.constructor.ConstructorError as exc:
        m = _TAG.search(str(exc))
        tag = m.group(1).replace("tag:yaml.org,2002:", "!!") if m else "a non-standard tag"
        raise ConfigError(
            f"{path}: refused: YAML tag {tag} is not allowed (cassettes are read with "
            "yaml.safe_load; re-record it without Python objects)"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ConfigError(f"{path}: not a cassette: invalid YAML{where} ({problem})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a cassette: invalid JSON ({exc})") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a cassette: nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("interactions"), list):
        raise ConfigError(f"{path}: not a vcrpy cassette: no 'interactions' list")
    if doc.get("version") != 1:
        raise ConfigError(
            f"{path}: cassette format version {doc.get('version')!r} is not supported "
            "(vcrpy writes version 1; migrate older cassettes with python -m vcr.migration)"
        )
    return doc


def _dict(node: Any, where: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise InteractionError(f"{where} is missing or not a mapping")
    return node


def _headers(node: Any, where: str) -> list[tuple[str, str]]:
    """vcrpy's ``{name: [values]}`` (or ``{name: value}``) as ordered pairs."""
    if node is None:
        return []
    out = []
    for name, values in _dict(node, where).items():
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(name, str) or isinstance(value, bool):
                raise InteractionError(f"{where} has a non-text header")
            if not isinstance(value, str | int | float):
                raise InteractionError(f"{where}[{name[:40]!r}] is not text")
            out.append((name, str(value)))
    return out


def _body(node: Any, where: str) -> bytes:
    if node is None:
        return b""
    if isinstance(node, bytes):
        return node
    if isinstance(node, str):
        return node.encode("utf-8", "surrogateescape")  # vcrpy's convert_body_to_bytes
    raise InteractionError(f"{where} is not text or binary")


def _is_plain(body: bytes, headers: list[tuple[str, str]]) -> bool:
    """True when ``body`` is already decoded although a Content-Encoding header says not."""
    encoding = next((v for k, v in headers if k.lower() == "content-encoding"), None)
    if not encoding or not body:
        return False
    return decode_body(body, encoding, keep=0).error is not None


def _exchange(item: Any, ts: float) -> Exchange:
    item = _dict(item, "interaction")
    req = _dict(item.get("request"), "request")
    resp = _dict(item.get("response"), "response")
    method, uri = req.get("method"), req.get("uri")
    if not isinstance(method, str) or not method or not method.isascii():
        raise InteractionError("request.method is missing or not an HTTP method")
    if not isinstance(uri, str):
        raise InteractionError("request.uri is missing or not text")
    req_headers = _headers(req.get("headers"), "request.headers")
    req_body = _body(req.get("body"), "request.body")
    status_node = resp.get("status")
    if isinstance(status_node, dict):  # vcrpy: {code, message}
        code, message = status_node.get("code"), status_node.get("message") or ""
    else:  # cassettes of older vcrpy httpx stubs: status_code and content
        code, message = resp.get("status_code"), ""
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 999:
        raise InteractionError("response.status.code is missing or not an HTTP status")
    resp_headers = _headers(resp.get("headers"), "response.headers")
    body_node = resp.get("body")
    if isinstance(body_node, dict):
        resp_body = _body(body_node.get("string"), "response.body.string")
    else:
        resp_body = _body(resp.get("content", body_node), "response.body")
    return Exchange(
        method=method,
        url=uri,
        ts_start=ts,
        ts_end=ts,
        status=code,
        reason=message if isinstance(message, str) else "",
        request_headers=req_headers,
        request_body=req_body,
        request_decoded=_is_plain(req_body, req_headers),
        response_headers=resp_headers,
        response_body=resp_body,
        response_decoded=_is_plain(resp_body, resp_headers),
    )


def interactions(
    path: Path, doc: dict[str, Any], clock: SyntheticClock
) -> Iterator[Imported | Skip]:
    """Flows (or skips) of every interaction of a parsed cassette, in cassette order."""
    for i, item in enumerate(doc["interactions"]):
        try:
            ex = _exchange(item, clock.next())
            yield to_imported(ex)
        except InteractionError as exc:
            raise ConfigError(f"{path}: interaction {i}: {exc}") from None
        except NotHttp as exc:
            yield Skip(str(exc))
        except UrlError as exc:
            raise ConfigError(f"{path}: interaction {i}: {exc}") from None


def read_vcr(path: Path, max_size: int, clock: SyntheticClock) -> Iterator[Imported | Skip]:
    """Flows (or skips) of the cassette file ``path``; times come from ``clock``."""
    doc = parse_cassette(path, read_bounded(path, max_size))
    yield from interactions(path, doc, clock)
