"""World bundles for the HTTP replayer tests, written with understudy.world.write_world.

Until ``understudy analyze`` exists the tests build worlds from explicit documents and tables.
:func:`api_world` is the shared fixture world: one host ``api.example.test`` with

- ``GET /api/items/{id}``: items 1..3 (the body echoes the id), a latency histogram;
- ``GET /api/items?page=N``: two pages (exact matches on the query);
- ``POST /api/orders``: the same JSON body recorded three times -> orders 1, 2, 3 (a sequence);
- ``GET /api/admin/stats``: refused (403) for the ``free`` class, allowed for ``pro``;
- ``GET /api/search``: rate limited per identity, free 5/s burst 5, pro 20/s burst 20;
- ``GET /api/flaky``: 30 % 5xx, 10 % timeouts, 10 % resets;
- ``GET /api/slow``: a wide latency histogram (20-160 ms) for the distribution test;
- ``GET /api/bimodal``: 5 ms or 150 ms, told apart by any client (the reproducibility test).

Clients authenticate with ``Authorization: Bearer <key>``: ``free-key-1``, ``free-key-2``
(class free) and ``pro-key-1`` (class pro); pseudonyms use :data:`TEST_KEY_HEX`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa

from understudy.matchkey import body_key
from understudy.redact import Pseudonymizer
from understudy.world import TABLES, write_world

TEST_KEY_HEX = "5e" * 32
HOST = "api.example.test"
FREE_KEYS = ("free-key-1", "free-key-2")
PRO_KEYS = ("pro-key-1",)
ITEMS_HIST = [[1.0, 2.0, 50], [2.0, 4.0, 30], [4.0, 8.0, 20]]
SLOW_HIST = [[20.0, 40.0, 40], [40.0, 80.0, 40], [80.0, 160.0, 20]]
BIMODAL_HIST = [[5.0, 5.0, 70], [150.0, 150.0, 30]]  # 5 ms or 150 ms, nothing between
ORDER_BODY = {"sku": "a-1", "qty": 2}
LIMITED_BODY = b'{"error":"rate limited","plan_limit":"see docs"}'
REFUSED_BODY = b'{"error":"upgrade required"}'


def pseudonym(credential: str) -> str:
    return Pseudonymizer(bytes.fromhex(TEST_KEY_HEX)).token(credential)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def env(**extra: str) -> dict[str, str]:
    """Environment for a replayer subprocess: the test key, nothing of the user's."""
    out = {k: v for k, v in os.environ.items() if not k.startswith("UNDERSTUDY_")}
    out.update(UNDERSTUDY_KEY=TEST_KEY_HEX, PYTHONUNBUFFERED="1", **extra)
    return out


def empty_doc(**sections: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "schema_version": 1, "source": {"tapes": []}, "routes": [], "rate_limits": [],
        "identity_classes": [], "permissions": [], "sql": [], "n_plus_one": [],
    }  # fmt: skip
    doc.update(sections)
    return doc


class WorldBuilder:
    """Collect responses and exchanges, then :meth:`write` a world bundle."""

    def __init__(self) -> None:
        self.responses: dict[str, dict[str, Any]] = {}
        self.exchanges: list[dict[str, Any]] = []

    def response(
        self,
        status: int,
        body: bytes | dict[str, Any] | list[Any],
        headers: list[tuple[str, str]] | None = None,
    ) -> str:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = headers if headers is not None else [("Content-Type", "application/json")]
        rid = f"r{len(self.responses)}"
        self.responses[rid] = {
            "response_id": rid, "status": status, "body": data, "body_truncated": False,
            "headers": [{"name": k, "value": v} for k, v in hdrs],
        }  # fmt: skip
        return rid

    def exchange(
        self,
        method: str,
        route: str,
        path: str,
        rid: str | None,
        *,
        status: int | None = None,
        query: str = "",
        body: bytes = b"",
        identity: str | None = None,
        identity_class: str | None = None,
        seq: int = 0,
        error: str | None = None,
        duration_ms: float = 5.0,
        host: str = HOST,
    ) -> None:
        if status is None and rid is not None:
            status = self.responses[rid]["status"]
        self.exchanges.append({
            "host": host, "method": method, "route": route, "path": path, "query": query,
            "body_key": body_key(body, "application/json"), "identity": identity,
            "identity_class": identity_class, "seq": seq, "status": status, "error": error,
            "response_id": rid, "duration_ms": duration_ms,
        })  # fmt: skip

    def write(self, path: Path, doc: dict[str, Any]) -> Path:
        tables = {
            "http_exchanges": pa.Table.from_pylist(self.exchanges,
                                                   schema=TABLES["http_exchanges"]),
            "http_responses": pa.Table.from_pylist(list(self.responses.values()),
                                                   schema=TABLES["http_responses"]),
        }  # fmt: skip
        return write_world(path, doc, tables)


def _route(
    method: str,
    route: str,
    count: int,
    hist: list[list[float]],
    statuses: dict[str, int],
    errors: dict[str, int] | None = None,
) -> dict[str, Any]:
    return {
        "host": HOST, "method": method, "route": route, "count": count,
        "latency_ms": {"p50": hist[0][1], "p90": hist[-1][0], "p99": hist[-1][1],
                       "max": hist[-1][1], "histogram": hist},
        "status_counts": statuses, "errors": errors or {},
    }  # fmt: skip


def api_world(path: Path) -> Path:
    """Write the shared test world (see the module docstring) to ``path``."""
    b = WorldBuilder()
    free = [pseudonym(k) for k in FREE_KEYS]
    pro = [pseudonym(k) for k in PRO_KEYS]
    ident = [(free[0], "free"), (free[1], "free"), (pro[0], "pro")]
    for n in (1, 2, 3):
        rid = b.response(200, {"id": n, "name": f"item {n}", "tags": ["x"]})
        for i, (who, klass) in enumerate(ident):
            b.exchange("GET", "/api/items/{id}", f"/api/items/{n}", rid, identity=who,
                       identity_class=klass, seq=i)  # fmt: skip
    for page in (1, 2):
        rid = b.response(200, {"page": page, "items": [page * 10, page * 10 + 1]})
        b.exchange("GET", "/api/items", "/api/items", rid, query=f"page={page}",
                   identity=free[0], identity_class="free")  # fmt: skip
    order = json.dumps(ORDER_BODY).encode()
    for n in (1, 2, 3):
        rid = b.response(201, {"order": n, "status": "created"})
        b.exchange("POST", "/api/orders", "/api/orders", rid, body=order, identity=free[0],
                   identity_class="free", seq=n - 1)  # fmt: skip
    refused = b.response(403, REFUSED_BODY)
    stats = b.response(200, {"stats": {"users": 42}})
    b.exchange("GET", "/api/admin/stats", "/api/admin/stats", refused, identity=free[0],
               identity_class="free")  # fmt: skip
    b.exchange("GET", "/api/admin/stats", "/api/admin/stats", stats, identity=pro[0],
               identity_class="pro")  # fmt: skip
    search = b.response(200, {"results": ["a", "b"]})
    limited = b.response(
        429,
        LIMITED_BODY,
        [("Content-Type", "application/json"), ("Retry-After", "1"), ("X-RateLimit-Limit", "5")],
    )
    for who, klass in ident:
        b.exchange("GET", "/api/search", "/api/search", search, query="q=x", identity=who,
                   identity_class=klass)  # fmt: skip
    b.exchange("GET", "/api/search", "/api/search", limited, query="q=x", identity=free[0],
               identity_class="free", seq=1)  # fmt: skip
    ok = b.response(200, {"flaky": "ok"})
    bad = b.response(503, {"error": "upstream overloaded"})
    b.exchange("GET", "/api/flaky", "/api/flaky", ok, identity=free[0], identity_class="free")
    b.exchange("GET", "/api/flaky", "/api/flaky", bad, identity=free[0], identity_class="free",
               seq=1)  # fmt: skip
    b.exchange("GET", "/api/flaky", "/api/flaky", None, identity=free[0], identity_class="free",
               seq=2, error="timeout: upstream")  # fmt: skip
    slow = b.response(200, {"slow": True})
    b.exchange("GET", "/api/slow", "/api/slow", slow, identity=free[0], identity_class="free")
    b.exchange("GET", "/api/bimodal", "/api/bimodal", slow, identity=free[0],
               identity_class="free")  # fmt: skip
    doc = empty_doc(
        routes=[
            _route("GET", "/api/items/{id}", 9, ITEMS_HIST, {"200": 9}),
            _route("GET", "/api/items", 2, ITEMS_HIST, {"200": 2}),
            _route("POST", "/api/orders", 3, ITEMS_HIST, {"201": 3}),
            _route("GET", "/api/admin/stats", 2, ITEMS_HIST, {"200": 1, "403": 1}),
            _route("GET", "/api/search", 4, ITEMS_HIST, {"200": 3, "429": 1}),
            _route("GET", "/api/flaky", 100, ITEMS_HIST, {"200": 50, "503": 30},
                   {"5xx": 30, "timeout": 10, "reset": 10}),
            _route("GET", "/api/slow", 1, SLOW_HIST, {"200": 1}),
            _route("GET", "/api/bimodal", 1, BIMODAL_HIST, {"200": 1}),
        ],
        rate_limits=[
            {"host": HOST, "route": "/api/search", "scope": "identity", "identity_class": "free",
             "rate_per_s": 5.0, "burst": 5, "limit_status": 429,
             "evidence": {"limited": 1, "accepted": 3}, "confidence": 0.9},
            {"host": HOST, "route": "/api/search", "scope": "identity", "identity_class": "pro",
             "rate_per_s": 20.0, "burst": 20, "limit_status": 429,
             "evidence": {"limited": 0, "accepted": 1}, "confidence": 0.5},
        ],
        identity_classes=[
            {"name": "free", "identities": free, "summary": "free plan"},
            {"name": "pro", "identities": pro, "summary": "pro plan"},
        ],
        permissions=[
            {"host": HOST, "method": "GET", "route": "/api/admin/stats", "identity_class": "free",
             "allowed": False, "status": 403},
            {"host": HOST, "method": "GET", "route": "/api/admin/stats", "identity_class": "pro",
             "allowed": True, "status": 200},
        ],
    )  # fmt: skip
    return b.write(path, doc)
