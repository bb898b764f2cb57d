"""Latency drawn from a route's recorded histogram: a bucket by weight, then log-uniform in it.

Every route has its own :class:`random.Random`, seeded from ``--seed`` and the route's name
by a stable hash (never Python's salted ``hash``), so a session is reproducible: the same
requests to a route, in the same order, get the same delays and decisions.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import random
from collections.abc import Sequence
from typing import Final

__all__ = ["LatencyModel", "route_rng", "stable_seed"]

_MAX_SAMPLES: Final = 4096


def stable_seed(seed: int, *parts: str) -> int:
    """A 64-bit seed from ``seed`` and names, equal across processes and platforms.

    >>> stable_seed(1, "GET", "/a") == stable_seed(1, "GET", "/a") != stable_seed(2, "GET", "/a")
    True
    """
    h = hashlib.blake2b(str(seed).encode(), digest_size=8)
    for p in parts:
        h.update(b"\x00" + p.encode("utf-8", "surrogateescape"))
    return int.from_bytes(h.digest(), "big")


def route_rng(seed: int, *parts: str) -> random.Random:
    """A private random stream for one route (or one purpose of one route)."""
    return random.Random(stable_seed(seed, *parts))  # noqa: S311 - simulation, not crypto


class LatencyModel:
    """A route's latency distribution; :meth:`sample_ms` draws one value."""

    __slots__ = ("_buckets", "_cum", "_samples", "_total")

    def __init__(
        self,
        buckets: Sequence[tuple[float, float, int]] = (),
        samples: Sequence[float] = (),
    ) -> None:
        self._buckets = tuple(b for b in buckets if b[2] > 0)
        cum: list[int] = []
        total = 0
        for _, _, count in self._buckets:
            total += count
            cum.append(total)
        self._cum = cum
        self._total = total
        if samples and len(samples) > _MAX_SAMPLES:
            step = len(samples) / _MAX_SAMPLES
            samples = [samples[int(i * step)] for i in range(_MAX_SAMPLES)]
        self._samples = tuple(sorted(samples))

    @property
    def empty(self) -> bool:
        return self._total == 0 and not self._samples

    def sample_ms(self, rng: random.Random) -> float:
        """One latency in milliseconds (0 when nothing was recorded)."""
        if self._total:
            pick = rng.random() * self._total
            i = bisect.bisect_right(self._cum, pick)
            lo, hi, _ = self._buckets[min(i, len(self._buckets) - 1)]
            u = rng.random()
            if hi <= lo:
                return lo
            if lo <= 0:
                return u * hi
            return math.exp(math.log(lo) + u * (math.log(hi) - math.log(lo)))
        if self._samples:
            return self._samples[int(rng.random() * len(self._samples))]
        return 0.0
