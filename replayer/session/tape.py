"""The session tape: everything the candidate sent and received, in the tape format.

Rows follow :data:`~understudy.tape.HTTP_SCHEMA`, redacted with the same redactor as the
recorder's, so a session tape can be analysed and diffed like a production tape. Rows are
built from :class:`~replayer.session.log.Served` batches in a worker thread (never on the
event loop) and committed by a :class:`~understudy.tape.PartWriter`.

Responses that came from the world were redacted when recorded and are stored as served;
responses from the real upstream (``--on-miss forward``) are redacted here first.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import understudy
from replayer.core.keying import header_value
from replayer.session.log import Served
from understudy.redact import Redactor
from understudy.tape import PartWriter, ensure_tape_dir, read_meta, update_meta
from understudy.tape.meta import utcnow

__all__ = ["MAX_TAPE_BODY", "SessionTape", "served_to_row"]

MAX_TAPE_BODY: Final = 1024 * 1024
_ERRORS: Final = {
    "client_gone": "client disconnected: before the replayed answer was sent",
    "closed": "timeout: injected by the replayer (observed fault)",
    "reset": "upstream disconnected: reset injected by the replayer (observed fault)",
}


def _cap(body: bytes) -> tuple[bytes, int, bool]:
    return body[:MAX_TAPE_BODY], len(body), len(body) > MAX_TAPE_BODY


def served_to_row(s: Served, redactor: Redactor) -> dict[str, Any]:
    """One ``HTTP_SCHEMA`` row for a served exchange, secrets redacted."""
    req = s.request
    req_headers, identity = redactor.redact_headers(req.headers)
    ctype = header_value(req.headers, "content-type")
    req_body, req_size, req_trunc = _cap(redactor.redact_body(req.body, ctype))
    resp = s.response if s.outcome not in ("closed", "reset", "client_gone") else None
    forwarded = s.outcome in ("forwarded", "forward_failed")
    resp_headers: list[tuple[str, str]] | None = None
    resp_body, resp_size, resp_trunc = b"", None, False
    if resp is not None:
        resp_headers = list(resp.headers)
        body = resp.body
        if forwarded:
            resp_headers = redactor.redact_headers(resp_headers)[0]
            body = redactor.redact_body(body, header_value(resp.headers, "content-type"))
        resp_headers.append(("content-length", str(len(resp.body))))
        capped = _cap(body)
        resp_body, resp_size, resp_trunc = capped[0], capped[1], capped[2] or resp.truncated
    start_us = int(s.started_wall * 1_000_000)
    error = s.error or _ERRORS.get(s.outcome)
    return {
        "exchange_id": uuid.uuid4().hex,
        "ts_start": start_us,
        "ts_end": start_us + int(s.duration_s * 1_000_000),
        "duration_ms": max(0.0, s.duration_s * 1000.0),
        "method": req.method,
        "scheme": req.scheme,
        "host": req.host,
        "port": req.port,
        "path": req.path,
        "query": redactor.redact_query(req.query),
        "http_version": req.http_version,
        "status": resp.status if resp is not None else None,
        "request_headers": req_headers,
        "response_headers": resp_headers,
        "request_body": req_body,
        "response_body": resp_body,
        "request_body_size": req_size,
        "response_body_size": resp_size,
        "request_body_truncated": req_trunc,
        "response_body_truncated": resp_trunc,
        "request_content_encoding": header_value(req.headers, "content-encoding"),
        "response_content_encoding": None,
        "identity": identity,
        "client_addr": f"{req.client_ip}:{req.client_port}",
        "server_addr": s.server_addr,
        "traceparent": header_value(req.headers, "traceparent"),
        "flow_kind": "http",
        "error": error,
    }


class SessionTape:
    """A tape directory, its ``http`` writer, and ``tape.json`` stamped as a replay session."""

    def __init__(
        self, path: Path, redactor: Redactor, *, world: Path, flush_interval: float = 1.0
    ) -> None:
        self.path = ensure_tape_dir(path)
        self.redactor = redactor
        self.world = world
        self.writer = PartWriter(self.path, "http", flush_interval=flush_interval)
        self.rows = 0

    def open(self) -> None:
        self.writer.start()
        kinds = set(read_meta(self.path).get("kinds") or []) | {"http"}
        update_meta(
            self.path,
            started=utcnow(),
            recorder_version=understudy.__version__,
            kinds=sorted(kinds),
            redaction=self.redactor.policy.summary(),
            session={"replayer": True, "world": str(self.world)},
        )

    def write(self, batch: Sequence[Served]) -> None:
        """Build rows for ``batch`` and queue them (call from a worker thread)."""
        for s in batch:
            row = served_to_row(s, self.redactor)
            self.writer.append(row, 512 + len(row["request_body"]) + len(row["response_body"]))
            self.rows += 1

    def close(self) -> dict[str, Any]:
        """Commit what is queued, stamp ``ended``; return the writer's counters."""
        self.writer.close()
        update_meta(self.path, ended=utcnow())
        return self.writer.stats.as_dict()
