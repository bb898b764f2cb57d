"""Latency, outcomes and the shape of the mined world against the generator's truth."""

from __future__ import annotations

import itertools
import json
import math

import polars as pl
import pytest
from http_mine_helpers import Mined

from analysis.http.entries import route_entries
from analysis.http.latency import MAX_MS, MIN_MS, histogram_edges

Z = {"p50": (0.5, 0.0), "p90": (0.9, 1.2815516), "p99": (0.99, 2.3263479)}


def tolerance(q: float, z: float, sigma: float, n: int) -> float:
    """Four standard errors of a sample quantile of a lognormal, relative to it."""
    density = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    return max(0.03, 4 * sigma * math.sqrt(q * (1 - q) / n) / density)


def by_route(m: Mined) -> dict[tuple[str, str], dict]:  # type: ignore[type-arg]
    return {(r["method"], r["route"]): r for r in m.world.routes}


def test_latency_quantiles_match_the_lognormal_truth(plans: Mined) -> None:
    routes = by_route(plans)
    for spec in plans.scenario.routes:
        lat = routes[spec.method, spec.template]["latency_ms"]
        assert lat["n"] > 300, spec
        for name, (q, z) in Z.items():
            truth = spec.latency_median_ms * math.exp(z * spec.latency_sigma)
            rel = tolerance(q, z, spec.latency_sigma, lat["n"])
            assert lat[name] == pytest.approx(truth, rel=rel), (spec.template, name)
        assert lat["max"] >= lat["p99"] >= lat["p90"] >= lat["p50"]


def test_histogram_is_sampleable(plans: Mined) -> None:
    edges = histogram_edges()
    assert edges[0] == MIN_MS and edges[-1] == MAX_MS and edges == sorted(edges)
    for r in plans.world.routes:
        lat = r["latency_ms"]
        hist = lat["histogram"]
        assert sum(n for _, _, n in hist) == lat["n"]
        assert all(lo < hi and n > 0 for lo, hi, n in hist)
        assert all(a[1] <= b[0] for a, b in itertools.pairwise(hist))
        assert hist[0][0] <= lat["p50"] <= hist[-1][1]
        inner = {e for lo, hi, _ in hist for e in (lo, hi)} - {0.0, lat["max"]}
        assert inner <= set(edges)


def test_error_mix_matches_the_generator(plans: Mined) -> None:
    routes = by_route(plans)
    plan = plans.scenario.plan_of()
    refused_plans = {p.name for p in plans.scenario.plans.values() if p.refused}
    for spec in plans.scenario.routes:
        entry = routes[spec.method, spec.template]
        counts = entry["status_counts"]
        refused = 0
        if (spec.method, spec.template) in next(iter(plans.scenario.plans.values())).refused:
            refused = counts.get("403", 0)
        eligible = entry["count"] - counts.get("429", 0) - refused
        for kind, p in (("timeout", spec.p_timeout), ("reset", spec.p_reset), ("5xx", spec.p_5xx)):
            spread = 4 * math.sqrt(p * (1 - p) * eligible) + 1
            assert abs(entry["errors"][kind] - p * eligible) <= spread, (spec.template, kind)
        answered = sum(counts.values())
        assert answered + entry["errors"]["timeout"] + entry["errors"]["reset"] == entry["count"]
    assert refused_plans == {"free"} and "free" in set(plan.values())


def test_response_sizes(plans: Mined) -> None:
    for r in plans.world.routes:
        sizes = r["response_bytes"]
        assert sizes["p50"] == pytest.approx(2000, rel=0.12)
        assert sizes["p50"] <= sizes["p90"] <= sizes["p99"] <= sizes["max"]


def test_world_lists_are_plain_json(plans: Mined) -> None:
    doc = json.loads(json.dumps(plans.world.to_json()))
    assert set(doc) == {"routes", "rate_limits", "identity_classes", "permissions"}
    assert {"host", "method", "route", "count", "latency_ms", "status_counts", "errors",
            "response_bytes"} <= set(doc["routes"][0])  # fmt: skip
    assert {"p50", "p90", "p99", "max", "histogram"} <= set(doc["routes"][0]["latency_ms"])
    assert {"host", "route", "scope", "identity_class", "rate_per_s", "burst", "limit_status",
            "evidence", "confidence"} <= set(doc["rate_limits"][0])  # fmt: skip
    assert set(doc["identity_classes"][0]) == {"name", "identities", "summary"}
    assert set(doc["permissions"][0]) == {
        "host", "method", "route", "identity_class", "allowed", "status"
    }  # fmt: skip


def test_latency_by_class_only_where_classes_differ() -> None:
    fast = [10.0 + i % 5 for i in range(100)]
    slow = [40.0 + i % 5 for i in range(100)]
    ex = pl.LazyFrame(
        {
            "host": "h",
            "method": "GET",
            "route": ["/slow"] * 200 + ["/same"] * 200,
            "identity_class": (["class-1"] * 100 + ["class-2"] * 100) * 2,
            "duration_ms": fast + slow + fast + fast,
            "status": 200,
            "error": None,
            "limited": False,
            "response_body_size": 1,
        },
        schema_overrides={"error": pl.String},
    )
    entries = {e["route"]: e for e in route_entries(ex)}
    by_class = entries["/slow"]["latency_ms_by_class"]
    assert by_class["class-1"]["p50"] == 12.0 and by_class["class-2"]["p50"] == 42.0
    assert "latency_ms_by_class" not in entries["/same"]
