"""Rate limits inferred from synthetic traffic: scope, grouping, rate and burst."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from http_mine_helpers import Mined

from analysis.http.exchanges import exchange_frame
from analysis.http.ratelimits import fit_pools
from understudy.testing.synthetic_http import (
    Client,
    Limiter,
    Plan,
    Scenario,
    default_routes,
    generate,
    plans_scenario,
)

PLAN_LIMITS = {"free": (5.0, 10), "pro": (20.0, 40)}
SCOPE_LIMITS = {"client_ip": (8.0, 15), "global": (40.0, 30)}


def close(entry: dict[str, Any], rate: float, burst: int) -> bool:
    return abs(entry["rate_per_s"] / rate - 1) <= 0.10 and abs(entry["burst"] - burst) <= 1


def scenario(scope: str, grouping: str) -> Scenario:
    return plans_scenario(
        scope=scope,  # type: ignore[arg-type]
        grouping=grouping,  # type: ignore[arg-type]
        seed=1,
        duration_s=60.0 if grouping == "*" else 45.0,
    )


@pytest.mark.parametrize("grouping", ["*", "route"])
def test_per_identity_limits_per_plan(mine: Callable[[Scenario], Mined], grouping: str) -> None:
    m = mine(scenario("identity", grouping))
    assert [(s["scope"], s["grouping"]) for s in m.world.scopes] == [("identity", grouping)]
    limits = m.world.rate_limits
    assert {e["scope"] for e in limits} == {"identity"}
    for plan, (rate, burst) in PLAN_LIMITS.items():
        mine_ = [e for e in limits if e["identity_class"] == m.class_of_plan(plan)]
        assert mine_, plan
        assert all(e["route"] != "*" for e in mine_) == (grouping == "route")
        confident = [e for e in mine_ if e["confidence"] >= 0.5]
        assert confident and all(close(e, rate, burst) for e in confident), mine_
    enterprise = m.class_of_plan("enterprise")
    assert not [e for e in limits if e["identity_class"] == enterprise]


@pytest.mark.parametrize("scope", ["client_ip", "global"])
@pytest.mark.parametrize("grouping", ["*", "route"])
def test_shared_limits(mine: Callable[[Scenario], Mined], scope: str, grouping: str) -> None:
    m = mine(scenario(scope, grouping))
    assert [(s["scope"], s["grouping"]) for s in m.world.scopes] == [(scope, grouping)]
    rate, burst = SCOPE_LIMITS[scope]
    limits = m.world.rate_limits
    assert limits
    for e in limits:
        assert e["scope"] == scope and e["identity_class"] is None
        assert (e["route"] == "*") == (grouping == "*")
        assert e["limit_status"] == 429
        if e["confidence"] >= 0.5:
            assert close(e, rate, burst), e
    assert max(e["confidence"] for e in limits) > 0.95


def test_evidence_and_agreement_reported(plans: Mined) -> None:
    for e in plans.world.rate_limits:
        assert e["evidence"]["limited"] > 100 and e["evidence"]["accepted"] > 100
        assert e["agreement"] >= 0.99 and e["confidence"] >= 0.95
        assert e["hints"]["retry_after_s"] >= 1


def test_no_limiting_no_limits(mine: Callable[[Scenario], Mined]) -> None:
    m = mine(plans_scenario(scope=None, seed=5, duration_s=30.0))
    assert m.world.rate_limits == [] and m.world.scopes == []
    (floor,) = m.world.unlimited
    assert floor["host"] == m.scenario.host and floor["observed_peak_per_s"] > 50


def test_sparse_evidence_low_confidence(mine: Callable[[Scenario], Mined]) -> None:
    """A client just around its limit: a handful of 429s, a fit reported but not trusted."""
    routes = default_routes()[:1]
    sparse = Scenario(
        routes=routes,
        plans={"free": Plan("free", 5.0, 10)},
        clients=(Client("c0ffee00c0ffee00", "free", ("10.9.0.1",), 5.0),),
        limiter=Limiter("identity"),
        duration_s=60.0,
        seed=3,
    )
    m = mine(sparse)
    limited = int(m.tape["status"].eq(429).sum())
    assert 0 < limited < 15
    (entry,) = m.world.rate_limits
    assert entry["evidence"]["limited"] == limited
    assert 0 < entry["confidence"] < 0.6


def test_header_policy_is_used(mine: Callable[[Scenario], Mined]) -> None:
    base = plans_scenario(scope="global", seed=2, duration_s=40.0)
    declared = Scenario(
        routes=base.routes,
        plans=base.plans,
        clients=base.clients,
        limiter=Limiter("global", rate_per_s=40.0, burst=30, policy_header=True),
        duration_s=base.duration_s,
        seed=base.seed,
    )
    (entry,) = mine(declared).world.rate_limits
    assert entry["hints"]["quota"] == 30 and entry["hints"]["window_s"] == pytest.approx(0.75)
    assert (entry["rate_per_s"], entry["burst"]) == (40.0, 30)


@pytest.mark.parametrize("scope", ["identity", "client_ip", "global"])
def test_pools_longer_than_the_window(scope: str) -> None:
    """Pools of many more requests than the search window: searched on their first ones,
    counted on all; the truth is recovered and the evidence is the pool's."""
    s = plans_scenario(scope=scope, seed=4, duration_s=120.0)  # type: ignore[arg-type]
    ex = exchange_frame(generate(s).lazy()).collect()
    choices = pl.DataFrame({"host": s.host, "scope": scope, "grouping": "*"})
    classes = pl.DataFrame(
        {"identity": list(s.plan_of()), "identity_class": list(s.plan_of().values())}
    )
    exact = fit_pools(ex, choices, classes, window=10**9).sort("identity_class")
    cut = fit_pools(ex, choices, classes, window=1_000).sort("identity_class")
    assert (
        cut.select("identity_class", "accepted", "limited").rows()
        == exact.select("identity_class", "accepted", "limited").rows()
    )
    assert (cut["accepted"] + cut["limited"]).min() > 2_000  # every pool was cut
    for e, c in zip(exact.iter_rows(named=True), cut.iter_rows(named=True), strict=True):
        rate, burst = (
            PLAN_LIMITS[c["identity_class"]] if scope == "identity" else SCOPE_LIMITS[scope]
        )
        assert close(c, rate, burst), c
        assert c["confidence"] >= e["confidence"] - 0.02
