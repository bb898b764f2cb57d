"""What the judge reads: the world's document and the session tape's rows, keyed alike.

Session tape HTTP rows carry no route: :func:`http_rows` names each row's route with the
world's templates (the rules the replayer matched with, :class:`understudy.routes.RouteMatcher`)
and its identity class (the world's classes; an identity no class holds gets the class the
replayer used for it, from the report).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from understudy.errors import TapeError
from understudy.routes import RouteMatcher
from understudy.tape import open_tape

__all__ = ["SessionRows", "class_of_identity", "http_rows", "load_session"]

_HTTP_COLUMNS = ("exchange_id", "ts_start", "ts_end", "method", "host", "path", "status",
                 "identity", "client_addr", "traceparent")  # fmt: skip


@dataclass(frozen=True)
class SessionRows:
    """The session tape's rows (None: no tape, or no rows of that kind) and its notes."""

    http: pl.LazyFrame | None
    sql: pl.LazyFrame | None
    notes: tuple[str, ...] = ()


def load_session(path: Path | None) -> SessionRows:
    """Open the replayer's ``--session-tape`` directory; a missing or unreadable tape is a
    note (the checks that need rows are skipped), never an error."""
    if path is None:
        return SessionRows(None, None, ("no session tape: n_plus_one and rates not checked",))
    try:
        tape = open_tape(path)
    except TapeError as exc:
        return SessionRows(None, None, (f"session tape unreadable ({exc}): rates not checked",))
    notes = tuple(f"session tape: skipped {s.path.name} ({s.reason})" for s in tape.skipped)
    http = tape.scan("http") if tape.count("http") else None
    sql = tape.scan("sql") if tape.count("sql") else None
    return SessionRows(http, sql, notes)


def class_of_identity(doc: Mapping[str, Any], report: Mapping[str, Any]) -> dict[str, str]:
    """Identity pseudonym -> class: the world's classes, then the report's unknown
    identities with the class the replayer served them as (``""``: no identity header).

    >>> doc = {"identity_classes": [{"name": "free", "identities": ["a"]}]}
    >>> class_of_identity(doc, {"unknown_identities": [{"identity": None, "class_used": "pro"}]})
    {'a': 'free', '': 'pro'}
    """
    out: dict[str, str] = {}
    for entry in doc.get("identity_classes") or []:
        for ident in entry.get("identities") or []:
            out[str(ident)] = str(entry.get("name"))
    for entry in report.get("unknown_identities") or []:
        used = entry.get("class_used")
        if used is not None:
            out.setdefault(str(entry.get("identity") or ""), str(used))
    return out


def http_rows(lf: pl.LazyFrame, doc: Mapping[str, Any], report: Mapping[str, Any]) -> pl.DataFrame:
    """Session HTTP rows with ``route`` (template or null), ``identity_class`` and
    ``client_ip``; ``identity`` null is ``""``."""
    have = lf.collect_schema()
    df = lf.select(
        pl.col(c) if c in have else pl.lit(None, pl.String).alias(c) for c in _HTTP_COLUMNS
    ).collect()
    templates: dict[tuple[str, str], set[str]] = {}
    for r in doc.get("routes") or []:
        templates.setdefault((str(r["host"]), str(r["method"]).upper()), set()).add(str(r["route"]))
    matchers = {k: RouteMatcher(v) for k, v in templates.items()}
    paths = df.select("host", "method", "path").unique().sort("host", "method", "path")
    routes: list[str | None] = []
    for host, method, path in paths.iter_rows():
        matcher = matchers.get((host or "", (method or "").upper()))
        match = matcher.match(path or "") if matcher is not None else None
        routes.append(None if match is None else match.template)
    route_table = paths.with_columns(pl.Series("route", routes, dtype=pl.String))
    classes = class_of_identity(doc, report)
    default = (report.get("settings") or {}).get("default_class")
    class_table = pl.DataFrame(
        {"identity": list(classes), "identity_class": list(classes.values())},
        schema={"identity": pl.String, "identity_class": pl.String},
    )
    return (
        df.with_columns(pl.col("identity").fill_null(""))
        .join(route_table, on=["host", "method", "path"], how="left", nulls_equal=True)
        .join(class_table, on="identity", how="left")
        .with_columns(
            pl.col("identity_class").fill_null(pl.lit(default, pl.String)),
            pl.col("client_addr")
            .str.replace(r":[0-9]+$", "")
            .str.strip_chars("[]")
            .alias("client_ip"),
        )
        .sort("ts_start", "exchange_id", nulls_last=True)
    )
