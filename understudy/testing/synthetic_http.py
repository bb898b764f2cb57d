"""Synthetic HTTP tapes from a simulated server whose truth is known.

Clients (identities on plans, behind client IPs) send Poisson or bursty traffic to a host
with a few routes. The simulated server answers each request in order:

1. the rate limiter: :class:`understudy.ratelimit.TokenBucket` buckets keyed by scope
   (identity, client IP or one global) and grouping (per route template, or ``*`` for one
   budget per key); a limited request gets ``429`` (with ``Retry-After``) and takes no token;
2. permissions: a plan refused on a route gets its status (``403``);
3. failures at known per-route rates: timeouts, connection resets, 5xx (half of them 503
   *without* ``Retry-After``, which is not a rate limit);
4. otherwise ``200`` after a lognormal latency (known median and sigma per route).

Rows come out in :data:`understudy.tape.schema.HTTP_SCHEMA`. Everything is seeded: the same
:class:`Scenario` gives the same rows.

Example::

    df = generate(plans_scenario(scope="identity", grouping="*", seed=1))
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import polars as pl
import pyarrow as pa

from understudy.ratelimit import TokenBucket
from understudy.tape.schema import HTTP_SCHEMA

__all__ = [
    "Client",
    "Limiter",
    "Plan",
    "Route",
    "Scenario",
    "default_routes",
    "generate",
    "plans_scenario",
]

Scope = Literal["identity", "client_ip", "global"]


@dataclass(frozen=True, slots=True)
class Route:
    """One route of the simulated host; ``template`` uses :mod:`understudy.routes` names."""

    method: str
    template: str
    weight: float
    latency_median_ms: float
    latency_sigma: float = 0.5
    p_5xx: float = 0.0
    p_timeout: float = 0.0
    p_reset: float = 0.0
    size_median: float = 2_000.0
    size_sigma: float = 0.6


@dataclass(frozen=True, slots=True)
class Plan:
    """A tier: its rate limit (``None``: unlimited) and the routes it is refused on."""

    name: str
    rate_per_s: float | None = None
    burst: int = 1
    refused: Mapping[tuple[str, str], int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Client:
    """A traffic source: ``rate_per_s`` on average, Poisson or in bursts of ``burst_size``."""

    identity: str | None
    plan: str
    ips: tuple[str, ...]
    rate_per_s: float
    pattern: Literal["poisson", "bursty"] = "poisson"
    burst_size: int = 1
    start_s: float = 0.0
    stop_s: float | None = None


@dataclass(frozen=True, slots=True)
class Limiter:
    """Which buckets the server keeps. For ``identity`` scope the plan's parameters apply;
    otherwise ``rate_per_s``/``burst`` here. ``policy_header`` adds ``RateLimit-Policy``."""

    scope: Scope
    grouping: Literal["route", "*"] = "*"
    rate_per_s: float = 10.0
    burst: int = 10
    status: int = 429
    retry_after: bool = True
    policy_header: bool = False


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything :func:`generate` needs; the truth tests compare against."""

    routes: tuple[Route, ...]
    plans: Mapping[str, Plan]
    clients: tuple[Client, ...]
    limiter: Limiter | None
    duration_s: float = 120.0
    seed: int = 0
    host: str = "api.example.test"
    start: datetime = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

    def plan_of(self) -> dict[str, str]:
        """Identity -> plan name."""
        return {c.identity: c.plan for c in self.clients if c.identity is not None}


def default_routes() -> tuple[Route, ...]:
    """Eight routes covering every parameter kind and literal siblings.

    >>> [r.template for r in default_routes()][:3]
    ['/api/items/{id}', '/api/items/featured', '/api/orders']
    """
    return (
        Route("GET", "/api/items/{id}", 5, 20.0, 0.4, p_5xx=0.01, p_timeout=0.005),
        Route("GET", "/api/items/featured", 1, 8.0, 0.3),
        Route("GET", "/api/orders", 2, 35.0, 0.5, p_5xx=0.02),
        Route("POST", "/api/orders", 1, 60.0, 0.6, p_reset=0.01),
        Route("GET", "/api/users/{uuid}/files/{hash}", 1, 15.0, 0.5),
        Route("GET", "/api/reports/{date}", 1, 120.0, 0.7, p_timeout=0.02),
        Route("GET", "/api/profiles/{param}", 1, 12.0, 0.4),
        Route("GET", "/api/export", 1, 250.0, 0.5),
    )


def _pseudonym(rng: random.Random) -> str:
    return f"{rng.getrandbits(64):016x}"


def plans_scenario(
    *,
    scope: Scope | None = "identity",
    grouping: Literal["route", "*"] = "*",
    seed: int = 0,
    duration_s: float = 120.0,
    scale: float = 1.0,
) -> Scenario:
    """Free (5 req/s, burst 10, 403 on ``/api/export``), pro (20/s, burst 40) and enterprise
    (unlimited) identities sending around and above their limits.

    For ``identity`` scope each identity uses two IPs of its own; for ``client_ip`` and
    ``global`` scopes pairs of identities share an IP and the server limits with
    (8 req/s, burst 15) per IP or (40 req/s, burst 30) overall. ``scope=None``: no limiter.
    ``scale`` multiplies every client's rate (tripled for per-route budgets, which split
    each client's traffic over eight routes).

    >>> s = plans_scenario(seed=1)
    >>> sorted(set(s.plan_of().values())), s.limiter.scope if s.limiter else None
    (['enterprise', 'free', 'pro'], 'identity')
    """
    rng = random.Random(seed)  # noqa: S311 - test data, not crypto
    if grouping == "route":
        scale *= 3.0
    plans = {
        "free": Plan("free", 5.0, 10, {("GET", "/api/export"): 403}),
        "pro": Plan("pro", 20.0, 40),
        "enterprise": Plan("enterprise"),
    }
    mix: list[tuple[str, float, Literal["poisson", "bursty"], int]] = [
        ("free", 7.0, "poisson", 1),
        ("free", 9.0, "poisson", 1),
        ("free", 4.0, "bursty", 16),
        ("pro", 26.0, "poisson", 1),
        ("pro", 17.0, "bursty", 60),
        ("pro", 30.0, "poisson", 1),
        ("enterprise", 30.0, "poisson", 1),
        ("enterprise", 12.0, "bursty", 80),
    ]
    if scope in ("client_ip", "global"):
        mix = [(p, r / 2.5, pat, max(1, b // 2)) for p, r, pat, b in mix]
    clients = []
    for n, (plan, rate, pattern, size) in enumerate(mix):
        if scope == "identity" or scope is None:
            ips: tuple[str, ...] = (f"10.1.{n}.1", f"10.1.{n}.2")
        else:
            ips = (f"10.2.{n // 2}.1",)
        clients.append(Client(_pseudonym(rng), plan, ips, rate * scale, pattern, size))
    limiter = None
    if scope == "identity":
        limiter = Limiter("identity", grouping)
    elif scope == "client_ip":
        limiter = Limiter("client_ip", grouping, rate_per_s=8.0, burst=15)
    elif scope == "global":
        limiter = Limiter("global", grouping, rate_per_s=40.0, burst=30)
    return Scenario(
        default_routes(), plans, tuple(clients), limiter, duration_s=duration_s, seed=seed
    )


def _arrivals(client: Client, end_s: float, rng: random.Random) -> list[float]:
    stop = min(end_s, client.stop_s if client.stop_s is not None else end_s)
    times: list[float] = []
    t = client.start_s
    if client.pattern == "poisson":
        while (t := t + rng.expovariate(client.rate_per_s)) < stop:
            times.append(t)
        return times
    while (t := t + rng.expovariate(client.rate_per_s / client.burst_size)) < stop:
        s = t
        for _ in range(client.burst_size):
            times.append(s)
            s += rng.expovariate(200.0)
    return sorted(x for x in times if x < stop)


def _fill(template: str, rng: random.Random) -> str:
    parts = []
    for seg in template.split("/"):
        if seg == "{id}":
            seg = str(rng.randint(1, 10**6))
        elif seg == "{uuid}":
            h = f"{rng.getrandbits(128):032x}"
            seg = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        elif seg == "{hash}":
            seg = f"{rng.randint(0, 9)}{rng.getrandbits(60):015x}"
        elif seg == "{date}":
            seg = (datetime(2024, 1, 1) + timedelta(days=rng.randint(0, 365))).strftime("%Y-%m-%d")
        elif seg == "{param}":
            seg = f"user{rng.randint(0, 59):02d}x"
        parts.append(seg)
    return "/".join(parts)


def _headers(pairs: list[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in pairs]


def generate(scenario: Scenario) -> pl.DataFrame:
    """Simulate ``scenario``'s server; one row per exchange in ``HTTP_SCHEMA``, time ordered.

    >>> tape = generate(plans_scenario(seed=1, duration_s=2.0))
    >>> tape.columns == HTTP_SCHEMA.names, tape["status"].eq(429).any()
    (True, True)
    """
    rng = random.Random(scenario.seed * 7919 + 1)  # noqa: S311 - test data, not crypto
    events: list[tuple[float, int]] = []
    for n, client in enumerate(scenario.clients):
        events.extend((t, n) for t in _arrivals(client, scenario.duration_s, rng))
    events.sort()
    weights = [r.weight for r in scenario.routes]
    lim = scenario.limiter
    buckets: dict[tuple[str, str], TokenBucket] = {}
    rows: list[dict[str, Any]] = []
    for t, n in events:
        client = scenario.clients[n]
        route = rng.choices(scenario.routes, weights)[0]
        plan = scenario.plans[client.plan]
        ip = rng.choice(client.ips)
        t_us = round(t * 1e6)
        status: int | None = 200
        error: str | None = None
        resp: list[tuple[str, str]] = [("content-type", "application/json")]
        latency = rng.lognormvariate(math.log(route.latency_median_ms), route.latency_sigma)
        allowed, retry = True, 0.0
        if lim is not None:
            rate, burst = (
                (plan.rate_per_s, plan.burst)
                if lim.scope == "identity"
                else (lim.rate_per_s, lim.burst)
            )
            scope_key = {"identity": client.identity or "", "client_ip": ip, "global": ""}[
                lim.scope
            ]
            group = f"{route.method} {route.template}" if lim.grouping == "route" else "*"
            if rate is not None:
                bucket = buckets.setdefault((scope_key, group), TokenBucket(rate, burst))
                allowed, retry = bucket.try_acquire(t_us / 1e6)
                if lim.policy_header:
                    resp.append(("RateLimit-Policy", f"{burst};w={burst / rate:g}"))
        draw = rng.random()
        if not allowed:
            status = lim.status if lim is not None else 429
            latency = rng.uniform(0.5, 2.0)
            if lim is not None and lim.retry_after:
                resp.append(("Retry-After", str(max(1, math.ceil(retry)))))
        elif (route.method, route.template) in plan.refused:
            status = plan.refused[route.method, route.template]
        elif draw < route.p_timeout:
            status, error, latency, resp = None, "timeout", 30_000.0, []
        elif draw < route.p_timeout + route.p_reset:
            status, error, latency, resp = None, "connection reset", latency / 2, []
        elif draw < route.p_timeout + route.p_reset + route.p_5xx:
            status = rng.choice((500, 503))
        dur_us = round(latency * 1000)
        size = (
            0
            if status is None
            else round(rng.lognormvariate(math.log(route.size_median), route.size_sigma))
        )
        rows.append(
            {
                "exchange_id": f"{rng.getrandbits(128):032x}",
                "ts_start": scenario.start + timedelta(microseconds=t_us),
                "ts_end": scenario.start + timedelta(microseconds=t_us + dur_us),
                "duration_ms": dur_us / 1000,
                "method": route.method,
                "scheme": "https",
                "host": scenario.host,
                "port": 443,
                "path": _fill(route.template, rng),
                "query": "",
                "http_version": "HTTP/1.1",
                "status": status,
                "request_headers": _headers([("user-agent", "synthetic/1")]),
                "response_headers": _headers(resp),
                "request_body": None,
                "response_body": None,
                "request_body_size": 0,
                "response_body_size": size,
                "request_body_truncated": False,
                "response_body_truncated": False,
                "request_content_encoding": None,
                "response_content_encoding": None,
                "identity": client.identity,
                "client_addr": f"{ip}:{rng.randint(20_000, 60_000)}",
                "server_addr": "192.0.2.10:443",
                "traceparent": None,
                "flow_kind": "http",
                "error": error,
            }
        )
    table = pa.Table.from_pylist(rows, schema=HTTP_SCHEMA)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame
