"""The behaviour core alone: requests in, decisions out, no sockets, no clock."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from http_worlds import (
    HOST,
    LIMITED_BODY,
    ORDER_BODY,
    REFUSED_BODY,
    SLOW_HIST,
    TEST_KEY_HEX,
    WorldBuilder,
    api_world,
    auth,
    empty_doc,
    pseudonym,
)

from replayer.core import (
    MISS_STATUS,
    Behaviour,
    BehaviourSettings,
    Request,
    WorldModel,
    policy_from_world,
)
from replayer.core.latency import LatencyModel, route_rng
from understudy.errors import ConfigError, WorldError
from understudy.redact import Pseudonymizer, Redactor
from understudy.world import load_world


@pytest.fixture(scope="module")
def world_path(tmp_path_factory) -> Path:
    return api_world(tmp_path_factory.mktemp("w") / "w")


@pytest.fixture(scope="module")
def model(world_path) -> WorldModel:
    return WorldModel.from_world(load_world(world_path))


def behaviour(model: WorldModel, **settings) -> Behaviour:
    red = Redactor(policy_from_world({}), Pseudonymizer(bytes.fromhex(TEST_KEY_HEX)))
    settings.setdefault("latency", False)
    return Behaviour(model, red, BehaviourSettings(**settings))


def req(path: str, query: str = "", *, key: str | None = "free-key-1", method: str = "GET",
        body: bytes = b"", ip: str = "10.0.0.1", headers: tuple = ()) -> Request:  # fmt: skip
    hdrs = tuple(auth(key).items()) if key else ()
    if body:
        hdrs += (("Content-Type", "application/json"),)
    return Request(method, HOST, path, query, hdrs + headers, body, client_ip=ip)


def test_exact_match_serves_the_recorded_bytes(model) -> None:
    d = behaviour(model).decide(req("/api/items/2"), 0.0)
    assert d.kind == "exact" and d.status == 200
    assert d.response.body == b'{"id": 2, "name": "item 2", "tags": ["x"]}'
    assert ("Content-Type", "application/json") in d.response.headers
    assert d.facts.route == "/api/items/{id}" and d.facts.params == (("id", "2"),)


def test_route_answer_carries_path_parameters(model) -> None:
    d = behaviour(model).decide(req("/api/items/77"), 0.0)
    assert d.kind == "route" and d.status == 200
    assert json.loads(d.response.body) == {"id": 77, "name": "item 1", "tags": ["x"]}


def test_query_is_part_of_the_key(model) -> None:
    b = behaviour(model)
    assert json.loads(b.decide(req("/api/items", "page=2"), 0).response.body)["page"] == 2
    d = b.decide(req("/api/items", "page=9"), 0)
    assert d.kind == "route"  # the route's representative answer


def test_sequences_replay_in_order_then_repeat_the_last(model) -> None:
    b = behaviour(model)
    body = json.dumps({"qty": 2, "sku": "a-1"}).encode()  # reordered keys: same canonical body
    orders = [json.loads(b.decide(req("/api/orders", method="POST", body=body), 0)
                         .response.body)["order"] for _ in range(5)]  # fmt: skip
    assert orders == [1, 2, 3, 3, 3]
    other = behaviour(model)  # a fresh session starts the sequence again
    d = other.decide(req("/api/orders", method="POST", body=json.dumps(ORDER_BODY).encode()), 0)
    assert json.loads(d.response.body)["order"] == 1


def test_permissions_refuse_per_class(model) -> None:
    b = behaviour(model)
    free = b.decide(req("/api/admin/stats"), 0)
    assert free.kind == "refused" and free.status == 403 and free.response.body == REFUSED_BODY
    pro = b.decide(req("/api/admin/stats", key="pro-key-1"), 0)
    assert pro.kind == "exact" and pro.status == 200


def test_unknown_identity_gets_the_default_class(model, world_path) -> None:
    b = behaviour(model)
    d = b.decide(req("/api/admin/stats", key="stolen-key"), 0)
    assert d.facts.identity == pseudonym("stolen-key")
    assert not d.facts.identity_known and d.facts.identity_class == "free"
    assert d.kind == "refused"
    red = Redactor(policy_from_world({}), Pseudonymizer(bytes.fromhex(TEST_KEY_HEX)))
    pro_default = Behaviour(
        WorldModel.from_world(load_world(world_path), default_class="pro"),
        red, BehaviourSettings(latency=False),
    )  # fmt: skip
    assert pro_default.decide(req("/api/admin/stats", key="stolen-key"), 0).kind == "exact"


def test_rate_limit_by_class_with_retry_after(model) -> None:
    b = behaviour(model)
    now = 100.0
    free = [b.decide(req("/api/search", "q=x"), now) for _ in range(7)]
    assert [d.kind for d in free] == ["exact"] * 5 + ["limited"] * 2
    limited = free[-1]
    assert limited.status == 429 and limited.response.body == LIMITED_BODY
    assert ("Retry-After", "1") in limited.response.headers
    assert ("X-RateLimit-Limit", "5") in limited.response.headers
    assert limited.details["retry_after_s"] == pytest.approx(0.2)
    # another identity has its own bucket; pro has a bigger one
    assert b.decide(req("/api/search", "q=x", key="free-key-2"), now).kind == "exact"
    pro = [b.decide(req("/api/search", "q=x", key="pro-key-1"), now) for _ in range(21)]
    assert [d.kind for d in pro].count("limited") == 1
    # 0.2 s later the free bucket holds one token again
    assert b.decide(req("/api/search", "q=x"), now + 0.2).kind == "exact"
    assert behaviour(model, limits=False).decide(req("/api/search", "q=x"), now).kind == "exact"


def test_sustained_rate_matches_the_bucket(model) -> None:
    b = behaviour(model)
    accepted = sum(
        b.decide(req("/api/search", "q=x"), i * 0.01).kind == "exact" for i in range(300)
    )
    assert accepted == 5 + 14  # the burst at t=0, then one token every 0.2 s up to t=2.8


def test_miss_names_the_nearest_candidates(model) -> None:
    d = behaviour(model).decide(req("/api/itemz/1"), 0)
    assert d.kind == "miss" and d.status == MISS_STATUS
    assert ("X-Understudy-Miss", "1") in d.response.headers
    body = json.loads(d.response.body)
    assert body["reason"] == "no recorded route matches"
    near = body["nearest"]
    assert 1 <= len(near) <= 3
    assert near[0]["path"] == "/api/items/1" and near[0]["differs"] == ["path"]
    wrong_method = behaviour(model).decide(req("/api/items/1", method="DELETE"), 0)
    assert wrong_method.kind == "miss"
    assert json.loads(wrong_method.response.body)["nearest"][0]["differs"] == ["method"]


def test_redacted_fields_still_match(tmp_path) -> None:
    red = Redactor(policy_from_world({}), Pseudonymizer(bytes.fromhex(TEST_KEY_HEX)))
    b = WorldBuilder()
    rid = b.response(200, {"ok": True})
    query = red.redact_query("api_key=s3cret&page=1")
    body = red.redact_body(b'{"password": "hunter2", "user": "bob"}', "application/json")
    from understudy.matchkey import normalize_query

    b.exchange("GET", "/login", "/login", rid, query=normalize_query(query))
    b.exchange("POST", "/login", "/login", rid, body=body)
    m = WorldModel.from_world(load_world(b.write(tmp_path / "w", empty_doc())))
    beh = Behaviour(m, red, BehaviourSettings(latency=False))
    assert beh.decide(req("/login", "page=1&api_key=s3cret", key=None), 0).kind == "exact"
    same = b'{"user": "bob", "password": "hunter2"}'
    assert beh.decide(req("/login", method="POST", body=same, key=None), 0).kind == "exact"
    other = b'{"user": "bob", "password": "wrong"}'
    assert beh.decide(req("/login", method="POST", body=other, key=None), 0).kind == "route"


def test_faults_follow_the_observed_mix(model) -> None:
    b = behaviour(model, faults=True, seed=7, fault_timeout_s=2.5)
    kinds = [b.decide(req("/api/flaky"), 0) for _ in range(2000)]
    faults = [d.details["fault"] for d in kinds if d.kind == "fault"]
    assert len(faults) / 2000 == pytest.approx(0.5, abs=0.05)
    assert faults.count("5xx") / 2000 == pytest.approx(0.3, abs=0.04)
    timeout = next(d for d in kinds if d.kind == "fault" and d.details["fault"] == "timeout")
    assert timeout.action == "close" and timeout.response is None and timeout.delay_s == 2.5
    reset = next(d for d in kinds if d.kind == "fault" and d.details["fault"] == "reset")
    assert reset.action == "reset" and reset.response is None
    five = next(d for d in kinds if d.kind == "fault" and d.details["fault"] == "5xx")
    assert five.status == 503 and b"overloaded" in five.response.body
    assert all(d.kind == "exact" for d in (behaviour(model).decide(req("/api/flaky"), 0)
                                           for _ in range(50)))  # fmt: skip


def test_seed_reproduces_decisions_and_delays(model) -> None:
    def session(seed: int) -> list[tuple[str, float]]:
        b = behaviour(model, latency=True, faults=True, seed=seed)
        paths = ["/api/flaky", "/api/slow", "/api/items/1", "/api/flaky", "/api/items/9"] * 40
        return [(d.kind, d.delay_s) for d in (b.decide(req(p), 0) for p in paths)]

    assert session(11) == session(11)
    assert session(11) != session(12)


def ks_distance(a: list[float], b: list[float]) -> float:
    """Two-sample Kolmogorov-Smirnov statistic."""
    a, b = sorted(a), sorted(b)
    i = j = 0
    d = 0.0
    while i < len(a) and j < len(b):
        x = min(a[i], b[j])
        while i < len(a) and a[i] <= x:
            i += 1
        while j < len(b) and b[j] <= x:
            j += 1
        d = max(d, abs(i / len(a) - j / len(b)))
    return d


def histogram_samples(hist: list[list[float]], n: int, seed: int) -> list[float]:
    """Independent draws from a histogram: a bucket by weight, log-uniform inside."""
    rng = random.Random(seed)
    weights = [c for _, _, c in hist]
    out = []
    for _ in range(n):
        lo, hi, _ = rng.choices(hist, weights)[0]
        out.append(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    return out


def test_latency_follows_the_histogram(model) -> None:
    b = behaviour(model, latency=True, seed=3)
    served = [b.decide(req("/api/slow"), 0).delay_s * 1000 for _ in range(2000)]
    assert ks_distance(served, histogram_samples(SLOW_HIST, 2000, 1)) < 0.05
    assert min(served) >= 20 and max(served) <= 160


def test_latency_model_edges() -> None:
    rng = route_rng(0, "x")
    assert LatencyModel().sample_ms(rng) == 0.0
    assert LatencyModel([(0.0, 4.0, 1)]).sample_ms(rng) <= 4.0
    assert LatencyModel(samples=[5.0, 5.0]).sample_ms(rng) == 5.0


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"routes": {"x": 1}}, "routes must be a list"),
        ({"routes": [{"host": HOST, "method": "GET"}]}, "routes[0].route"),
        (
            {
                "rate_limits": [
                    {"host": HOST, "route": "*", "scope": "planet", "rate_per_s": 1, "burst": 1}
                ]
            },
            "rate_limits[0].scope",
        ),
        (
            {
                "rate_limits": [
                    {"host": HOST, "route": "*", "scope": "global", "rate_per_s": -1, "burst": 1}
                ]
            },
            "rate_per_s",
        ),
        ({"identity_classes": [{"name": "a", "identities": "nope"}]}, "identities"),
        (
            {
                "permissions": [
                    {
                        "host": HOST,
                        "method": "GET",
                        "route": "/",
                        "identity_class": "a",
                        "allowed": "yes",
                    }
                ]
            },
            "allowed",
        ),
        (
            {
                "routes": [
                    {
                        "host": HOST,
                        "method": "GET",
                        "route": "/",
                        "latency_ms": {"histogram": [[5, 1, 3]]},
                    }
                ]
            },
            "histogram[0]",
        ),
    ],
)
def test_bad_world_documents_are_refused(tmp_path, patch, message) -> None:
    w = WorldBuilder().write(tmp_path / "w", empty_doc(**patch))
    with pytest.raises(WorldError, match=message.replace("[", r"\[").replace("]", r"\]")):
        WorldModel.from_world(load_world(w))


def test_unknown_default_class_is_a_config_error(world_path) -> None:
    with pytest.raises(ConfigError, match="free, pro"):
        WorldModel.from_world(load_world(world_path), default_class="gold")


def test_head_is_answered_by_the_get_route(model) -> None:
    d = behaviour(model).decide(req("/api/items/1", method="HEAD"), 0)
    assert d.kind == "route" and d.facts.route == "/api/items/{id}" and d.status == 200


def test_miner_error_mix_is_read_and_refusals_inject_resets(tmp_path) -> None:
    b = WorldBuilder()
    b.exchange("GET", "/e", "/e", b.response(200, {"ok": 1}))
    b.exchange("GET", "/e", "/e", b.response(502, {"bad": "gateway"}), seq=1)
    route = {"host": HOST, "method": "GET", "route": "/e", "count": 10,
             "status_counts": {"200": 6, "502": 2},
             "errors": {"5xx": 2, "timeout": 0, "reset": 0, "refused": 2, "other": 0,
                        "rate": 0.4}}  # fmt: skip
    m = WorldModel.from_world(load_world(b.write(tmp_path / "w", empty_doc(routes=[route]))))
    beh = behaviour(m, faults=True, seed=1)
    kinds = [beh.decide(req("/e", key=None), 0) for _ in range(1000)]
    refused = [d for d in kinds if d.details.get("fault") == "refused"]
    assert len(refused) / 1000 == pytest.approx(0.2, abs=0.04)
    assert all(d.action == "reset" for d in refused)
    five = [d for d in kinds if d.details.get("fault") == "5xx"]
    assert five and all(d.status == 502 for d in five)
