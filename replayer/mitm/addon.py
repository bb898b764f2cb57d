# mitmproxy is not fully annotated:
# mypy: disallow-untyped-calls=False
"""The proxy-mode front door: a mitmproxy addon that answers from the world.

Candidate code keeps its real upstream URLs and uses mitmproxy as its HTTP(S) proxy (HTTPS
through mitmproxy's CA). The ``request`` hook adapts the flow into a
:class:`~replayer.core.types.Request`, asks the behaviour core, and sets ``flow.response``;
mitmproxy then never dials the upstream (the master runs with ``connection_strategy=lazy``).
A delay makes the hook return a coroutine that sleeps on the loop (mitmproxy awaits
awaitables returned by hooks), so no hook ever blocks. Only ``--on-miss forward`` lets a
missed flow through to its real upstream; its answer is noted in the ``response`` hook.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Final

from mitmproxy import http

from replayer.core.behaviour import Behaviour
from replayer.core.responses import clean_headers
from replayer.core.types import Decision, Request, StoredResponse
from replayer.http.wire import reason
from replayer.session.log import Session

__all__ = ["ReplayAddon"]

_FORWARDED: Final = "understudy.forwarded"


def _text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def _response(resp: StoredResponse) -> http.Response:
    fields = tuple(
        (k.encode("latin-1", "replace"), v.encode("utf-8", "surrogateescape"))
        for k, v in resp.headers
    )
    fields += ((b"content-length", str(len(resp.body)).encode()),)
    now = time.time()
    return http.Response(
        b"HTTP/1.1", resp.status, reason(resp.status).encode(), http.Headers(fields),
        resp.body, None, now, now,
    )  # fmt: skip


class ReplayAddon:
    """Answer every request from the world (default deny), through ``behaviour``."""

    name = "understudy_replay"

    def __init__(self, behaviour: Behaviour, session: Session, *, forward: bool = False) -> None:
        self.behaviour = behaviour
        self.session = session
        self.forward = forward

    def _request(self, flow: http.HTTPFlow) -> Request:
        req = flow.request
        path, _, query = _text(req.data.path).partition("?")
        try:
            body = req.get_content(strict=False) or b""
        except ValueError:
            body = req.raw_content or b""
        peer = flow.client_conn.peername or ("", 0)
        return Request(
            method=req.method,
            host=req.host,
            path=path,
            query=query,
            headers=tuple((_text(k), _text(v)) for k, v in req.headers.fields),
            body=body,
            scheme=req.scheme,
            port=req.port,
            client_ip=str(peer[0]),
            client_port=int(peer[1]),
            http_version=req.http_version,
        )

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        """Answer from the world; a coroutine when the answer must wait (its delay)."""
        if flow.response is not None or flow.error is not None:
            return None
        now = time.monotonic()
        request = self._request(flow)
        decision = self.behaviour.decide(request, now)
        if decision.kind == "miss" and self.forward:
            flow.metadata[_FORWARDED] = (request, decision, now)
            return None  # mitmproxy dials the real upstream now
        if decision.delay_s > 0:
            return self._later(flow, request, decision, now)
        self._apply(flow, request, decision, now)
        return None

    async def _later(
        self, flow: http.HTTPFlow, request: Request, decision: Decision, arrived: float
    ) -> None:
        await asyncio.sleep(decision.delay_s)
        if flow.client_conn.timestamp_end is not None:  # the client left during the delay
            self.session.note(request, decision, arrived, time.monotonic(), "client_gone")
            if flow.killable:
                flow.kill()
            return
        self._apply(flow, request, decision, arrived)

    def _apply(
        self, flow: http.HTTPFlow, request: Request, decision: Decision, arrived: float
    ) -> None:
        done = time.monotonic()
        if decision.action == "respond" and decision.response is not None:
            flow.response = _response(decision.response)
            self.session.note(request, decision, arrived, done)
            return
        if flow.killable:
            flow.kill()  # mitmproxy closes the client connection for a killed flow
        self.session.note(
            request, decision, arrived, done, "closed" if decision.action == "close" else "reset"
        )

    def response(self, flow: http.HTTPFlow) -> None:
        found = flow.metadata.pop(_FORWARDED, None)
        if found is None or flow.response is None:
            return
        request, decision, arrived = found
        resp = flow.response
        try:
            body = resp.get_content(strict=False) or b""
        except ValueError:
            body = resp.raw_content or b""
        served = StoredResponse(
            resp.status_code,
            clean_headers((_text(k), _text(v)) for k, v in resp.headers.fields),
            body,
        )
        peer = flow.server_conn.peername
        self.session.note(
            request, decision, arrived, time.monotonic(), "forwarded",
            response=served, server_addr=f"{peer[0]}:{peer[1]}" if peer else None,
        )  # fmt: skip

    def error(self, flow: http.HTTPFlow) -> None:
        found = flow.metadata.pop(_FORWARDED, None)
        if found is None:
            return
        request, decision, arrived = found
        msg = flow.error.msg if flow.error is not None else "unknown error"
        self.session.note(
            request, decision, arrived, time.monotonic(), "forward_failed",
            error=f"forward failed: {msg}",
        )  # fmt: skip
