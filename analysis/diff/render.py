"""Human forms of a diff document: a one-line headline and the table's rows, most important
first (N+1 and new or removed endpoints, then status mixes, latency, volumes)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["diff_rows", "headline"]


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def headline(doc: Mapping[str, Any]) -> str:
    """One line: what changed from A to B.

    >>> headline({"changed": False, "http": {}, "sql": {}})
    'no behavioural change from A to B'
    """
    if not doc["changed"]:
        return "no behavioural change from A to B"
    h, q = doc["http"], doc["sql"]
    parts = []
    for label, items in (
        ("N+1 introduced", q.get("n_plus_one_introduced")),
        ("N+1 fixed", q.get("n_plus_one_fixed")),
    ):
        if items:
            parts.append(f"{len(items)} {label}")
    if h.get("added"):
        parts.append(_n(len(h["added"]), "new route"))
    if h.get("removed"):
        parts.append(_n(len(h["removed"]), "route") + " gone")
    if q.get("added"):
        parts.append(_n(len(q["added"]), "new SQL fingerprint"))
    if q.get("removed"):
        parts.append(_n(len(q["removed"]), "SQL fingerprint") + " gone")
    limited = sum(r["limited_b"] - r["limited_a"] for r in h.get("rate_pressure", []))
    if limited > 0:
        parts.append(f"{limited} more rate-limited answers")
    slower = [
        c
        for c in [*h.get("latency_changes", []), *q.get("latency_changes", [])]
        if c["change"] == "slower"
    ]
    if slower:
        parts.append(f"{len(slower)} slower (p < {doc['settings']['alpha']})")
    if h.get("status_changes"):
        parts.append(_n(len(h["status_changes"]), "status-mix change"))
    if q.get("queries_per_unit_a") != q.get("queries_per_unit_b"):
        parts.append(
            f"queries per unit {q.get('queries_per_unit_a')} -> {q.get('queries_per_unit_b')}"
        )
    return "B: " + (", ".join(parts) if parts else "call volumes changed")


def _route(r: Mapping[str, Any]) -> str:
    return f"{r['method']} {r['host']}{r['route'] or '(no route)'}"


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def diff_rows(doc: Mapping[str, Any], limit: int = 40) -> list[list[str]]:
    """Rows ``[change, what, A, B, evidence]`` for the terminal table."""
    h, q = doc["http"], doc["sql"]
    rows: list[list[str]] = []
    for n in q["n_plus_one_introduced"]:
        rows.append(
            [
                "N+1 introduced",
                _short(n["normalized"]),
                str(n["per_unit_a"] or "-"),
                f"{n['per_unit_b']} per unit",
                f"{n['units_b']} units, max {n['max_per_unit_b']}",
            ]
        )
    for n in q["n_plus_one_fixed"]:
        rows.append(
            [
                "N+1 fixed",
                _short(n["normalized"]),
                f"{n['per_unit_a']} per unit",
                str(n["per_unit_b"] or "-"),
                f"{n['units_a']} units in A",
            ]
        )
    for r in h["added"]:
        rows.append(["+ route", _route(r), "0", str(r["calls_b"]), ""])
    for r in h["removed"]:
        rows.append(["- route", _route(r), str(r["calls_a"]), "0", ""])
    for r in q["added"]:
        rows.append(
            ["+ SQL", _short(r["normalized"]), "0", str(r["calls_b"]), ",".join(r["tables"])]
        )
    for r in q["removed"]:
        rows.append(
            ["- SQL", _short(r["normalized"]), str(r["calls_a"]), "0", ",".join(r["tables"])]
        )
    for p in h["rate_pressure"]:
        if p["limited_a"] != p["limited_b"]:
            rows.append(
                [
                    "rate limited",
                    f"{p['host']} {p['identity'] or '(no identity)'}",
                    f"{p['limited_a']} (peak {p['peak_per_s_a']}/s)",
                    f"{p['limited_b']} (peak {p['peak_per_s_b']}/s)",
                    "429 answers",
                ]
            )
    for c in h["status_changes"]:
        rows.append(
            [
                "status mix",
                f"{_route(c)} {c['status']}",
                f"{c['share_a']:.0%}",
                f"{c['share_b']:.0%}",
                "new status" if c["new"] else "",
            ]
        )
    for c in [*h["latency_changes"], *q["latency_changes"]]:
        what = _route(c) if "route" in c else _short(c["normalized"])
        rows.append(
            [
                c["change"],
                what,
                f"{c['median_a_ms']} ms",
                f"{c['median_b_ms']} ms",
                f"U test p={c['p']:.2g}, n={c['n_a']}/{c['n_b']}",
            ]
        )
    shown = {(r[1]) for r in rows}
    for r in h["routes"]:
        if (
            r["calls_a"] != r["calls_b"]
            and r["calls_a"]
            and r["calls_b"]
            and _route(r) not in shown
        ):
            rows.append(["calls", _route(r), str(r["calls_a"]), str(r["calls_b"]), ""])
    for r in q["fingerprints"]:
        what = _short(r["normalized"])
        if r["calls_a"] != r["calls_b"] and r["calls_a"] and r["calls_b"] and what not in shown:
            rows.append(
                [
                    "queries",
                    what,
                    str(r["calls_a"]),
                    str(r["calls_b"]),
                    f"per unit {r['per_unit_p50_a']} -> {r['per_unit_p50_b']}",
                ]
            )
    if len(rows) > limit:
        rows = [*rows[:limit], ["...", f"{len(rows) - limit} more (see --json)", "", "", ""]]
    return rows
