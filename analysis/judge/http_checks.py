"""HTTP findings: misses, refusals, throttling, injected faults and excess calls per route.

Each check reads the session report (docs/session-report.md) and, for rates, the session
tape's rows named by :func:`analysis.judge.session.http_rows`; production's baseline is the
world document.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from typing import Any, Final

import polars as pl

from analysis.judge.kinds import EXCESS_FACTOR, EXCESS_MIN_EXTRA, far_above, finding
from analysis.judge.rates import peak_rates, per_second_stats

__all__ = ["MAX_MISS_FINDINGS", "excess_http", "faults_http", "misses", "refusals", "throttled"]

#: Distinct missed requests listed one finding each; the rest are counted in one more.
MAX_MISS_FINDINGS: Final = 20

Finding = dict[str, Any]


def _where(host: str | None, path: str | None, query: str | None = None) -> str:
    q = f"?{query}" if query else ""
    return f"{host or ''}{path or ''}{q}"


def misses(report: Mapping[str, Any]) -> list[Finding]:
    """One ``miss`` per distinct missed request (at most :data:`MAX_MISS_FINDINGS`)."""
    listed = sorted(
        report.get("misses") or [],
        key=lambda m: (-int(m.get("count") or 0), m.get("method") or "", m.get("host") or "",
                       m.get("path") or "", m.get("query") or "", m.get("body_key") or ""),
    )  # fmt: skip
    out: list[Finding] = []
    for m in listed[:MAX_MISS_FINDINGS]:
        count = int(m.get("count") or 0)
        nearest = list(m.get("nearest") or [])
        where = _where(m.get("host"), m.get("path"), m.get("query"))
        if nearest:
            n = nearest[0]
            hint = (
                f"production never answered this; nearest recorded: {n.get('method')} "
                f"{_where(n.get('host'), n.get('path'), n.get('query'))} (differs in "
                f"{', '.join(n.get('differs') or []) or 'nothing'}): call that, or record "
                "this request in production"
            )
        else:
            hint = "production never called this host: record it, or drop the call"
        evidence = {k: m.get(k) for k in ("method", "host", "path", "query", "body_key",
                                          "route", "reason")}  # fmt: skip
        evidence.update(count=count, forwarded=int(m.get("forwarded") or 0), nearest=nearest)
        out.append(finding("miss", f"{m.get('method')} {where} was never recorded "
                                   f"({count}x)", hint, count, evidence))  # fmt: skip
    rest = listed[MAX_MISS_FINDINGS:]
    unlisted = int(report.get("misses_not_listed") or 0)
    if rest or unlisted:
        count = sum(int(m.get("count") or 0) for m in rest) + unlisted
        out.append(finding(
            "miss", f"{len(rest)} more distinct missed requests ({count}x)",
            "see the session report's misses for each one and its nearest recorded request",
            count, {"distinct": len(rest), "count": count, "not_listed_in_report": unlisted},
        ))  # fmt: skip
    return out


def refusals(report: Mapping[str, Any], doc: Mapping[str, Any]) -> list[Finding]:
    """One ``refused`` per host, method, route, class and status the replayer refused."""
    perms: dict[tuple[str, str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for p in doc.get("permissions") or []:
        perms[(p.get("host"), str(p.get("method")).upper(), p.get("route"))].append(p)
    out: list[Finding] = []
    for r in report.get("refusals") or []:
        host, method, route = r.get("host"), str(r.get("method")).upper(), r.get("route")
        entries = perms.get((host, method, route), [])
        allowed = sorted({str(p["identity_class"]) for p in entries if p.get("allowed")})
        refused = sorted({str(p["identity_class"]) for p in entries if not p.get("allowed")})
        cls, status, count = r.get("identity_class"), r.get("status"), int(r.get("count") or 0)
        if allowed:
            hint = (
                f"class {cls} may not call this route (production answered {status}); only "
                f"{', '.join(allowed)} may: use such a credential or avoid the call"
            )
        else:
            hint = f"no recorded class may call this route (production answered {status})"
        out.append(finding(
            "refused", f"{method} {_where(host, route)} refused to class {cls}: {status} "
            f"({count}x)", hint, count,
            {"host": host, "method": method, "route": route, "identity_class": cls,
             "status": status, "count": count, "allowed_classes": allowed,
             "refused_classes": refused},
        ))  # fmt: skip
    return out


def _limit_rows(rows: pl.DataFrame, host: str, limit_route: str, cls: str | None,
                scope: str) -> pl.DataFrame:  # fmt: skip
    sel = rows.filter(pl.col("host") == host)
    if limit_route != "*":
        sel = sel.filter(pl.col("route") == limit_route)
    if scope == "identity" and cls is not None:
        sel = sel.filter(pl.col("identity_class") == cls)
    return sel


def throttled(report: Mapping[str, Any], rows: pl.DataFrame | None) -> list[Finding]:
    """One ``throttled`` per limit the candidate ran into, with the rate it reached."""
    groups: dict[tuple[str, str, str | None], list[Mapping[str, Any]]] = defaultdict(list)
    for entry in report.get("limited") or []:
        key = (entry.get("host"), entry.get("limit_route"), entry.get("identity_class"))
        groups[key].append(entry)
    out: list[Finding] = []
    for (host, limit_route, cls), entries in sorted(groups.items(), key=lambda kv: str(kv[0])):
        limit = dict(entries[0].get("limit") or {})
        scope = str(limit.get("scope") or "identity")
        rate, burst = limit.get("rate_per_s"), limit.get("burst")
        count = sum(int(e.get("count") or 0) for e in entries)
        evidence: dict[str, Any] = {
            "host": host, "limit_route": limit_route,
            "routes": sorted({str(e.get("route")) for e in entries}),
            "identity_class": cls, "limited": count,
            "limit": {"rate_per_s": rate, "burst": burst, "scope": scope,
                      "identity_class": limit.get("identity_class", cls)},
        }  # fmt: skip
        peak = None
        if rows is not None:
            sel = _limit_rows(rows, str(host), str(limit_route), cls, scope)
            by = {"identity": "identity", "client_ip": "client_ip"}.get(scope, "_all")
            sel = sel.with_columns(pl.lit("*").alias("_all"))
            rates = peak_rates(sel.lazy(), [by])
            if rates.height:
                top = rates.sort(["peak_1s", "requests"], descending=True).row(0, named=True)
                peak = int(top["peak_1s"])
                evidence.update(
                    requests=int(rates["requests"].sum()), peak_rate_per_s=peak,
                    mean_rate_per_s=top["mean_rate_per_s"], clients=rates.height,
                )  # fmt: skip
        who = f"class {cls}" if cls else f"{scope} scope"
        route_text = "all routes" if limit_route == "*" else str(limit_route)
        reached = f": the candidate reached {peak}/s" if peak is not None else ""
        title = f"{count} requests to {host} ({route_text}) throttled for {who}{reached}"
        hint = "slow down: throttle or batch; honour Retry-After"
        if isinstance(rate, int | float):
            title += f", limit {rate:g}/s burst {burst}"
            hint = f"stay under {rate:g}/s for {who} (burst {burst}): throttle or batch; " + (
                "honour Retry-After"
            )
        out.append(finding("throttled", title, hint, count, evidence))
    return out


def faults_http(report: Mapping[str, Any]) -> list[Finding]:
    """One ``fault_injected`` per route the replayer injected faults on."""
    per: dict[tuple[str, str, str], dict[str, int]] = defaultdict(dict)
    for f in report.get("faults") or []:
        key = (f.get("host"), f.get("method"), f.get("route"))
        per[key][str(f.get("fault"))] = per[key].get(str(f.get("fault")), 0) + int(
            f.get("count") or 0
        )
    out: list[Finding] = []
    for (host, method, route), kinds in sorted(per.items(), key=lambda kv: str(kv[0])):
        count = sum(kinds.values())
        mix = ", ".join(f"{k}: {n}" for k, n in sorted(kinds.items()))
        out.append(finding(
            "fault_injected", f"{count} faults injected on {method} {_where(host, route)} "
            f"({mix})", "designed failures at production's observed rate: the candidate "
            "should retry with backoff or degrade, not crash", count,
            {"host": host, "method": method, "route": route, "faults": dict(sorted(kinds.items())),
             "count": count},
        ))  # fmt: skip
    return out


def excess_http(rows: pl.DataFrame | None, doc: Mapping[str, Any]) -> list[Finding]:
    """``excess_calls`` per route whose busiest identity-second is far above production's
    (world ``routes[].per_identity_second``; routes without it are skipped)."""
    if rows is None or rows.height == 0:
        return []
    base = {(r.get("host"), str(r.get("method")).upper(), r.get("route")): r
            for r in doc.get("routes") or [] if r.get("per_identity_second")}  # fmt: skip
    if not base:
        return []
    stats = per_second_stats(
        rows.filter(pl.col("route").is_not_null()).lazy(), ["host", "method", "route"], "identity"
    )
    out: list[Finding] = []
    for s in stats.iter_rows(named=True):
        world_route = base.get((s["host"], str(s["method"]).upper(), s["route"]))
        if world_route is None:
            continue
        prod = world_route["per_identity_second"]
        p90 = float(prod.get("p90") or 0.0)
        if not far_above(s["max"], p90):
            continue
        where = f"{s['method']} {_where(s['host'], s['route'])}"
        out.append(finding(
            "excess_calls", f"{where}: {s['max']} calls in one second by one client, "
            f"production's p90 is {p90:g}", "cache, batch or deduplicate these calls: "
            f"production makes about {p90:g} per client-second", s["max"],
            {"host": s["host"], "method": s["method"], "route": s["route"],
             "unit": "identity-second", "session": {"max": s["max"], "p90": s["p90"],
                                                    "seconds": s["seconds"]},
             "production": dict(prod),
             "threshold": {"factor": EXCESS_FACTOR, "min_extra": EXCESS_MIN_EXTRA}},
        ))  # fmt: skip
    return out
