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

__all__ = ["REPORT_COLUMNS", "BuiltWorld", "build_world", "load_tapes"]

Progress = Callable[[str], None]


#: Exchange columns :attr:`BuiltWorld.http` keeps for the report (not bodies or headers).
REPORT_COLUMNS = (
    "ts_start", "ts_end", "duration_ms", "host", "method", "route", "path", "status",
    "identity", "identity_class", "error",
)  # fmt: skip


@dataclass
class BuiltWorld:
    """A world ready to write: the document, its tables, and frames the report plots from.

    ``http_lf`` and ``sql_lf`` are lazy (tape scans plus mined columns); :attr:`http` and
    :attr:`sql` collect them on demand, so a build that writes no report never holds every
    row in memory.
    """

    doc: dict[str, Any]
    tables: dict[str, pa.Table]
    http_lf: pl.LazyFrame | None = field(default=None, repr=False)
    sql_lf: pl.LazyFrame | None = field(default=None, repr=False)

    @property
    def http(self) -> pl.DataFrame | None:
        """The HTTP exchanges with ``route`` and ``identity_class`` (:data:`REPORT_COLUMNS`)."""
        if self.http_lf is None:
            return None
        return self.http_lf.select(REPORT_COLUMNS).collect()

    @property
    def sql(self) -> pl.DataFrame | None:
        """The SQL statements with ``fingerprint``, ``request_id`` and ``match_params``."""
        return None if self.sql_lf is None else self.sql_lf.collect()


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


def _span(lf: pl.LazyFrame | None) -> tuple[int, Any, Any]:
    """Rows, first ``ts_start`` and last ``ts_end`` of ``lf`` (0, None, None without one)."""
    if lf is None:
        return 0, None, None
    row = lf.select(
        pl.len().alias("n"), pl.col("ts_start").min().alias("a"), pl.col("ts_end").max().alias("b")
    ).collect()
    return int(row["n"][0]), row["a"][0], row["b"][0]


def _source(
    tapes: Sequence[Tape], http: pl.LazyFrame | None, sql: pl.LazyFrame | None
) -> dict[str, Any]:
    (n_http, *http_span), (n_sql, *sql_span) = _span(http), _span(sql)
    spans = [span for n, span in ((n_http, http_span), (n_sql, sql_span)) if n]
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
        "http_exchanges": n_http,
        "sql_statements": n_sql,
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
    replayer matches calls by (``replayer.pg.index.call_key`` computes the same live).

    Literals are those of :class:`~understudy.sqlfp.shapes.Fingerprinter` (the replayer's
    verified per-shape path). Plain texts (:mod:`analysis.sql.literals`) of a shape whose
    first text verifies take the lexer's literals, computed over the column at once; every
    other text goes through the fingerprinter one by one.
    """
    from analysis.sql.literals import lexer_literals, lexer_marks, lexer_shape, plain
    from understudy.sqlfp import fingerprint_with_params
    from understudy.sqlfp.lexer import split
    from understudy.sqlfp.shapes import Fingerprinter

    fast = Fingerprinter()  # the replayer's verified per-shape path: sqlglot once per shape

    def literals_of(text: str) -> list[str | None]:
        pieces = split(text)
        if len(pieces) == 1:
            return list(fast.analyze(pieces[0])[1])
        return [str(v) for v in fingerprint_with_params(text)[1]]

    texts = (
        statements.select(pl.col("sql").fill_null(""))
        .unique()
        .with_columns(lexer_marks().alias("_marks"))
        .with_columns(
            lexer_shape("_marks").alias("_shape"), lexer_literals("_marks").alias("_literals")
        )
        .with_columns(plain("sql", "_shape").alias("_plain"))
        .drop("_marks")
        .collect()
    )
    verified: list[str] = []
    firsts = texts.filter("_plain").sort("sql").group_by("_shape", maintain_order=True).first()
    for shape, text, literals in firsts.select("_shape", "sql", "_literals").iter_rows():
        pieces = split(text)
        if len(pieces) != 1:  # plain text holds one statement; never guess otherwise
            continue
        piece = pieces[0]
        values = fast.analyze(piece)[1]
        if piece.shape == shape and values == piece.literals == tuple(literals):
            verified.append(shape)  # the fingerprinter takes the lexer's literals
    fast_path = pl.col("_shape").is_in(verified) & pl.col("_plain")
    slow = texts.filter(~fast_path)["sql"].to_list()
    literals = pl.concat(
        [
            texts.filter(fast_path).select("sql", "_literals"),
            pl.DataFrame(
                {"sql": slow, "_literals": [literals_of(t) for t in slow]},
                schema={"sql": pl.String, "_literals": pl.List(pl.String)},
            ),
        ]
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


def _pg_sessions(sql: pl.LazyFrame | pl.DataFrame) -> dict[str, dict[str, int]]:
    """Statements per PostgreSQL ``user`` and ``database`` (what clients logged in as), so a
    replay can point candidates at the same names.

    >>> _pg_sessions(pl.DataFrame({"user": ["app", "app", None], "database": ["d", "d", "d"]}))
    {'users': {'app': 2}, 'databases': {'d': 3}}
    """
    lf = sql.lazy()
    have = lf.collect_schema().names()
    out: dict[str, dict[str, int]] = {}
    for column, key in (("user", "users"), ("database", "databases")):
        if column not in have:
            out[key] = {}
            continue
        counts = lf.select(column).drop_nulls().group_by(column).len().collect().rows()
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
    http: pl.LazyFrame | None = None
    sql: pl.LazyFrame | None = None
    if http_lf is not None:
        step("mining HTTP: routes, latency, limits, classes, permissions")
        # An observer never sees the limiter's clock: proxy-to-upstream jitter flips decisions
        # near bucket boundaries, so a fit explaining a quarter better than chance is kept
        # (its confidence says how sure it is).
        hw = mine_http(http_lf, min_quality=0.25)
        doc.update(hw.to_json())
        doc["unlimited"] = hw.unlimited
        doc["rate_limit_scopes"] = hw.scopes
        http = hw.exchanges  # lazy: each step below reads only the columns it needs
    if sql_lf is not None:
        step("mining SQL: fingerprints, links, N+1")
        from analysis.sql import mine_sql  # sqlglot is only loaded when there is SQL

        # links read the plain tape rows; routes are looked up for N+1 findings only
        routes = None if http is None else http.select("exchange_id", "route")
        sw = mine_sql(sql_lf, http_lf, routes=routes)
        doc["sql"] = _with_per_unit(sw.sql, sw.statements)
        doc["n_plus_one"] = sw.n_plus_one
        doc["sql_links"] = sw.links
        sql = _with_match_params(sw.statements)
        step("building served SQL results")
        tables["sql_calls"], tables["sql_results"] = sql_tables(sql)
        doc["pg_parameters"] = {}
        doc["pg_sessions"] = _pg_sessions(sql_lf)
    if http is not None:  # last: the largest table is not held while SQL is mined
        step("building served HTTP responses")
        tables["http_exchanges"], tables["http_responses"] = http_tables(http)
    order = ("http_exchanges", "http_responses", "sql_calls", "sql_results")
    tables = {name: tables[name] for name in order if name in tables}
    doc["source"] = _source(tapes, http_lf, sql_lf)
    doc["schema_version"] = 1
    return BuiltWorld(doc=doc, tables=tables, http_lf=http, sql_lf=sql)
