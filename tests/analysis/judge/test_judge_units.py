"""Unit-level checks of the judge: --fail-on grammar, grading and order, bad input, excess
HTTP calls and fault findings on small frames and report sections."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from analysis.judge import DEFAULT_FAIL_ON, FINDING_KINDS, judge, parse_fail_on, write_verdict
from analysis.judge.http_checks import MAX_MISS_FINDINGS, excess_http, faults_http, misses
from analysis.judge.kinds import finding, grade
from analysis.judge.sql_checks import faults_sql
from analysis.judge.verdict import summary_lines
from understudy.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("miss,throttled", {"miss", "throttled"}),
        ("all", set(FINDING_KINDS)),
        ("none", set()),
        ("default", set(DEFAULT_FAIL_ON)),
        ("default,+latency", set(DEFAULT_FAIL_ON) | {"latency"}),
        (" default , -throttled,-miss ", set(DEFAULT_FAIL_ON) - {"throttled", "miss"}),
        ("all,-fault_injected", set(FINDING_KINDS) - {"fault_injected"}),
        ("none,excess_calls", {"excess_calls"}),
        ("MISS", {"miss"}),
    ],
)
def test_parse_fail_on(text: str, expected: set[str]) -> None:
    assert parse_fail_on(text) == frozenset(expected)


@pytest.mark.parametrize(("text", "needle"), [
    ("miss,throtled", "unknown kind 'throtled' (did you mean throttled?)"),
    ("", "--fail-on is empty"),
    (" , ", "--fail-on is empty"),
    ("+bogus", "unknown kind 'bogus'"),
])  # fmt: skip
def test_parse_fail_on_rejects_unknown_kinds(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_fail_on(text)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_grade_and_order() -> None:
    raw = [
        finding("fault_injected", "f", "h", 50, {}),
        finding("new_fingerprint", "n", "h", 9, {}),
        finding("miss", "small", "h", 1, {}),
        finding("miss", "big", "h", 7, {}),
    ]
    graded = [grade(f, DEFAULT_FAIL_ON) for f in raw]
    assert [(g["severity"], g["failing"]) for g in graded] == [
        ("info", False), ("warning", False), ("error", True), ("error", True)]  # fmt: skip
    assert grade(raw[0], {"fault_injected"})["severity"] == "error"


def test_bad_report_and_bad_fail_on_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not an understudy session report"):
        judge(tmp_path, {"format": "something-else"}, None)
    with pytest.raises(ConfigError, match="unknown finding kinds nope"):
        judge(tmp_path, {}, None, fail_on={"nope"})


def test_write_verdict_failure_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "missing-dir" / "verdict.json"
    with pytest.raises(ConfigError, match="cannot write the verdict"):
        write_verdict(target, {"verdict": "pass"})
    assert list(tmp_path.iterdir()) == []


def test_misses_are_capped_and_the_rest_counted() -> None:
    report = {
        "misses": [{"method": "GET", "host": "h", "path": f"/x/{i}", "query": "", "body_key": "",
                    "route": None, "count": 1 + i % 3, "nearest": []} for i in range(30)],
        "misses_not_listed": 4,
    }  # fmt: skip
    found = misses(report)
    assert len(found) == MAX_MISS_FINDINGS + 1
    assert [f["count"] for f in found[:3]] == [3, 3, 3]
    rest = found[-1]
    assert rest["evidence"]["distinct"] == 10 and rest["evidence"]["not_listed_in_report"] == 4
    assert rest["count"] == sum(1 + i % 3 for i in range(30)) - sum(
        f["count"] for f in found[:-1]) + 4  # fmt: skip


def test_excess_http_against_the_per_identity_second_baseline() -> None:
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    times = [t0 + dt.timedelta(milliseconds=20 * i) for i in range(12)]
    rows = pl.DataFrame({
        "host": "h", "method": "GET", "route": ["/a"] * 12 + ["/b"] * 12,
        "identity": "id-1", "ts_start": times * 2,
    })  # fmt: skip
    doc = {"routes": [
        {"host": "h", "method": "GET", "route": "/a",
         "per_identity_second": {"seconds": 100, "p50": 1.0, "p90": 2.0, "max": 4}},
        {"host": "h", "method": "GET", "route": "/b",
         "per_identity_second": {"seconds": 100, "p50": 3.0, "p90": 5.0, "max": 9}},
    ]}  # fmt: skip
    [f] = excess_http(rows, doc)
    assert f["kind"] == "excess_calls" and f["evidence"]["route"] == "/a"
    assert f["evidence"]["session"] == {"max": 12, "p90": 12.0, "seconds": 1}
    assert f["evidence"]["production"]["p90"] == 2.0
    assert excess_http(rows, {"routes": [{**r, "per_identity_second": None}
                                         for r in doc["routes"]]}) == []  # fmt: skip


def test_fault_findings_are_information() -> None:
    report = {"faults": [
        {"host": "h", "method": "GET", "route": "/a", "fault": "5xx", "count": 3},
        {"host": "h", "method": "GET", "route": "/a", "fault": "timeout", "count": 1},
    ]}  # fmt: skip
    [f] = faults_http(report)
    assert f["count"] == 4 and f["evidence"]["faults"] == {"5xx": 3, "timeout": 1}
    sql = {"fingerprints": [
        {"fingerprint": "ab", "normalized": "SELECT 1", "tables": [], "errors": {"40001": 2},
         "matched": {"fault": 2}},
        {"fingerprint": "cd", "normalized": "SELECT 2", "tables": [], "matched": {"fault": 0}},
    ]}  # fmt: skip
    [s] = faults_sql(sql)
    assert s["count"] == 2 and s["evidence"]["errors"] == {"40001": 2}
    assert grade(s, DEFAULT_FAIL_ON)["severity"] == "info"


def test_summary_is_short() -> None:
    findings = [grade(finding("miss", f"GET /x/{i}", "record it", 1, {}), DEFAULT_FAIL_ON)
                for i in range(40)]  # fmt: skip
    verdict = {"verdict": "fail", "exit_code": 1, "findings": findings,
               "counts": {"http_requests": 40, "sql_statements": 0, "findings": 40,
                          "failing": 40}}  # fmt: skip
    lines = summary_lines(verdict)
    assert len(lines) <= 25 and lines[-1].startswith("  ... and 30 more")
    assert json.dumps(lines)  # plain strings
