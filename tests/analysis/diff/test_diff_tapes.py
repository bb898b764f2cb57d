"""understudy diff on tapes with known differences: routes, status mixes, latency (tested, or
skipped with too few samples), N+1 introduced and fixed, rate-limit pressure, bad input."""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from analysis.diff import diff_tapes, holm, mann_whitney
from understudy.cli import cli
from understudy.tape import commit_part, ensure_tape_dir, update_meta

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _ex(path: str, at: float, ms: float, *, method: str = "GET", status: int = 200,
        identity: str = "redacted:alice") -> dict[str, Any]:
    start = T0 + timedelta(seconds=at)
    return {"exchange_id": uuid.uuid4().hex, "ts_start": start,
            "ts_end": start + timedelta(milliseconds=ms), "duration_ms": ms, "method": method,
            "scheme": "https", "host": "api.example.com", "port": 443, "path": path, "query": "",
            "status": status, "identity": identity, "flow_kind": "http"}


def _stmt(sql: str, conn: str, seq: int, at: float, ms: float = 0.5) -> dict[str, Any]:
    start = T0 + timedelta(seconds=at)
    return {"statement_id": uuid.uuid4().hex, "conn_id": conn, "seq": seq, "ts_start": start,
            "ts_end": start + timedelta(milliseconds=ms), "duration_ms": ms, "sql": sql,
            "protocol": "simple", "tx_status": "idle", "rows": 1, "command_tag": "SELECT 1"}


def _tape(path: Path, http: list[dict[str, Any]], sql: list[dict[str, Any]] = ()) -> Path:
    ensure_tape_dir(path)
    kinds = []
    for kind, rows in (("http", http), ("sql", sql)):
        (path / kind).mkdir(mode=0o700)
        kinds.append(kind)
        if rows:
            commit_part(path / kind, kind, list(rows))
    update_meta(path, kinds=kinds)
    return path


def _lat(rng: random.Random, median: float) -> float:
    return median * rng.lognormvariate(0, 0.25)


def test_mann_whitney_and_holm() -> None:
    r = mann_whitney([1.0, 2.0, 3.0, 4.0] * 10, [3.0, 4.0, 5.0, 6.0] * 10)
    assert r.p < 1e-6 and r.z < 0
    assert mann_whitney([5.0] * 25, [5.0] * 25).p == 1.0
    assert holm([0.04, 0.001, 0.03], 0.05) == [False, True, False]


def test_routes_templated_across_tapes_added_removed_and_status(tmp_path: Path) -> None:
    rng = random.Random(1)
    latencies = [_lat(rng, 8) for _ in range(40)]
    a = [_ex(f"/api/items/{i}", i * 0.5, ms) for i, ms in enumerate(latencies)]
    a += [_ex("/api/orders", 30 + i, 15.0, method="POST") for i in range(5)]
    rng.shuffle(latencies)  # the same latencies in another order: no change to report
    b = [_ex(f"/api/items/{100 + i}", i * 0.5, ms) for i, ms in enumerate(latencies)]
    b += [_ex("/api/export", 30 + i, 40.0, status=403) for i in range(3)]
    doc = diff_tapes(_tape(tmp_path / "a", a), _tape(tmp_path / "b", b))
    h = doc["http"]
    assert [(r["method"], r["route"]) for r in h["added"]] == [("GET", "/api/export")]
    assert [(r["method"], r["route"]) for r in h["removed"]] == [("POST", "/api/orders")]
    items = next(r for r in h["routes"] if r["route"] == "/api/items/{id}")
    assert (items["calls_a"], items["calls_b"]) == (40, 40)
    assert h["latency_changes"] == []  # same distribution: nothing reported
    assert doc["changed"] is True


def test_latency_change_needs_test_and_samples(tmp_path: Path) -> None:
    rng = random.Random(2)
    a = [_ex(f"/api/items/{i}", i * 0.1, _lat(rng, 10)) for i in range(200)]
    a += [_ex("/api/slow", 50 + i, 10.0) for i in range(5)]
    b = [_ex(f"/api/items/{i}", i * 0.1, _lat(rng, 20)) for i in range(200)]
    b += [_ex("/api/slow", 50 + i, 90.0) for i in range(5)]
    doc = diff_tapes(_tape(tmp_path / "a", a), _tape(tmp_path / "b", b))
    [change] = doc["http"]["latency_changes"]
    assert change["route"] == "/api/items/{id}" and change["change"] == "slower"
    assert change["test"] == "mann-whitney-u" and change["p"] < 1e-6
    assert (change["n_a"], change["n_b"]) == (200, 200)
    assert 1.7 < change["ratio"] < 2.3
    [skipped] = doc["http"]["latency_skipped"]
    assert skipped["route"] == "/api/slow" and "too few samples" in skipped["reason"]


def _units(one_query: bool, n_units: int = 6) -> list[dict[str, Any]]:
    rows = []
    for u in range(n_units):
        at = u * 2.0  # bursts 2 s apart: one unit of work each
        ids = list(range(u * 10, u * 10 + 8))
        if one_query:
            rows.append(_stmt(f"SELECT * FROM items WHERE id IN ({', '.join(map(str, ids))})",
                              f"c{u}", 0, at))
        else:
            rows += [_stmt(f"SELECT * FROM items WHERE id = {i}", f"c{u}", k, at + k * 0.002)
                     for k, i in enumerate(ids)]
        rows.append(_stmt("SELECT count(*) FROM orders", f"c{u}", 99, at + 0.05))
    return rows


def test_n_plus_one_introduced_and_fixed(tmp_path: Path) -> None:
    good = _tape(tmp_path / "good", [], _units(one_query=True))
    bad = _tape(tmp_path / "bad", [], _units(one_query=False))
    doc = diff_tapes(good, bad)
    q = doc["sql"]
    [n1] = q["n_plus_one_introduced"]
    assert n1["normalized"].startswith("SELECT * FROM items WHERE id =")
    assert n1["per_unit_b"] == 8 and n1["units_b"] == 6 and n1["tables"] == ["items"]
    assert q["n_plus_one_fixed"] == []
    assert [r["normalized"] for r in q["added"]] == [n1["normalized"]]
    assert len(q["removed"]) == 1 and "IN" in q["removed"][0]["normalized"]
    assert (q["queries_per_unit_a"], q["queries_per_unit_b"]) == (2.0, 9.0)
    back = diff_tapes(bad, good)["sql"]
    assert [f["fingerprint"] for f in back["n_plus_one_fixed"]] == [n1["fingerprint"]]
    assert back["n_plus_one_introduced"] == []


def test_rate_limit_pressure(tmp_path: Path) -> None:
    a = [_ex(f"/api/items/{i}", i * 0.25, 8.0) for i in range(20)]  # 4/s
    b = [_ex(f"/api/items/{i}", i * 0.1, 8.0, status=429 if i % 10 >= 5 else 200)
         for i in range(20)]  # 10/s, half refused
    doc = diff_tapes(_tape(tmp_path / "a", a), _tape(tmp_path / "b", b))
    [p] = doc["http"]["rate_pressure"]
    assert (p["limited_a"], p["limited_b"]) == (0, 10)
    assert (p["peak_per_s_a"], p["peak_per_s_b"]) == (4, 10)
    mix = {c["status"]: c for c in doc["http"]["status_changes"]}
    assert mix["429"]["new"] and mix["429"]["share_b"] == 0.5


def test_cli_table_json_and_gate(tmp_path: Path) -> None:
    a = _tape(tmp_path / "a", [_ex("/api/items/1", 0, 5.0)])
    b = _tape(tmp_path / "b", [_ex("/api/items/1", 0, 5.0), _ex("/api/export", 1, 5.0)])
    runner = CliRunner()
    res = runner.invoke(cli, ["diff", str(a), str(b)])
    assert res.exit_code == 0, res.output
    assert "1 new route" in res.output and "/api/export" in res.output
    res = runner.invoke(cli, ["diff", str(a), str(b), "--json"])
    doc = json.loads(res.output)
    assert doc["format"] == "understudy-diff" and doc["schema_version"] == 1
    assert runner.invoke(cli, ["diff", str(a), str(a), "--fail-on-change"]).exit_code == 0
    assert runner.invoke(cli, ["diff", str(a), str(b), "--fail-on-change"]).exit_code == 1


@pytest.mark.parametrize("case", ["missing", "not_a_tape", "both_empty"])
def test_bad_input_is_one_line_exit_2(tmp_path: Path, case: str) -> None:
    good = _tape(tmp_path / "good", [_ex("/x", 0, 1.0)])
    if case == "missing":
        other = tmp_path / "nope"
    elif case == "not_a_tape":
        other = tmp_path / "plain"
        other.mkdir()
    else:
        good = _tape(tmp_path / "e1", [])
        other = _tape(tmp_path / "e2", [])
    res = CliRunner().invoke(cli, ["diff", str(good), str(other)])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.output


def test_one_empty_side_is_a_valid_diff(tmp_path: Path) -> None:
    a = _tape(tmp_path / "a", [])
    b = _tape(tmp_path / "b", [_ex("/api/items/1", 0, 5.0)])
    doc = diff_tapes(a, b)
    assert [r["route"] for r in doc["http"]["added"]] == ["/api/items/{id}"]
