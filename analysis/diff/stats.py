"""The statistics behind ``understudy diff``: a two-sided Mann-Whitney U test and Holm's step-down
correction, in plain Python (no scipy).

The U test compares two samples of latencies without assuming a distribution: it asks whether
a value drawn from B tends to be larger (or smaller) than one drawn from A. With both samples
of 20 or more the normal approximation (tie-corrected, with a continuity correction) is
accurate to well under the significance levels used here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["MannWhitney", "holm", "mann_whitney"]


@dataclass(frozen=True, slots=True)
class MannWhitney:
    """Result of :func:`mann_whitney`: ``u`` of sample A, ``z`` and the two-sided ``p``."""

    u: float
    z: float
    p: float
    n_a: int
    n_b: int


def _ranks(values: Sequence[float]) -> tuple[list[float], float]:
    """Average ranks (1-based) of ``values`` and the tie term sum(t^3 - t)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    ties = 0.0
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        rank = (i + j) / 2 + 1
        for k in range(i, j + 1):
            ranks[order[k]] = rank
        t = j - i + 1
        ties += t * t * t - t
        i = j + 1
    return ranks, ties


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> MannWhitney:
    """Two-sided Mann-Whitney U test of ``a`` against ``b`` (normal approximation).

    >>> r = mann_whitney([1.0] * 30, [2.0] * 30)
    >>> r.p < 1e-9, r.u
    (True, 0.0)
    >>> mann_whitney([1.0, 2.0, 3.0] * 10, [3.0, 2.0, 1.0] * 10).p
    1.0
    """
    n_a, n_b = len(a), len(b)
    if n_a == 0 or n_b == 0:
        raise ValueError("mann_whitney needs two non-empty samples")
    ranks, ties = _ranks([*a, *b])
    n = n_a + n_b
    u = sum(ranks[:n_a]) - n_a * (n_a + 1) / 2
    mean = n_a * n_b / 2
    var = n_a * n_b / 12 * ((n + 1) - ties / (n * (n - 1)))
    if var <= 0:  # every value equal: no evidence of a difference
        return MannWhitney(u, 0.0, 1.0, n_a, n_b)
    delta = abs(u - mean)
    z = max(0.0, delta - 0.5) / math.sqrt(var)
    p = min(1.0, math.erfc(z / math.sqrt(2)))
    return MannWhitney(u, math.copysign(z, u - mean), p, n_a, n_b)


def holm(pvalues: Sequence[float], alpha: float) -> list[bool]:
    """Which of ``pvalues`` are significant at family-wise level ``alpha`` (Holm, 1979).

    >>> holm([0.001, 0.03, 0.04], 0.05)
    [True, False, False]
    >>> holm([0.001, 0.012, 0.04], 0.05)
    [True, True, True]
    """
    m = len(pvalues)
    order = sorted(range(m), key=pvalues.__getitem__)
    keep = [False] * m
    for rank, i in enumerate(order):
        if pvalues[i] > alpha / (m - rank):
            break
        keep[i] = True
    return keep
