"""The answers that are not a recorded exchange: limited, refused, injected faults, misses.

Each prefers a response the world recorded (the limited response of that route, the class's
refusal, a recorded 5xx) and only synthesises a small JSON body when none was recorded.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, Final

from replayer.core.index import ExchangeIndex
from replayer.core.limits import LimitHit
from replayer.core.responses import Responses
from replayer.core.types import MISS_STATUS, StoredResponse

__all__ = ["fault_response", "limited_response", "miss_response", "refused_response"]

_JSON: Final = (("Content-Type", "application/json"),)


def limited_response(
    hit: LimitHit,
    index: ExchangeIndex,
    store: Responses,
    host: str,
    method: str,
    route: str,
    identity_class: str,
) -> StoredResponse:
    """The recorded limited response of the route (else of the host), with a fresh
    ``Retry-After``: whole seconds until the bucket has a token again (at least 1)."""
    status = hit.spec.limit_status
    row = index.responses_with_status(host, method, route, status, identity_class)
    if row is None:
        row = index.host_status.get((host, status))
    retry = ("Retry-After", str(max(1, math.ceil(hit.retry_after_s))))
    if row is None:
        return StoredResponse(status, (*_JSON, retry), b'{"error":"rate limited"}')
    base = store.get(row)
    headers = tuple(h for h in base.headers if h[0].lower() != "retry-after")
    return base.with_changes(headers=(*headers, retry))


def refused_response(
    index: ExchangeIndex,
    store: Responses,
    host: str,
    method: str,
    route: str,
    status: int,
    identity_class: str,
) -> StoredResponse:
    """The refusal the class received on the route (status and body as recorded)."""
    row = index.responses_with_status(host, method, route, status, identity_class)
    if row is not None:
        return store.get(row)
    return StoredResponse(status, _JSON, b'{"error":"forbidden"}')


def fault_response(kind: str, error_rows: dict[int, int], store: Responses) -> StoredResponse:
    """A recorded 5xx of the route for an injected ``5xx`` (or ``503``...) fault."""
    status = int(kind) if kind.isdigit() else None
    row = error_rows.get(status) if status is not None else None
    if row is None and error_rows:
        row = error_rows[min(error_rows)]
    if row is not None:
        return store.get(row)
    return StoredResponse(status or 503, _JSON, b'{"error":"service unavailable"}')


def miss_response(
    method: str,
    host: str,
    path: str,
    query: str,
    body_key: str,
    route: str | None,
    reason: str,
    nearest: Sequence[dict[str, Any]],
) -> StoredResponse:
    """599 with ``X-Understudy-Miss: 1`` and a JSON body naming the nearest candidates."""
    body = {
        "understudy": "miss",
        "reason": reason,
        "request": {"method": method, "host": host, "path": path, "query": query,
                    "body_key": body_key, "route": route},
        "nearest": list(nearest),
    }  # fmt: skip
    return StoredResponse(
        MISS_STATUS,
        (*_JSON, ("X-Understudy-Miss", "1")),
        json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    )
