"""SQL findings: misses (UN001), new fingerprints, introduced N+1, excess calls, faults.

Misses, new fingerprints and faults come from the report's ``sql`` section
(docs/pg-replay.md); N+1 and calls per unit of work are mined from the session tape's
``sql`` rows with the functions that built the world (:func:`analysis.sql.mine_sql`,
:func:`analysis.sql.with_units`), so the session and its baseline are measured alike.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analysis.judge.kinds import EXCESS_FACTOR, EXCESS_MIN_EXTRA, far_above, finding

__all__ = ["SessionSql", "excess_sql", "faults_sql", "mine_session_sql", "n_plus_one",
           "new_fingerprints", "sql_misses"]  # fmt: skip

Finding = dict[str, Any]
_THRESHOLD = {"factor": EXCESS_FACTOR, "min_extra": EXCESS_MIN_EXTRA}


@dataclass(frozen=True)
class SessionSql:
    """What the session's statements show: world-like ``sql`` entries (by fingerprint), its
    N+1 patterns and calls per unit of work."""

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    n_plus_one: list[dict[str, Any]] = field(default_factory=list)
    per_unit: dict[str, dict[str, Any]] = field(default_factory=dict)


def mine_session_sql(sql: pl.LazyFrame | None, http: pl.LazyFrame | None) -> SessionSql:
    """Mine the session tape's statements (and HTTP rows, to link them) like production."""
    if sql is None:
        return SessionSql()
    from analysis.sql import mine_sql, with_units
    from analysis.sql.stats import per_unit_calls

    mined = mine_sql(sql, http)
    units = per_unit_calls(with_units(mined.statements))
    return SessionSql(
        entries={e["fingerprint"]: e for e in mined.sql},
        n_plus_one=mined.n_plus_one,
        per_unit={u["fingerprint"]: u for u in units.iter_rows(named=True)},
    )


def _short(text: str | None, n: int = 90) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= n else text[: n - 3] + "..."


def _tables(sql_report: Mapping[str, Any]) -> dict[str, list[str]]:
    return {str(f.get("fingerprint")): list(f.get("tables") or [])
            for f in sql_report.get("fingerprints") or []}  # fmt: skip


def sql_misses(sql_report: Mapping[str, Any]) -> list[Finding]:
    """One ``sql_miss`` per fingerprint answered UN001 (missed, not forwarded)."""
    tables = _tables(sql_report)
    out: list[Finding] = []
    for nf in sql_report.get("new_fingerprints") or []:
        missed = int(nf.get("statements") or 0) - int(nf.get("forwarded") or 0)
        if missed <= 0:
            continue
        fp = str(nf.get("fingerprint"))
        nearest = list(nf.get("nearest") or [])
        if nearest:
            names = "; ".join(f"{_short(n.get('normalized'), 70)} (differs in "
                              f"{', '.join(n.get('differs') or []) or 'nothing'})"
                              for n in nearest[:3])  # fmt: skip
            hint = f"production never ran this statement; nearest recorded: {names}"
        else:
            hint = "production never ran this statement: record it, or use a recorded query"
        out.append(finding(
            "sql_miss", f"SQL never recorded, answered UN001 ({missed}x): "
            f"{_short(nf.get('normalized'))}", hint, missed,
            {"fingerprint": fp, "normalized": nf.get("normalized"), "tables": tables.get(fp, []),
             "count": missed, "nearest": nearest},
        ))  # fmt: skip
    unlisted = int(sql_report.get("new_fingerprints_not_listed") or 0)
    if unlisted:
        out.append(finding(
            "sql_miss", f"{unlisted} more statements of unrecorded fingerprints",
            "the session report lists the first 1000 new fingerprints only", unlisted,
            {"count": unlisted, "not_listed_in_report": unlisted},
        ))  # fmt: skip
    return out


def new_fingerprints(sql_report: Mapping[str, Any]) -> list[Finding]:
    """One ``new_fingerprint`` per fingerprint the world does not have (missed or forwarded)."""
    info = {str(f.get("fingerprint")): f for f in sql_report.get("fingerprints") or []}
    out: list[Finding] = []
    for nf in sql_report.get("new_fingerprints") or []:
        fp = str(nf.get("fingerprint"))
        statements, forwarded = int(nf.get("statements") or 0), int(nf.get("forwarded") or 0)
        tables = list((info.get(fp) or {}).get("tables") or [])
        on = f" on {', '.join(tables)}" if tables else ""
        out.append(finding(
            "new_fingerprint", f"new SQL{on} ({statements}x): {_short(nf.get('normalized'))}",
            "production never ran this query shape: check its plan and indexes on real data, "
            "then record it", statements,
            {"fingerprint": fp, "normalized": nf.get("normalized"),
             "statement_type": (info.get(fp) or {}).get("statement_type"), "tables": tables,
             "statements": statements, "forwarded": forwarded, "missed": statements - forwarded},
        ))  # fmt: skip
    return out


def n_plus_one(session: SessionSql, doc: Mapping[str, Any]) -> list[Finding]:
    """``n_plus_one`` per fingerprint whose N+1 production does not have, or has with far
    fewer calls per unit (its ``typical_per_request``)."""
    world_n1: dict[str, dict[str, Any]] = {}
    for e in doc.get("n_plus_one") or []:
        fp = str(e.get("fingerprint"))
        if fp not in world_n1 or e.get("typical_per_request", 0) > world_n1[fp].get(
            "typical_per_request", 0
        ):
            world_n1[fp] = e
    world_sql = {str(e.get("fingerprint")): e for e in doc.get("sql") or []}
    best: dict[str, dict[str, Any]] = {}
    for e in session.n_plus_one:  # several routes of one fingerprint: keep the worst
        fp = e["fingerprint"]
        if fp not in best or (e["max_per_request"], e["occurrences"]) > (
            best[fp]["max_per_request"],
            best[fp]["occurrences"],
        ):
            best[fp] = e
    out: list[Finding] = []
    for fp, e in sorted(best.items()):
        prod = world_n1.get(fp)
        if prod is not None and not far_above(
            e["max_per_request"], float(prod.get("typical_per_request") or 0)
        ):
            continue
        entry = session.entries.get(fp, {})
        base = world_sql.get(fp, {})
        tables = list(entry.get("tables") or [])
        out.append(finding(
            "n_plus_one", f"N+1 introduced: {e['max_per_request']} calls in one unit of work"
            f" ({e['occurrences']} units): {_short(entry.get('normalized'))}",
            f"fetch these rows in one query (WHERE id = ANY($1) / a JOIN on "
            f"{', '.join(tables) or 'the table'}) instead of one per row",
            int(e["max_per_request"]),
            {"fingerprint": fp, "normalized": entry.get("normalized"), "tables": tables,
             "route": e.get("route"),
             "session": {"typical_per_unit": e["typical_per_request"],
                         "max_per_unit": e["max_per_request"], "units": e["occurrences"]},
             "production": {"n_plus_one": prod, "per_unit": base.get("per_unit"),
                            "calls": base.get("calls"), "recorded": fp in world_sql},
             "threshold": _THRESHOLD},
        ))  # fmt: skip
    return out


def excess_sql(
    session: SessionSql, doc: Mapping[str, Any], skip: set[str]
) -> tuple[list[Finding], bool]:
    """``excess_calls`` per fingerprint whose busiest unit is far above production's p90 per
    unit (world ``sql[].per_unit``); ``skip`` holds fingerprints already found as N+1.
    Returns the findings and whether the world had any per-unit baseline."""
    world_sql = {str(e.get("fingerprint")): e for e in doc.get("sql") or []}
    has_baseline = any(e.get("per_unit") for e in world_sql.values())
    out: list[Finding] = []
    for fp, s in sorted(session.per_unit.items()):
        base = (world_sql.get(fp) or {}).get("per_unit")
        if fp in skip or not base:
            continue
        p90 = float(base.get("p90") or 0.0)
        if not far_above(int(s["max"]), p90):
            continue
        entry = session.entries.get(fp, {})
        out.append(finding(
            "excess_calls", f"{s['max']} calls in one unit of work, production's p90 is "
            f"{p90:g}: {_short(entry.get('normalized'))}",
            "batch these statements (one multi-row INSERT / UPDATE ... WHERE id = ANY($1)) or "
            "move the query out of the loop", int(s["max"]),
            {"fingerprint": fp, "normalized": entry.get("normalized"),
             "tables": list(entry.get("tables") or []), "unit": "unit of work",
             "session": {k: s[k] for k in ("units", "p50", "p90", "max")},
             "production": dict(base), "threshold": _THRESHOLD},
        ))  # fmt: skip
    return out, has_baseline


def faults_sql(sql_report: Mapping[str, Any]) -> list[Finding]:
    """One ``fault_injected`` per fingerprint the replayer injected recorded errors on."""
    out: list[Finding] = []
    for f in sql_report.get("fingerprints") or []:
        n = int((f.get("matched") or {}).get("fault") or 0)
        if n <= 0:
            continue
        errors = dict(sorted((f.get("errors") or {}).items()))
        out.append(finding(
            "fault_injected", f"{n} recorded SQL errors injected: {_short(f.get('normalized'))}",
            "designed failures at production's observed rate: retry transient errors "
            "(40001, 40P01, 08xxx) and surface the rest", n,
            {"fingerprint": f.get("fingerprint"), "normalized": f.get("normalized"),
             "tables": list(f.get("tables") or []), "count": n, "errors": errors},
        ))  # fmt: skip
    return out
