"""The rate-limit model shared by the miner and the replayer: a token bucket run as GCRA.

A bucket holds at most ``burst`` tokens and refills at ``rate_per_s`` tokens per second; a
request that finds a token takes it and is allowed, one that finds none is limited and takes
nothing (what servers do: a refused request does not cost budget). The bucket starts full.

It is implemented as the generic cell rate algorithm (GCRA): one float of state, the
*theoretical arrival time* ``tat``. With emission interval ``T = 1 / rate`` and tolerance
``tau = (burst - 1) * T``, a request at ``now`` is allowed iff ``tat - now <= tau``; then
``tat = max(tat, now) + T``. A limited request is told to retry after ``tat - tau - now``
seconds. Pure and deterministic: no clock, no IO, the caller passes timestamps (seconds, any
epoch) in non-decreasing order.

``analysis.http`` fits ``(rate_per_s, burst)`` with a vectorised form of the same test
(:func:`analysis.http.bucket_fit.min_burst`) and checks its fits by running this class.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

__all__ = ["EPSILON_S", "TokenBucket", "simulate"]

#: Slack, in seconds, when comparing times: a request arriving exactly when a token is due is
#: allowed even if float rounding puts it a hair early.
EPSILON_S = 1e-9


class TokenBucket:
    """A GCRA token bucket: ``rate_per_s`` sustained, up to ``burst`` requests at once.

    Parameters
    ----------
    rate_per_s
        Refill rate in tokens per second (> 0, finite).
    burst
        Bucket capacity in tokens (an integer >= 1).

    Examples
    --------
    >>> bucket = TokenBucket(rate_per_s=2.0, burst=2)
    >>> [bucket.try_acquire(0.0)[0] for _ in range(3)]
    [True, True, False]
    >>> bucket.try_acquire(0.1)
    (False, 0.4)
    >>> bucket.try_acquire(0.5)
    (True, 0.0)
    """

    __slots__ = ("_interval", "_tat", "_tolerance", "burst", "rate_per_s")

    def __init__(self, rate_per_s: float, burst: int) -> None:
        if not (math.isfinite(rate_per_s) and rate_per_s > 0):
            raise ValueError(f"rate_per_s must be a positive finite number, not {rate_per_s!r}")
        if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
            raise ValueError(f"burst must be an integer >= 1, not {burst!r}")
        self.rate_per_s = float(rate_per_s)
        self.burst = burst
        self._interval = 1.0 / self.rate_per_s
        self._tolerance = (burst - 1) * self._interval
        self._tat = -math.inf

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_s={self.rate_per_s!r}, burst={self.burst!r})"

    def try_acquire(self, now: float) -> tuple[bool, float]:
        """Take a token at time ``now`` (seconds) if one is available.

        Returns ``(True, 0.0)`` when allowed, else ``(False, retry_after_s)``: the wait until
        a token is due. A limited request leaves the bucket unchanged.
        """
        tat = max(self._tat, now)
        early = tat - self._tolerance - now
        if early > EPSILON_S:
            return False, round(early, 9)
        self._tat = tat + self._interval
        return True, 0.0

    def tokens(self, now: float) -> float:
        """Tokens available at ``now`` (fractional; ``burst`` when the bucket is full).

        >>> bucket = TokenBucket(rate_per_s=1.0, burst=3)
        >>> bucket.try_acquire(10.0)
        (True, 0.0)
        >>> bucket.tokens(10.0), bucket.tokens(10.5), bucket.tokens(99.0)
        (2.0, 2.5, 3.0)
        """
        if self._tat == -math.inf:
            return float(self.burst)
        return max(0.0, min(float(self.burst), self.burst - (self._tat - now) * self.rate_per_s))


def simulate(times: Iterable[float], rate_per_s: float, burst: int) -> list[bool]:
    """Run a fresh bucket over arrival ``times``; return which requests are allowed.

    Examples
    --------
    >>> simulate([0.0, 0.0, 0.0, 1.0, 1.0], rate_per_s=1.0, burst=2)
    [True, True, False, True, False]
    """
    bucket = TokenBucket(rate_per_s, burst)
    return [bucket.try_acquire(t)[0] for t in times]
