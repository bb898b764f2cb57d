"""Route templates: recovered exactly from synthetic traffic, matched back at replay time."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
from http_mine_helpers import Mined
from hypothesis import given
from hypothesis import strategies as st

from analysis.http.routes import route_matchers, route_table, with_routes
from understudy.routes import RouteMatcher, compile_template, template_params
from understudy.testing.synthetic_http import Scenario, default_routes, plans_scenario


def templates(paths: list[str], *, host: str = "h", method: str = "GET") -> dict[str, str]:
    lf = pl.LazyFrame({"host": host, "method": method, "path": paths})
    return dict(route_table(lf).select("path", "route").collect().iter_rows())


def test_synthetic_templates_recovered_exactly(mine: Callable[[Scenario], Mined]) -> None:
    m = mine(plans_scenario(scope=None, seed=5, duration_s=30.0))
    mined = {(r["method"], r["route"]) for r in m.world.routes}
    assert mined == {(r.method, r.template) for r in default_routes()}


def test_value_segments_become_named_parameters() -> None:
    got = templates(
        [
            "/api/items/123",
            "/api/items/98",
            "/api/users/0b5a0e9a-6c0b-4a8e-9c61-2a3e0c7c1f00/files/9f86d081884c7d65",
            "/api/reports/2024-01-31",
            "/api/sessions/tok_8Hq2ZxK0aa9PqLm3",
            "/a/1/b/2",
        ]
    )
    assert got == {
        "/api/items/123": "/api/items/{id}",
        "/api/items/98": "/api/items/{id}",
        "/api/users/0b5a0e9a-6c0b-4a8e-9c61-2a3e0c7c1f00/files/9f86d081884c7d65": (
            "/api/users/{uuid}/files/{hash}"
        ),
        "/api/reports/2024-01-31": "/api/reports/{date}",
        "/api/sessions/tok_8Hq2ZxK0aa9PqLm3": "/api/sessions/{param}",
        "/a/1/b/2": "/a/{id}/b/{id_2}",
    }


def test_low_cardinality_stays_literal_high_becomes_param() -> None:
    few = [f"/api/{name}" for name in ("orders", "export", "health")]
    many = [f"/u/user{n:02d}x/profile" for n in range(30)]
    got = templates([*few, *many, "/api/items/7", "/api/items/featured"])
    assert {got[p] for p in few} == {"/api/orders", "/api/export", "/api/health"}
    assert {got[p] for p in many} == {"/u/{param}/profile"}
    assert got["/api/items/featured"] == "/api/items/featured"  # a literal beside ids
    assert got["/api/items/7"] == "/api/items/{id}"


def test_cardinality_is_per_host_and_method() -> None:
    lf = pl.LazyFrame(
        {
            "host": ["a"] * 30 + ["b"],
            "method": ["GET"] * 30 + ["GET"],
            "path": [f"/x/name{n:02d}z" for n in range(30)] + ["/x/name00z"],
        }
    )
    routes = dict(
        route_table(lf).select(pl.concat_str("host", "path"), "route").collect().iter_rows()
    )
    assert routes["a/x/name00z"] == "/x/{param}"
    assert routes["b/x/name00z"] == "/x/name00z"


def test_with_routes_keeps_rows_and_order() -> None:
    lf = pl.LazyFrame({"host": "h", "method": "GET", "path": ["/a/2", "/b", "/a/1", None]})
    out = with_routes(lf).collect()
    assert out["path"].to_list() == ["/a/2", "/b", "/a/1", None]
    assert out["route"].to_list()[:3] == ["/a/{id}", "/b", "/a/{id}"]


def test_every_recorded_path_matches_its_mined_route(plans: Mined) -> None:
    ex = plans.world.exchanges.select("host", "method", "path", "route").collect()
    matchers = route_matchers(ex.select("host", "method", "route").unique().iter_rows())
    for host, method, path, route in ex.unique(["path", "method"]).iter_rows():
        found = matchers[host, method].match(path)
        assert found is not None and found.template == route, path


def test_matcher_prefers_literals_then_typed_parameters() -> None:
    m = RouteMatcher(["/api/{param}/{id}", "/api/items/{id}", "/api/items/export"])
    assert m.match("/api/items/export").template == "/api/items/export"  # type: ignore[union-attr]
    assert m.match("/api/items/5").template == "/api/items/{id}"  # type: ignore[union-attr]
    assert m.match("/api/users/5").params == {"param": "users", "id": "5"}  # type: ignore[union-attr]
    assert m.match("/api/users/x") is None


_VALUES = {
    "id": st.integers(0, 10**12).map(str),
    "uuid": st.uuids().map(str),
    "date": st.dates().map(lambda d: d.strftime("%Y-%m-%d")).filter(lambda s: len(s) == 10),
    "hash": st.binary(min_size=8, max_size=20).map(bytes.hex),
    "param": st.from_regex(r"[A-Za-z0-9_.~-]{1,12}", fullmatch=True),
}
_SEGMENT = st.one_of(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.sampled_from(sorted(_VALUES)))


@given(st.lists(_SEGMENT, min_size=1, max_size=6), st.data())
def test_template_round_trip(segments: list[str], data: st.DataObject) -> None:
    seen: dict[str, int] = {}
    parts, path, values = [], [], {}
    for seg in segments:
        if seg in _VALUES:
            seen[seg] = seen.get(seg, 0) + 1
            name = seg if seen[seg] == 1 else f"{seg}_{seen[seg]}"
            value = data.draw(_VALUES[seg])
            parts.append("{" + name + "}")
            path.append(value)
            values[name] = value
        else:
            parts.append(seg)
            path.append(seg)
    template = "/" + "/".join(parts)
    assert template_params(template) == list(values)
    match = compile_template(template).fullmatch("/" + "/".join(path))
    assert match is not None and match.groupdict() == values
    found = RouteMatcher([template]).match("/" + "/".join(path))
    assert found is not None and found.template == template and dict(found.params) == values
