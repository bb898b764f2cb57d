"""The synthetic HTTP generator: tape-shaped, seeded, and its limiter is the core bucket."""

from __future__ import annotations

import polars as pl

from understudy.ratelimit import simulate
from understudy.tape.schema import HTTP_SCHEMA
from understudy.testing.synthetic_http import generate, plans_scenario


def test_rows_follow_the_tape_schema_and_are_deterministic() -> None:
    scenario = plans_scenario(scope="identity", seed=9, duration_s=5.0)
    a, b = generate(scenario), generate(scenario)
    assert a.schema == pl.from_arrow(HTTP_SCHEMA.empty_table()).schema  # type: ignore[union-attr]
    assert a.equals(b)
    assert a["ts_start"].is_sorted()
    assert not generate(plans_scenario(scope="identity", seed=10, duration_s=5.0)).equals(a)


def test_limited_answers_replay_through_the_bucket() -> None:
    """Per identity (budget shared by routes), 429s are exactly the bucket's refusals."""
    scenario = plans_scenario(scope="identity", seed=4, duration_s=20.0)
    tape = generate(scenario)
    t = (pl.col("ts_start") - pl.col("ts_start").min()).dt.total_microseconds() / 1e6
    for identity, plan_name in scenario.plan_of().items():
        plan = scenario.plans[plan_name]
        rows = tape.filter(pl.col("identity") == identity).select(t.alias("t"), "status")
        if plan.rate_per_s is None:
            assert not rows["status"].eq(429).any()
            continue
        allowed = simulate(rows["t"].to_list(), plan.rate_per_s, plan.burst)
        assert [s != 429 for s in rows["status"].to_list()] == allowed
