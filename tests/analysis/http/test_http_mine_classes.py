"""Identity classes group identities of one plan; permissions say who is refused where."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
from http_mine_helpers import Mined

from analysis.http.identities import IdentityProfile, cluster_identities
from analysis.http.permissions import permission_counts, refusals
from understudy.testing.synthetic_http import Scenario, plans_scenario


def test_classes_are_the_plans(plans: Mined) -> None:
    assert sorted(map(sorted, plans.plan_of_class().values())) == [
        ["enterprise"],
        ["free"],
        ["pro"],
    ]
    members = {c["name"]: c["identities"] for c in plans.world.identity_classes}
    assert sorted(i for ids in members.values() for i in ids) == sorted(plans.scenario.plan_of())
    # named by decreasing size: the two enterprise identities make the smallest class
    assert plans.class_of_plan("enterprise") == "class-3"


def test_class_summaries(plans: Mined) -> None:
    summary = {c["name"]: c["summary"] for c in plans.world.identity_classes}
    assert summary[plans.class_of_plan("free")] == (
        "5 req/s burst 10; refused: GET /api/export (403)"
    )
    assert summary[plans.class_of_plan("pro")] == "20 req/s burst 40; refused: none"
    assert summary[plans.class_of_plan("enterprise")].startswith("no limit observed (peak ")


def test_permissions(plans: Mined) -> None:
    refused = [p for p in plans.world.permissions if not p["allowed"]]
    assert refused == [
        {
            "host": plans.scenario.host,
            "method": "GET",
            "route": "/api/export",
            "identity_class": plans.class_of_plan("free"),
            "allowed": False,
            "status": 403,
        }
    ]
    export = {p["identity_class"] for p in plans.world.permissions if p["route"] == "/api/export"}
    assert export == {plans.class_of_plan(p) for p in ("free", "pro", "enterprise")}


def test_exchanges_carry_route_and_class(plans: Mined) -> None:
    ex = plans.world.exchanges.collect()
    assert ex.height == plans.tape.height
    assert set(plans.tape.columns) < set(ex.columns)
    plan = plans.scenario.plan_of()
    pairs = ex.select("identity", "identity_class").unique().iter_rows()
    assert {(plan[i], c) for i, c in pairs} == {
        (p, plans.class_of_plan(p)) for p in ("free", "pro", "enterprise")
    }


def test_plans_without_identity_limits_split_by_permissions_only(
    mine: Callable[[Scenario], Mined],
) -> None:
    m = mine(plans_scenario(scope="global", grouping="*", seed=1, duration_s=60.0))
    assert sorted(map(sorted, m.plan_of_class().values())) == [["enterprise", "pro"], ["free"]]


def test_clustering_rules() -> None:
    unseen = -1

    def profile(
        name: str, bucket: tuple[float, int, int] | None, export: int | None
    ) -> IdentityProfile:
        limited = frozenset({"h"}) if bucket else frozenset()
        answers = {} if export == unseen else {("h", "GET", "/export"): export}
        return IdentityProfile(
            name, 100, bucket[2] if bucket else 0, frozenset({"h"}), limited,
            {("h", "*"): bucket} if bucket else {}, answers,
        )  # fmt: skip

    classes = cluster_identities(
        [
            profile("a", (5.0, 10, 50), 403),
            profile("b", (5.2, 11, 40), 403),
            profile("c", (6.0, 13, 50), None),  # close bucket, allowed on /export: apart
            profile("d", (20.0, 40, 60), None),
            profile("e", None, None),  # never limited: never in a limited class
            profile("f", (6.2, 14, 2), unseen),  # sparse, never tried /export: closest to c
        ]
    )
    assert classes["a"] == classes["b"] != classes["c"]
    assert classes["c"] == classes["f"]
    assert len({classes[i] for i in "acde"}) == 4


def test_refusals_401_403_and_hidden_404() -> None:
    ex = pl.LazyFrame(
        {
            "host": "h",
            "method": "GET",
            "route": ["/a"] * 6 + ["/b"] * 6,
            "identity_class": ["x", "x", "x", "y", "y", "y"] * 2,
            "status": [401, 401, 401, 200, 200, 200, 404, 404, 404, 200, 404, 200],
            "limited": False,
        }
    )
    got = (
        refusals(permission_counts(ex, ["identity_class"]))
        .select("route", "identity_class", "refused_status")
        .sort("route", "identity_class")
        .collect()
        .rows()
    )
    assert got == [("/a", "x", 401), ("/a", "y", None), ("/b", "x", 404), ("/b", "y", None)]
