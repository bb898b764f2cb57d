"""The token bucket (core) and the vectorised fit (analysis) agree, and the fit finds it."""

from __future__ import annotations

import math
import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.http.bucket_fit import EPS, candidate_counts, min_burst, prepare
from analysis.http.bucket_search import fit_buckets
from understudy.ratelimit import TokenBucket, simulate


def test_bucket_allows_burst_then_rate() -> None:
    bucket = TokenBucket(rate_per_s=10.0, burst=5)
    assert [bucket.try_acquire(0.0)[0] for _ in range(6)] == [True] * 5 + [False]
    allowed, retry = bucket.try_acquire(0.05)
    assert not allowed and retry == pytest.approx(0.05)
    assert bucket.try_acquire(0.1) == (True, 0.0)
    assert bucket.tokens(100.0) == 5.0


def test_limited_requests_take_no_token() -> None:
    # hammering while empty does not push the next token further away
    bucket = TokenBucket(rate_per_s=1.0, burst=1)
    assert bucket.try_acquire(0.0)[0]
    assert not any(bucket.try_acquire(0.1 * i)[0] for i in range(1, 10))
    assert bucket.try_acquire(1.0)[0]


@pytest.mark.parametrize("rate, burst", [(0.0, 1), (-1.0, 1), (math.inf, 1), (1.0, 0), (1.0, 1.5)])
def test_bucket_rejects_bad_parameters(rate: float, burst: int) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, burst)


@settings(max_examples=60, deadline=None)
@given(
    gaps=st.lists(st.floats(0.0, 0.5), min_size=1, max_size=120),
    rate=st.floats(0.5, 50.0),
    burst=st.integers(1, 20),
)
def test_vectorised_test_equals_the_bucket(gaps: list[float], rate: float, burst: int) -> None:
    """``min_burst`` judges each request exactly as ``TokenBucket`` does, given the history."""
    times = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    allowed = simulate(times, rate, burst)
    df = pl.DataFrame({"k": 0, "t": times, "acc": allowed, "r": rate})
    need = df.select(min_burst("t", "acc", "r", over=["k"])).to_series()
    assert [b - EPS <= burst for b in need] == allowed


def _traffic(seed: int, rate: float, burst: int, seconds: float = 60.0) -> pl.DataFrame:
    """Poisson at twice the rate plus a few bursts after quiet spells."""
    rng = random.Random(seed)
    times, t = [], 0.0
    while (t := t + rng.expovariate(2 * rate)) < seconds:
        times.append(t)
    for start in (seconds + 5, seconds + 20):
        times += [start + 0.001 * i for i in range(2 * burst)]
    times.sort()
    allowed = simulate(times, rate, burst)
    return pl.DataFrame({"pool": 0, "key": 0, "t": times, "limited": [not a for a in allowed]})


@pytest.mark.parametrize(
    "rate, burst", [(0.5, 1), (2.0, 3), (5.0, 10), (20.0, 40), (100.0, 7), (250.0, 200)]
)
def test_fit_recovers_rate_and_burst(rate: float, burst: int) -> None:
    fit = fit_buckets(_traffic(int(rate * 10) + burst, rate, burst)).row(0, named=True)
    assert fit["rate_per_s"] == pytest.approx(rate, rel=0.01)
    assert abs(fit["burst"] - burst) <= 1
    # the exact rate is pinned to ~0.1 token over the span: a handful of requests that
    # arrived within that of the boundary may be judged wrongly
    agree = fit["agree_accepted"] + fit["agree_limited"]
    assert agree >= 0.998 * (fit["accepted"] + fit["limited"])


def test_pools_fit_independently_and_keys_share_parameters() -> None:
    a = _traffic(1, 5.0, 10).with_columns(key=pl.lit(0))
    b = _traffic(2, 5.0, 10).with_columns(key=pl.lit(1))  # same pool, its own bucket
    c = _traffic(3, 20.0, 4).with_columns(pool=pl.lit(1), key=pl.lit(2))
    fits = fit_buckets(pl.concat([a, b, c]))
    assert fits["pool"].to_list() == [0, 1]
    assert fits["rate_per_s"].to_list() == pytest.approx([5.0, 20.0], rel=0.01)
    assert fits["burst"].to_list() == [10, 4]
    assert fits["limited"][0] == a["limited"].sum() + b["limited"].sum()


def test_counts_are_zero_at_the_truth_only() -> None:
    rows = prepare(_traffic(7, 5.0, 10))
    cands = pl.DataFrame(
        {"pool": 0, "c": [0, 1, 2, 3], "rate": [5.0, 5.0, 4.0, 6.0], "burst": [10, 12, 10, 10]}
    )
    counts = candidate_counts(rows, cands)
    assert counts.row(0) == (0, 0, 0, 0)
    assert all(v + c > 0 for v, c in counts.select("V", "C").rows()[1:])


def test_hint_rate_is_taken_when_it_explains_as_well() -> None:
    rows = _traffic(11, 5.0, 10)
    hints = pl.DataFrame({"pool": [0], "rate": [5.0], "burst": [10]})
    fit = fit_buckets(rows, hint_rates=hints).row(0, named=True)
    assert (fit["rate_per_s"], fit["burst"]) == (5.0, 10)
    wrong = pl.DataFrame({"pool": [0], "rate": [9.0], "burst": [10]})
    fit = fit_buckets(rows, hint_rates=wrong).row(0, named=True)
    assert fit["rate_per_s"] == pytest.approx(5.0, rel=0.01)


def test_no_rows_no_fits() -> None:
    empty = pl.DataFrame(schema={"pool": pl.Int64, "key": pl.Int64, "t": pl.Float64,
                                 "limited": pl.Boolean})  # fmt: skip
    assert fit_buckets(empty).is_empty()


@pytest.mark.parametrize("rate, burst", [(2.0, 3), (5.0, 10), (20.0, 40), (100.0, 7)])
def test_pools_longer_than_the_window_are_counted_on_every_request(rate: float, burst: int) -> None:
    """Searched on its first 2,000 requests (the bursts that show the burst come later), the
    pool's rate and burst are still found, with the evidence of every request."""
    rows = _traffic(int(rate * 10) + burst, rate, burst, seconds=600.0)
    assert rows.height > 2_000
    exact = fit_buckets(rows).row(0, named=True)
    fit = fit_buckets(rows, window=2_000).row(0, named=True)
    assert fit["rate_per_s"] == pytest.approx(rate, rel=0.01)
    assert abs(fit["burst"] - burst) <= 1
    assert (fit["accepted"], fit["limited"]) == (exact["accepted"], exact["limited"])
    agree = fit["agree_accepted"] + fit["agree_limited"]
    assert agree >= 0.99 * (fit["accepted"] + fit["limited"])
