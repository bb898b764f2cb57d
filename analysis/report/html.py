"""One self-contained HTML file that shows a world: latency, limits over time, costly SQL.

Everything is inline (CSS and SVG); the file opens offline and can be attached to a review.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

import polars as pl

from analysis.report.svg import bar_chart, histogram, series_chart

__all__ = ["render_report"]

CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.9em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left}th{background:#f5f5f5}
.grid{display:flex;flex-wrap:wrap;gap:12px}.card{border:1px solid #eee;padding:4px}
.warn{color:#b00}code{font-size:.9em}
"""


def _table(columns: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape('' if v is None else str(v))}</td>" for v in row) + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _latency_section(doc: dict[str, Any]) -> str:
    routes = sorted(doc.get("routes", []), key=lambda r: -int(r.get("count", 0)))[:12]
    rows = [
        [
            r.get("host"),
            r.get("method"),
            r.get("route"),
            r.get("count"),
            r.get("latency_ms", {}).get("p50"),
            r.get("latency_ms", {}).get("p99"),
            json.dumps(r.get("status_counts", {})),
        ]
        for r in routes
    ]
    charts = "".join(
        '<div class="card">'
        + histogram(
            f"{r.get('method')} {r.get('route')}", r.get("latency_ms", {}).get("histogram", [])
        )
        + "</div>"
        for r in routes
    )
    return (
        "<h2>Routes and latency</h2>"
        + _table(["host", "method", "route", "count", "p50 ms", "p99 ms", "statuses"], rows)
        + f'<div class="grid">{charts}</div>'
    )


def _limits_section(doc: dict[str, Any], http: pl.DataFrame | None) -> str:
    limits = doc.get("rate_limits", [])
    rows = [
        [
            lim.get("host"),
            lim.get("route"),
            lim.get("scope"),
            lim.get("identity_class"),
            lim.get("rate_per_s"),
            lim.get("burst"),
            lim.get("limit_status"),
            json.dumps(lim.get("evidence")),
            lim.get("confidence"),
        ]
        for lim in limits
    ]
    out = "<h2>Rate limits inferred from traffic</h2>" + _table(
        ["host", "route", "scope", "class", "rate/s", "burst", "status", "evidence", "confidence"],
        rows,
    )
    if http is None or not http.height or "identity_class" not in http.columns:
        return out
    t0 = http["ts_start"].min()
    per_sec = (
        http.with_columns(
            ((pl.col("ts_start") - pl.lit(t0)).dt.total_milliseconds() // 1000).alias("sec"),
            pl.col("identity_class").fill_null("(none)"),
            pl.col("identity").fill_null("(none)"),
            pl.col("status").is_in([429, 503]).alias("limited"),
        )
        .group_by("identity_class", "identity", "sec")
        .agg(pl.len().alias("n"), pl.col("limited").sum().alias("limited"))
        .group_by("identity_class", "sec")
        .agg(pl.col("n").mean().alias("n"), pl.col("limited").mean().alias("limited"))
        .sort("sec")
    )
    charts = []
    for (cls,), part in per_sec.group_by("identity_class", maintain_order=True):
        fitted = [
            float(lim["rate_per_s"])
            for lim in limits
            if lim.get("identity_class") in (cls, None) and lim.get("scope") == "identity"
        ]
        hl = {"fitted limit": fitted[0]} if fitted else None
        charts.append(
            '<div class="card">'
            + series_chart(
                f"class {cls}: requests/s per client",
                {
                    "sent": list(zip(part["sec"].to_list(), part["n"].to_list(), strict=True)),
                    "limited": list(
                        zip(part["sec"].to_list(), part["limited"].to_list(), strict=True)
                    ),
                },
                hlines=hl,
            )
            + "</div>"
        )
    return out + f'<div class="grid">{"".join(charts)}</div>'


def _classes_section(doc: dict[str, Any]) -> str:
    classes = doc.get("identity_classes", [])
    perms = [p for p in doc.get("permissions", []) if not p.get("allowed")]
    return (
        "<h2>Identity classes and permissions</h2>"
        + _table(
            ["class", "identities", "summary"],
            [[c.get("name"), len(c.get("identities", [])), c.get("summary")] for c in classes],
        )
        + _table(
            ["host", "method", "route", "class", "refused with"],
            [
                [p.get(k) for k in ("host", "method", "route", "identity_class", "status")]
                for p in perms
            ],
        )
    )


def _sql_section(doc: dict[str, Any]) -> str:
    sql = doc.get("sql", [])
    if not sql:
        return ""
    total = [
        (
            str(s.get("normalized", ""))[:120],
            float(s.get("calls", 0)) * float(s.get("latency_ms", {}).get("p50") or 0.0),
        )
        for s in sql
    ]
    rows = [
        [
            s.get("fingerprint"),
            s.get("statement_type"),
            ", ".join(s.get("tables", [])),
            s.get("calls"),
            s.get("latency_ms", {}).get("p50"),
            s.get("latency_ms", {}).get("p99"),
            json.dumps(s.get("errors", {})),
            str(s.get("normalized", ""))[:160],
        ]
        for s in sorted(sql, key=lambda s: -int(s.get("calls", 0)))[:25]
    ]
    n1 = doc.get("n_plus_one", [])
    return (
        "<h2>SQL</h2>"
        + bar_chart("top fingerprints by total time (calls x p50)", total, "ms")
        + _table(
            ["fingerprint", "type", "tables", "calls", "p50 ms", "p99 ms", "errors", "normalized"],
            rows,
        )
        + "<h2>N+1 patterns</h2>"
        + _table(
            ["fingerprint", "route", "typical per request", "max per request", "occurrences"],
            [
                [
                    p.get("fingerprint"),
                    p.get("route"),
                    p.get("typical_per_request"),
                    p.get("max_per_request"),
                    p.get("occurrences"),
                ]
                for p in n1
            ],
        )
    )


def render_report(doc: dict[str, Any], http: pl.DataFrame | None = None) -> str:
    """Render the world ``doc`` (and the HTTP exchanges, for time series) as HTML."""
    src = doc.get("source", {})
    partial = (
        f'<p class="warn">Partial: {len(src.get("skipped", []))} files were skipped: '
        + escape("; ".join(f"{s['path']} ({s['reason']})" for s in src.get("skipped", [])))
        + "</p>"
        if src.get("partial")
        else ""
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>understudy world</title>"
        f"<style>{CSS}</style></head><body><h1>understudy world</h1>"
        f"<p>{src.get('http_exchanges', 0)} HTTP exchanges and {src.get('sql_statements', 0)} "
        f"SQL statements from {len(src.get('tapes', []))} tape(s), "
        f"{escape(str(src.get('start')))} to {escape(str(src.get('end')))}.</p>{partial}"
        + _latency_section(doc)
        + _limits_section(doc, http)
        + _classes_section(doc)
        + _sql_section(doc)
        + "</body></html>"
    )
