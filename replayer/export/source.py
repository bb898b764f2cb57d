"""What an export reads from a world: recorded exchanges joined to their responses.

Also the two things every export needs: where each recorded host is reached
(:class:`BaseUrls`; a world keeps hosts, not schemes and ports) and an atomic, owner-only
write of the output file (:func:`write_atomic`).

>>> urls = BaseUrls.parse(["api.example.com=http://127.0.0.1:8080"], ["api.example.com"])
>>> urls.url("api.example.com", "/v1/items", "b=2&a=1")
'http://127.0.0.1:8080/v1/items?b=2&a=1'
>>> BaseUrls.parse([], ["h"]).url("h", "/", "")
'https://h/'
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from replayer.core.responses import clean_headers
from understudy.errors import ConfigError, UnderstudyError
from understudy.tape.writer import fsync_dir
from understudy.world import load_world

__all__ = ["BaseUrls", "Recorded", "Response", "load_recorded", "write_atomic"]


@dataclass(frozen=True, slots=True)
class Response:
    """A recorded response as the replayer serves it (framing headers removed)."""

    response_id: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    truncated: bool


@dataclass(frozen=True, slots=True)
class Recorded:
    """One recorded exchange of a world, in recorded order, with its response (if any)."""

    host: str
    method: str
    route: str
    path: str
    query: str
    body_key: str
    identity_class: str | None
    seq: int
    duration_ms: float
    error: str | None
    response: Response | None


def load_recorded(
    world_dir: Path, hosts: Sequence[str] = ()
) -> tuple[dict[str, Any], list[Recorded]]:
    """The world document and its recorded exchanges (only ``hosts``, if given).

    Raises :class:`~understudy.errors.WorldError` for a missing or corrupt world and
    :class:`ConfigError` for a host the world never recorded.
    """
    world = load_world(world_dir)
    responses: dict[str, Response] = {}
    for r in world.table("http_responses").to_pylist():
        if r["response_id"] is None or r["response_id"] in responses:
            continue
        responses[r["response_id"]] = Response(
            response_id=r["response_id"],
            status=int(r["status"] or 0),
            headers=clean_headers(r["headers"] or ()),
            body=r["body"] or b"",
            truncated=bool(r["body_truncated"]),
        )
    rows = world.table("http_exchanges").to_pylist()
    known = sorted({r["host"] for r in rows if r["host"]})
    missing = [h for h in hosts if h not in known]
    if missing:
        raise ConfigError(
            f"the world has no exchanges for host {missing[0]!r}; "
            f"its hosts: {', '.join(known) or '(none)'}"
        )
    wanted = set(hosts) if hosts else set(known)
    out = [
        Recorded(
            host=r["host"],
            method=r["method"],
            route=r["route"] or r["path"],
            path=r["path"] or "/",
            query=r["query"] or "",
            body_key=r["body_key"] or "",
            identity_class=r["identity_class"],
            seq=int(r["seq"] or 0),
            duration_ms=float(r["duration_ms"] or 0.0),
            error=r["error"],
            response=responses.get(r["response_id"]) if r["response_id"] else None,
        )
        for r in rows
        if r["host"] in wanted and r["method"]
    ]
    return world.doc, out


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@dataclass(frozen=True, slots=True)
class BaseUrls:
    """Where each recorded host is reached: ``scheme://host[:port]``, by host."""

    by_host: dict[str, str]

    @classmethod
    def parse(cls, specs: Iterable[str], hosts: Sequence[str]) -> BaseUrls:
        """From ``--base-url`` values ``HOST=URL`` (or a bare ``URL`` for a single host).

        A host without a spec is reached at ``https://HOST``.
        """
        by_host = {h: f"https://{_bracket(h)}" for h in hosts}
        for spec in specs:
            host, sep, url = spec.partition("=")
            if not sep or "://" in host:
                host, url = "", spec
            try:
                parts = urlsplit(url)
                parts.port  # noqa: B018 - validates the port
            except ValueError:
                raise ConfigError(f"--base-url {spec!r}: not a URL") from None
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"--base-url {spec!r}: use http(s)://HOST[:PORT]")
            if parts.path not in ("", "/") or parts.query or parts.fragment:
                raise ConfigError(
                    f"--base-url {spec!r}: give only scheme, host and port (recorded paths are "
                    "kept whole)"
                )
            if not host:
                if len(hosts) != 1:
                    raise ConfigError(
                        f"--base-url {spec!r} names no host but the export has "
                        f"{len(hosts)} ({', '.join(hosts)}); use HOST=URL"
                    )
                host = hosts[0]
            if host not in by_host:
                raise ConfigError(f"--base-url {spec!r}: host {host!r} is not exported")
            by_host[host] = f"{parts.scheme}://{parts.netloc}"
        return cls(by_host)

    def url(self, host: str, path: str, query: str) -> str:
        """The absolute URL of a recorded request."""
        return f"{self.by_host[host]}{path}" + (f"?{query}" if query else "")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` (0600) via a temporary file, fsync and rename."""
    if path.is_dir():
        raise ConfigError(f"--out {path} is a directory; give a file name")
    parent = path.parent
    if not parent.is_dir():
        raise ConfigError(f"--out {path}: directory {parent} does not exist")
    tmp = parent / f".tmp-{path.name}-{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise UnderstudyError(f"cannot write {path}: {exc.strerror or exc}") from None
