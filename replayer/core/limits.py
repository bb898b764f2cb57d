"""Rate limits as the world measured them: one token bucket per (limit, scope value).

A request is checked against every limit that applies to it (same host; its route or the
host-wide ``*``; its identity class or every class) in world order. The scope picks the
bucket: the identity pseudonym (the client ip when the request carries no identity), the
client ip, or one global bucket. The buckets are the core package's GCRA
:class:`understudy.ratelimit.TokenBucket` (the model the miner fitted), so a limited request
takes no token. The first bucket that refuses answers the limited response, with a
``Retry-After`` from that bucket's state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from replayer.core.doc import RateLimitSpec
from understudy.ratelimit import TokenBucket

__all__ = ["LimitHit", "Limiter"]

_CACHE_MAX: Final = 65_536


@dataclass(frozen=True, slots=True)
class LimitHit:
    """A refusal by one limit: which, for whom, and how long until a token is free."""

    spec: RateLimitSpec
    scope_value: str
    retry_after_s: float

    def describe(self) -> dict[str, object]:
        """The limit, as the session report names it."""
        s = self.spec
        return {"route": s.route, "scope": s.scope, "identity_class": s.identity_class,
                "rate_per_s": s.rate_per_s, "burst": s.burst}  # fmt: skip


class Limiter:
    """Buckets for every applicable (limit, scope value), created on first use."""

    def __init__(self, specs: tuple[RateLimitSpec, ...]) -> None:
        self.specs = specs
        self._applicable: dict[tuple[str, str, str], tuple[int, ...]] = {}
        self._buckets: dict[tuple[int, str], TokenBucket] = {}
        self.statuses: dict[str, set[int]] = {}
        for s in specs:
            self.statuses.setdefault(s.host, set()).add(s.limit_status)

    def applicable(self, host: str, route: str, identity_class: str) -> tuple[int, ...]:
        """Indexes of the limits that apply to a request (cached per host/route/class)."""
        key = (host, route, identity_class)
        found = self._applicable.get(key)
        if found is None:
            found = tuple(
                i
                for i, s in enumerate(self.specs)
                if s.host == host
                and s.route in (route, "*")
                and s.identity_class in (None, identity_class)
            )
            if len(self._applicable) >= _CACHE_MAX:
                self._applicable.clear()
            self._applicable[key] = found
        return found

    def check(
        self, indexes: tuple[int, ...], identity: str | None, client_ip: str, now: float
    ) -> LimitHit | None:
        """Take a token from each bucket of the limits ``indexes`` (from :meth:`applicable`);
        return the first refusal, or None."""
        for i in indexes:
            spec = self.specs[i]
            scope = spec.scope
            if scope == "identity":
                value = identity if identity is not None else f"ip:{client_ip}"
            elif scope == "client_ip":
                value = client_ip
            else:
                value = ""
            bucket = self._buckets.get((i, value))
            if bucket is None:
                bucket = self._buckets[(i, value)] = TokenBucket(spec.rate_per_s, spec.burst)
            allowed, retry_after = bucket.try_acquire(now)
            if not allowed:
                return LimitHit(spec, value, retry_after)
        return None
