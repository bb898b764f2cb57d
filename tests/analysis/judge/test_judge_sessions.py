"""The judge on real replay sessions: a mined world, the real replayer, real clients."""

from __future__ import annotations

import json
import shutil
import stat
from pathlib import Path
from typing import Any

from judge_world_kit import identity

from analysis.judge import (
    DEFAULT_FAIL_ON,
    VERDICT_FORMAT,
    judge,
    parse_fail_on,
    summary_lines,
    write_verdict,
)
from understudy.world import load_world

OK_COMMAND = {"argv": ["./run-candidate"], "exit_status": 0, "signal": None,
              "timed_out": False, "duration_s": 1.5, "not_found": False}  # fmt: skip


def _class_of(world: Path, key: bytes, api_key: str) -> str:
    ident = identity(key, api_key)
    for c in load_world(world).doc["identity_classes"]:
        if ident in c["identities"]:
            return str(c["name"])
    raise AssertionError(f"{api_key} is in no class")


def _only(verdict: dict[str, Any], kind: str) -> dict[str, Any]:
    found = [f for f in verdict["findings"] if f["kind"] == kind]
    assert len(found) == 1, (kind, [f["title"] for f in verdict["findings"]])
    return found[0]


def test_clean_session_passes(judge_world: Path, clean_session) -> None:
    v = judge(judge_world, clean_session.report, clean_session.tape, command=OK_COMMAND)
    assert v["format"] == VERDICT_FORMAT and v["schema_version"] == 1
    assert (v["verdict"], v["exit_code"], v["findings"]) == ("pass", 0, [])
    assert v["counts"]["http_requests"] == 4 and v["counts"]["sql_statements"] == 3
    assert v["seed"] == 7 and v["settings"]["latency"] == "recorded"
    assert v["fail_on"] == sorted(DEFAULT_FAIL_ON, key=v["fail_on"].index)
    assert v["notes"] == []
    assert summary_lines(v)[0].startswith("understudy check: PASS")


def test_failed_command_exits_3_even_when_the_session_is_clean(
    judge_world: Path, clean_session
) -> None:
    cmd = {**OK_COMMAND, "exit_status": None, "signal": "SIGKILL"}
    v = judge(judge_world, clean_session.report, clean_session.tape, command=cmd)
    f = _only(v, "command_failed")
    assert (v["verdict"], v["exit_code"], f["failing"]) == ("fail", 3, True)
    assert "SIGKILL" in f["title"] and f["evidence"]["argv"] == ["./run-candidate"]
    relaxed = judge(judge_world, clean_session.report, clean_session.tape, command=cmd,
                    fail_on=parse_fail_on("default,-command_failed"))  # fmt: skip
    assert (relaxed["verdict"], relaxed["exit_code"]) == ("pass", 0)
    assert _only(relaxed, "command_failed")["severity"] == "warning"


def test_throttled_names_the_limit_and_the_rate_reached(
    judge_world: Path, judge_key: bytes, http_bad_session
) -> None:
    v = judge(judge_world, http_bad_session.report, http_bad_session.tape, command=OK_COMMAND)
    assert (v["verdict"], v["exit_code"]) == ("fail", 1)
    f = _only(v, "throttled")
    free = _class_of(judge_world, judge_key, "free-1")
    limit = next(x for x in load_world(judge_world).doc["rate_limits"]
                 if x["identity_class"] == free)  # fmt: skip
    ev = f["evidence"]
    assert (f["severity"], f["failing"]) == ("error", True)
    assert ev["identity_class"] == free and ev["routes"] == ["/api/items/{id}"]
    assert ev["limit"] == {"rate_per_s": limit["rate_per_s"], "burst": limit["burst"],
                           "scope": "identity", "identity_class": free}  # fmt: skip
    limited = sum(x["count"] for x in http_bad_session.report["limited"])
    assert ev["limited"] == f["count"] == limited >= 5
    # 15 requests back to back from free-1 (+ free-2's export): all inside one second
    assert ev["peak_rate_per_s"] == 15 > limit["rate_per_s"]
    assert ev["requests"] == 16 and ev["clients"] == 2
    assert f"stay under {limit['rate_per_s']:g}/s for class {free}" in f["hint"]
    assert "Retry-After" in f["hint"]


def test_refused_names_the_classes_allowed(
    judge_world: Path, judge_key: bytes, http_bad_session
) -> None:
    v = judge(judge_world, http_bad_session.report, http_bad_session.tape)
    f = _only(v, "refused")
    free, pro = (_class_of(judge_world, judge_key, k) for k in ("free-2", "pro-1"))
    assert f["evidence"] == {
        "host": "api.plans.test", "method": "GET", "route": "/api/export",
        "identity_class": free, "status": 403, "count": 1, "allowed_classes": [pro],
        "refused_classes": [free],
    }  # fmt: skip
    assert f["failing"] and f"only {pro} may" in f["hint"]


def test_miss_names_the_nearest_recorded_request(judge_world: Path, http_bad_session) -> None:
    v = judge(judge_world, http_bad_session.report, http_bad_session.tape)
    f = _only(v, "miss")
    ev = f["evidence"]
    assert (ev["method"], ev["path"], ev["count"], ev["route"]) == ("GET", "/api/itemz/1", 1, None)
    assert ev["nearest"] and ev["nearest"][0]["differs"] == ["path"]
    assert ev["nearest"][0]["path"].startswith("/api/items/")
    assert "nearest recorded: GET api.plans.test/api/items/" in f["hint"]
    assert v["counts"]["by_kind"] == {"miss": 1, "refused": 1, "throttled": 1}
    # failing first, then by count: the throttled finding (10+ requests) leads
    assert [f["kind"] for f in v["findings"]] == ["throttled", "miss", "refused"]


def test_n_plus_one_introduced_against_production_per_unit(
    judge_world: Path, sql_bad_session
) -> None:
    v = judge(judge_world, sql_bad_session.report, sql_bad_session.tape)
    f = _only(v, "n_plus_one")
    ev = f["evidence"]
    assert ev["normalized"] == "SELECT name, price FROM items WHERE id = $1"
    assert ev["tables"] == ["items"]
    assert ev["session"] == {"typical_per_unit": 12, "max_per_unit": 12, "units": 1}
    prod = ev["production"]
    assert prod["n_plus_one"] is None and prod["recorded"] is True
    assert prod["per_unit"] == {"units": 12, "p50": 1.0, "p90": 1.0, "max": 1}
    assert f["failing"] and "ANY($1)" in f["hint"]


def test_sql_miss_and_new_fingerprint(judge_world: Path, sql_bad_session) -> None:
    v = judge(judge_world, sql_bad_session.report, sql_bad_session.tape)
    miss, new = _only(v, "sql_miss"), _only(v, "new_fingerprint")
    assert miss["evidence"]["normalized"] == "SELECT COUNT(*) FROM orders"
    assert miss["evidence"]["tables"] == ["orders"] and miss["failing"]
    nearest = {n["normalized"] for n in miss["evidence"]["nearest"]}
    assert "INSERT INTO orders (item_id, qty) VALUES ($1, $2) /*, ... */" in nearest
    assert "nearest recorded:" in miss["hint"]
    assert (new["severity"], new["failing"]) == ("warning", False)
    assert new["evidence"]["fingerprint"] == miss["evidence"]["fingerprint"]
    assert (new["evidence"]["missed"], new["evidence"]["forwarded"]) == (1, 0)


def test_excess_calls_on_a_write_in_a_loop(judge_world: Path, sql_bad_session) -> None:
    v = judge(judge_world, sql_bad_session.report, sql_bad_session.tape)
    f = _only(v, "excess_calls")  # the N+1 SELECT is not reported twice
    ev = f["evidence"]
    assert ev["normalized"].startswith("INSERT INTO orders")
    assert ev["session"]["max"] == 10 and ev["production"]["p90"] == 1.0
    assert (f["severity"], f["failing"]) == ("warning", False)
    assert v["exit_code"] == 1 and v["counts"]["failing"] == 2  # n_plus_one, sql_miss
    everything = judge(judge_world, sql_bad_session.report, sql_bad_session.tape,
                       fail_on=parse_fail_on("all"))  # fmt: skip
    assert _only(everything, "excess_calls")["failing"]
    nothing = judge(judge_world, sql_bad_session.report, sql_bad_session.tape,
                    fail_on=parse_fail_on("none"))  # fmt: skip
    assert (nothing["verdict"], nothing["exit_code"], nothing["counts"]["findings"]) == (
        "pass", 0, 4)  # fmt: skip


def test_verdict_is_deterministic_and_written_owner_only(
    judge_world: Path, sql_bad_session, http_bad_session, tmp_path: Path
) -> None:
    for s in (sql_bad_session, http_bad_session):
        a = judge(judge_world, s.report, s.tape, command=OK_COMMAND)
        b = judge(judge_world, json.loads(json.dumps(s.report)), s.tape, command=OK_COMMAND)
        assert json.dumps(a) == json.dumps(b)
        out = tmp_path / "verdict.json"
        write_verdict(out, a)
        assert json.loads(out.read_text()) == a
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        lines = summary_lines(a)
        assert lines[0].startswith("understudy check: FAIL (exit 1)") and len(lines) <= 25
    assert [p.name for p in tmp_path.iterdir()] == ["verdict.json"]


def test_world_without_baselines_still_judges(
    judge_world: Path, sql_bad_session, tmp_path: Path
) -> None:
    old = tmp_path / "old.world"
    shutil.copytree(judge_world, old)
    doc = json.loads((old / "world.json").read_text())
    for entry in doc["sql"]:
        entry.pop("per_unit", None)
    for route in doc["routes"]:
        route.pop("per_identity_second", None)
    (old / "world.json").write_text(json.dumps(doc))
    v = judge(old, sql_bad_session.report, sql_bad_session.tape)
    assert "excess_calls" not in v["counts"]["by_kind"]
    assert any("no SQL per-unit baseline" in n for n in v["notes"])
    f = _only(v, "n_plus_one")
    assert f["evidence"]["production"]["per_unit"] is None and f["failing"]


def test_without_a_session_tape_the_report_still_judges(
    judge_world: Path, http_bad_session, sql_bad_session
) -> None:
    v = judge(judge_world, http_bad_session.report, None)
    assert v["counts"]["by_kind"] == {"miss": 1, "refused": 1, "throttled": 1}
    assert "peak_rate_per_s" not in _only(v, "throttled")["evidence"]
    assert any("no session tape" in n for n in v["notes"])
    sql = judge(judge_world, sql_bad_session.report, None)
    assert sql["counts"]["by_kind"] == {"new_fingerprint": 1, "sql_miss": 1}
