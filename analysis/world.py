"""Tapes in, world bundle out: the one pipeline behind ``understudy analyze``.

``build_world(tapes)`` scans every tape lazily, mines HTTP (:mod:`analysis.http`) and SQL
(:mod:`analysis.sql`), builds the deduplicated tables the replayer serves
(:mod:`analysis.tables`) and returns the world.json document with its tables. Files a tape
had to skip are named in ``source.skipped`` and make the world ``source.partial``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from analysis.http import mine_http
from analysis.tables import http_tables, sql_tables
from understudy import __version__
from understudy.errors import TapeError
from understudy.tape import Tape, open_tape

__all__ = ["BuiltWorld", "build_world", "load_tapes"]

Progress = Callable[[str], None]


@dataclass
class BuiltWorld:
    """A world ready to write: the document, its tables, and frames the report plots from."""

    doc: dict[str, Any]
    tables: dict[str, pa.Table]
    http: pl.DataFrame | None = field(default=None, repr=False)
    sql: pl.DataFrame | None = field(default=None, repr=False)


def load_tapes(paths: Sequence[Path]) -> list[Tape]:
    """Open every tape; raise :class:`TapeError` naming the first that is not a tape."""
    if not paths:
        raise TapeError("no tape given: pass one or more tape directories")
    return [open_tape(p) for p in paths]


def _scan(tapes: Sequence[Tape], kind: str) -> pl.LazyFrame | None:
    frames = [t.scan(kind) for t in tapes if t.count(kind)]
    if not frames:
        return None
    return pl.concat(frames, how="vertical_relaxed")


def _source(
    tapes: Sequence[Tape], http: pl.DataFrame | None, sql: pl.DataFrame | None
) -> dict[str, Any]:
    spans = [
        df.select(pl.col("ts_start").min().alias("a"), pl.col("ts_end").max().alias("b")).row(0)
        for df in (http, sql)
        if df is not None and df.height
    ]
    start = min((a for a, _ in spans if a is not None), default=None)
    end = max((b for _, b in spans if b is not None), default=None)
    skipped = [{"path": str(s.path), "reason": s.reason} for t in tapes for s in t.skipped]
    return {
        "tapes": [
            {
                "path": str(t.path),
                "http_rows": t.count("http"),
                "sql_rows": t.count("sql"),
                "started": t.meta.get("started"),
                "ended": t.meta.get("ended"),
            }
            for t in tapes
        ],
        "http_exchanges": 0 if http is None else http.height,
        "sql_statements": 0 if sql is None else sql.height,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "skipped": skipped,
        "partial": bool(skipped),
        # the recorder's policy (names only), so the replayer redacts candidates' requests
        # the same way and redacted fields and identities still match
        "redaction": next((t.meta["redaction"] for t in tapes if t.meta.get("redaction")), {}),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "understudy_version": __version__,
    }


def _with_match_params(statements: pl.LazyFrame) -> pl.LazyFrame:
    """Add ``match_params``: bound values then the statement's literal values, the key the
    replayer matches calls by (``replayer.pg.index.call_key`` computes the same live)."""
    from understudy.sqlfp import fingerprint_with_params
    from understudy.sqlfp.lexer import split
    from understudy.sqlfp.shapes import Fingerprinter

    fast = Fingerprinter()  # the replayer's verified per-shape path: sqlglot once per shape

    def literals_of(text: str) -> list[str | None]:
        pieces = split(text)
        if len(pieces) == 1:
            return list(fast.analyze(pieces[0])[1])
        return [str(v) for v in fingerprint_with_params(text)[1]]

    texts = statements.select(pl.col("sql").fill_null("")).unique().collect()["sql"].to_list()
    literals = pl.DataFrame(
        {"sql": texts, "_literals": [literals_of(t) for t in texts]},
        schema={"sql": pl.String, "_literals": pl.List(pl.String)},
    )
    return (
        statements.with_columns(pl.col("sql").fill_null(""))
        .join(literals.lazy(), on="sql", how="left")
        .with_columns(
            pl.concat_list(pl.col("params").fill_null([]), pl.col("_literals").fill_null([])).alias(
                "match_params"
            )
        )
        .drop("_literals")
    )


def _add_route_rates(routes: list[dict[str, Any]], http_df: pl.DataFrame) -> None:
    """``per_identity_second`` on each route: requests one identity sent to it within one
    clock second ({seconds, p50, p90, max}), the judge's baseline for excess calls."""
    from analysis.judge.rates import per_second_stats, quantile_summary

    lf = http_df.lazy().with_columns(pl.col("identity").fill_null(""))
    stats = per_second_stats(lf, ["host", "method", "route"], "identity")
    by_route = {
        (r["host"], r["method"], r["route"]): quantile_summary(r, "seconds")
        for r in stats.iter_rows(named=True)
    }
    for route in routes:
        found = by_route.get((route.get("host"), route.get("method"), route.get("route")))
        if found is not None:
            route["per_identity_second"] = found


def _pg_sessions(sql: pl.DataFrame) -> dict[str, dict[str, int]]:
    """Statements per PostgreSQL ``user`` and ``database`` (what clients logged in as), so a
    replay can point candidates at the same names.

    >>> _pg_sessions(pl.DataFrame({"user": ["app", "app", None], "database": ["d", "d", "d"]}))
    {'users': {'app': 2}, 'databases': {'d': 3}}
    """
    out: dict[str, dict[str, int]] = {}
    for column, key in (("user", "users"), ("database", "databases")):
        if column not in sql.columns:
            out[key] = {}
            continue
        counts = sql[column].drop_nulls().value_counts(sort=True).rows()
        out[key] = {str(name): int(n) for name, n in sorted(counts, key=lambda r: (-r[1], r[0]))}
    return out


def _with_per_unit(entries: list[dict[str, Any]], statements: pl.LazyFrame) -> list[dict[str, Any]]:
    """``per_unit`` on each ``sql`` entry: calls per unit of work ({units, p50, p90, max};
    units as the N+1 miner cuts them), the judge's baseline for excess calls."""
    from analysis.sql import with_units
    from analysis.sql.stats import per_unit_calls

    table = per_unit_calls(with_units(statements))
    per_unit = {u["fingerprint"]: u for u in table.iter_rows(named=True)}
    for entry in entries:
        found = per_unit.get(entry["fingerprint"])
        if found is not None:
            entry["per_unit"] = {k: found[k] for k in ("units", "p50", "p90", "max")}
    return entries


def build_world(tapes: Sequence[Tape], *, progress: Progress | None = None) -> BuiltWorld:
    """Mine ``tapes`` into a world document and its tables.

    Raises :class:`TapeError` when the tapes hold no committed rows at all.
    """
    step = progress or (lambda _msg: None)
    http_lf = _scan(tapes, "http")
    sql_lf = _scan(tapes, "sql")
    if http_lf is None and sql_lf is None:
        names = ", ".join(str(t.path) for t in tapes)
        skipped = sum(len(t.skipped) for t in tapes)
        hint = f" ({skipped} unreadable files skipped)" if skipped else ""
        raise TapeError(f"no committed HTTP or SQL rows in {names}{hint}; nothing to analyze")
    doc: dict[str, Any] = {
        "routes": [],
        "rate_limits": [],
        "identity_classes": [],
        "permissions": [],
        "sql": [],
        "n_plus_one": [],
    }
    tables: dict[str, pa.Table] = {}
    http_df: pl.DataFrame | None = None
    sql_df: pl.DataFrame | None = None
    if http_lf is not None:
        step("mining HTTP: routes, latency, limits, classes, permissions")
        # An observer never sees the limiter's clock: proxy-to-upstream jitter flips decisions
        # near bucket boundaries, so a fit explaining a quarter better than chance is kept
        # (its confidence says how sure it is).
        hw = mine_http(http_lf, min_quality=0.25)
        doc.update(hw.to_json())
        doc["unlimited"] = hw.unlimited
        doc["rate_limit_scopes"] = hw.scopes
        http_df = hw.exchanges.collect()
        _add_route_rates(doc["routes"], http_df)
        step("building served HTTP responses")
        tables["http_exchanges"], tables["http_responses"] = http_tables(http_df.lazy())
    if sql_lf is not None:
        step("mining SQL: fingerprints, links, N+1")
        from analysis.sql import mine_sql  # sqlglot is only loaded when there is SQL

        sw = mine_sql(sql_lf, None if http_df is None else http_df.lazy())
        doc["sql"] = _with_per_unit(sw.sql, sw.statements)
        doc["n_plus_one"] = sw.n_plus_one
        doc["sql_links"] = sw.links
        sql_df = _with_match_params(sw.statements).collect()
        step("building served SQL results")
        tables["sql_calls"], tables["sql_results"] = sql_tables(sql_df.lazy())
        doc["pg_parameters"] = {}
        doc["pg_sessions"] = _pg_sessions(sql_df)
    doc["source"] = _source(tapes, http_df, sql_df)
    doc["schema_version"] = 1
    return BuiltWorld(doc=doc, tables=tables, http=http_df, sql=sql_df)
