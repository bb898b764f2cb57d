"""``diff_tapes``: what changed in behaviour between two tapes (A, then B).

Both tapes' HTTP rows are templated into routes TOGETHER (``/items/1`` in A and ``/items/2`` in
B fall in the same route), SQL is fingerprinted with the function the world uses, and units of
work are those of the N+1 detector (the linked HTTP exchange, else the connection burst).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from analysis.diff.render import headline
from analysis.diff.stats import holm, mann_whitney
from analysis.http.routes import with_routes
from analysis.sql import mine_sql, with_units
from analysis.sql.stats import per_unit_calls
from understudy.errors import ConfigError, TapeError
from understudy.tape import Tape, open_tape

__all__ = ["DIFF_FORMAT", "DIFF_SCHEMA_VERSION", "DiffSettings", "diff_tapes"]

DIFF_FORMAT: Final = "understudy-diff"
DIFF_SCHEMA_VERSION: Final = 1
_HTTP_COLS: Final = (
    "exchange_id",
    "ts_start",
    "ts_end",
    "duration_ms",
    "method",
    "host",
    "path",
    "status",
    "identity",
    "traceparent",
)


@dataclass(frozen=True, slots=True)
class DiffSettings:
    """Thresholds of :func:`diff_tapes`.

    Attributes
    ----------
    min_samples : int
        Samples needed on each side before a latency change is tested.
    alpha : float
        Family-wise significance level of the latency tests (Holm-corrected).
    min_ratio : float
        Effect-size floor: medians must differ by this factor ...
    min_delta_ms : float
        ... and by at least this many milliseconds.
    status_shift : float
        Change in a route's share of a status class reported as a status-mix change.
    n_plus_one_min : int
        Executions of one SELECT per unit that make an N+1 (as in the world builder).
    """

    min_samples: int = 20
    alpha: float = 0.01
    min_ratio: float = 1.2
    min_delta_ms: float = 1.0
    status_shift: float = 0.10
    n_plus_one_min: int = 5


def _open(path: Path, label: str) -> Tape:
    try:
        tape = open_tape(path)
    except TapeError as exc:
        raise ConfigError(f"{label}: {exc}") from exc
    newer = [s for s in tape.skipped if "newer" in s.reason]
    if newer:
        raise ConfigError(
            f"{label}: {newer[0].path} is of a newer tape schema than this understudy reads "
            f"({newer[0].reason}); upgrade understudy to compare it"
        )
    return tape


def _http(tape: Tape, side: str) -> pl.LazyFrame:
    return tape.scan("http").select(*_HTTP_COLS).with_columns(pl.lit(side).alias("side"))


def _span_s(frame: pl.DataFrame) -> float | None:
    if frame.height == 0:
        return None
    lo, hi = frame["ts_start"].min(), frame["ts_end"].max()
    if not isinstance(lo, datetime) or not isinstance(hi, datetime):
        return None
    return round((hi - lo).total_seconds(), 3)


def _status_class(status: int | None) -> str:
    if status is None:
        return "failed"
    if status == 429:
        return "429"
    return f"{status // 100}xx"


def _latency_tests(
    groups: list[tuple[dict[str, Any], list[float], list[float]]], s: DiffSettings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(supported changes, skipped keys) over every route/fingerprint with both sides."""
    tested: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for key, a, b in groups:
        if len(a) < s.min_samples or len(b) < s.min_samples:
            skipped.append(
                {
                    **key,
                    "n_a": len(a),
                    "n_b": len(b),
                    "reason": f"too few samples (need {s.min_samples} on each side)",
                }
            )
            continue
        r = mann_whitney(a, b)
        med_a, med_b = _median(a), _median(b)
        tested.append(
            {
                **key,
                "test": "mann-whitney-u",
                "n_a": r.n_a,
                "n_b": r.n_b,
                "u": round(r.u, 1),
                "z": round(r.z, 3),
                "p": r.p,
                "median_a_ms": round(med_a, 3),
                "median_b_ms": round(med_b, 3),
            }
        )
    keep = holm([t["p"] for t in tested], s.alpha)
    changes = []
    for t, significant in zip(tested, keep, strict=True):
        lo, hi = sorted((t["median_a_ms"], t["median_b_ms"]))
        big = hi >= lo * s.min_ratio and hi - lo >= s.min_delta_ms
        if significant and big:
            t["change"] = "slower" if t["median_b_ms"] > t["median_a_ms"] else "faster"
            t["ratio"] = round(t["median_b_ms"] / t["median_a_ms"], 3) if t["median_a_ms"] else None
            changes.append(t)
    return changes, skipped


def _median(xs: list[float]) -> float:
    data = sorted(xs)
    n = len(data)
    return data[n // 2] if n % 2 else (data[n // 2 - 1] + data[n // 2]) / 2


def _http_section(frame: pl.DataFrame, s: DiffSettings) -> dict[str, Any]:
    keys = ["host", "method", "route"]
    if frame.height == 0:
        return {
            "routes": [],
            "added": [],
            "removed": [],
            "status_changes": [],
            "latency_changes": [],
            "latency_skipped": [],
            "rate_pressure": [],
        }
    counts = frame.group_by(*keys, "side").agg(pl.len().alias("n")).rows(named=True)
    per: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in counts:
        k = (r["host"], r["method"], r["route"])
        e = per.setdefault(
            k,
            {
                "host": k[0],
                "method": k[1],
                "route": k[2],
                "calls_a": 0,
                "calls_b": 0,
                "status_a": {},
                "status_b": {},
            },
        )
        e[f"calls_{r['side']}"] = r["n"]
    for host, method, route, side, status, n in (
        frame.group_by(*keys, "side", "status").agg(pl.len()).rows()
    ):
        cls = _status_class(status)
        mix = per[host, method, route][f"status_{side}"]
        mix[cls] = mix.get(cls, 0) + n
    routes = sorted(
        per.values(),
        key=lambda e: (-abs(e["calls_b"] - e["calls_a"]), e["host"], e["route"] or "", e["method"]),
    )
    status_changes = []
    for e in routes:
        na, nb = e["calls_a"], e["calls_b"]
        if not na or not nb:
            continue
        for cls in sorted(set(e["status_a"]) | set(e["status_b"])):
            sa, sb = e["status_a"].get(cls, 0) / na, e["status_b"].get(cls, 0) / nb
            new = cls not in e["status_a"] and cls != "2xx"
            if new or abs(sb - sa) >= s.status_shift:
                status_changes.append(
                    {
                        "host": e["host"],
                        "method": e["method"],
                        "route": e["route"],
                        "status": cls,
                        "share_a": round(sa, 4),
                        "share_b": round(sb, 4),
                        "new": new,
                    }
                )
    groups = []
    ok = frame.filter(pl.col("status").is_not_null() & pl.col("duration_ms").is_not_null())
    lat = ok.group_by(*keys, "side").agg(pl.col("duration_ms")).rows(named=True)
    samples: dict[tuple[str, str, str], dict[str, list[float]]] = {}
    for r in lat:
        samples.setdefault((r["host"], r["method"], r["route"]), {})[r["side"]] = r["duration_ms"]
    for (host, method, route), sides in sorted(samples.items(), key=lambda kv: str(kv[0])):
        if "a" in sides and "b" in sides:
            key = {"host": host, "method": method, "route": route}
            groups.append((key, sides["a"], sides["b"]))
    changes, skipped = _latency_tests(groups, s)
    return {
        "routes": routes,
        "added": [_key(e) for e in routes if e["calls_a"] == 0],
        "removed": [_key(e) for e in routes if e["calls_b"] == 0],
        "status_changes": status_changes,
        "latency_changes": changes,
        "latency_skipped": skipped,
        "rate_pressure": _pressure(frame),
    }


def _key(e: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "host": e["host"],
        "method": e["method"],
        "route": e["route"],
        "calls_a": e["calls_a"],
        "calls_b": e["calls_b"],
    }


def _pressure(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Per host and identity: 429 answers and the peak requests in one clock second."""
    per_sec = (
        frame.filter(pl.col("ts_start").is_not_null())
        .with_columns(pl.col("ts_start").dt.truncate("1s").alias("_sec"))
        .group_by("host", "identity", "side", "_sec")
        .agg(pl.len().alias("n"), (pl.col("status") == 429).sum().alias("limited"))
        .group_by("host", "identity", "side")
        .agg(pl.col("n").max().alias("peak"), pl.col("limited").sum().alias("limited"))
    )
    out: dict[tuple[str, str | None], dict[str, Any]] = {}
    for r in per_sec.rows(named=True):
        e = out.setdefault(
            (r["host"], r["identity"]),
            {
                "host": r["host"],
                "identity": r["identity"],
                "limited_a": 0,
                "limited_b": 0,
                "peak_per_s_a": 0,
                "peak_per_s_b": 0,
            },
        )
        e[f"limited_{r['side']}"] = int(r["limited"])
        e[f"peak_per_s_{r['side']}"] = int(r["peak"])
    rows = [
        e
        for e in out.values()
        if e["limited_a"] or e["limited_b"] or e["peak_per_s_a"] != e["peak_per_s_b"]
    ]
    return sorted(
        rows,
        key=lambda e: (
            -(e["limited_b"] - e["limited_a"]),
            -e["peak_per_s_b"],
            e["host"],
            e["identity"] or "",
        ),
    )


def _sql_side(tape: Tape, http: pl.DataFrame, s: DiffSettings) -> dict[str, Any] | None:
    if tape.count("sql") == 0:
        return None
    mined = mine_sql(
        tape.scan("sql"), http.lazy() if http.height else None, n_plus_one_min=s.n_plus_one_min
    )
    stmts = mined.statements.select(
        "fingerprint",
        "request_id",
        "conn_id",
        "seq",
        "ts_start",
        "ts_end",
        "tx_status",
        "duration_ms",
    )
    units = with_units(stmts).collect()
    per_unit = {r["fingerprint"]: r for r in per_unit_calls(units.lazy()).rows(named=True)}
    durations = {
        fp: ds
        for fp, ds in units.filter(pl.col("duration_ms").is_not_null())
        .group_by("fingerprint")
        .agg(pl.col("duration_ms"))
        .rows()
    }
    return {
        "entries": {e["fingerprint"]: e for e in mined.sql},
        "n_plus_one": {e["fingerprint"]: e for e in mined.n_plus_one},
        "per_unit": per_unit,
        "durations": durations,
        "statements": units.height,
        "units": units["unit"].n_unique(),
    }


def _sql_section(
    a: dict[str, Any] | None, b: dict[str, Any] | None, s: DiffSettings
) -> dict[str, Any]:
    empty: dict[str, Any] = {
        "entries": {},
        "n_plus_one": {},
        "per_unit": {},
        "durations": {},
        "statements": 0,
        "units": 0,
    }
    sa, sb = a or empty, b or empty
    fps = sorted(set(sa["entries"]) | set(sb["entries"]))
    rows = []
    for fp in fps:
        ea, eb = sa["entries"].get(fp), sb["entries"].get(fp)
        e = eb or ea
        assert e is not None
        pa_, pb_ = sa["per_unit"].get(fp), sb["per_unit"].get(fp)
        rows.append(
            {
                "fingerprint": fp,
                "normalized": e["normalized"],
                "tables": e.get("tables") or [],
                "statement_type": e.get("statement_type"),
                "calls_a": ea["calls"] if ea else 0,
                "calls_b": eb["calls"] if eb else 0,
                "per_unit_p50_a": pa_["p50"] if pa_ else None,
                "per_unit_p50_b": pb_["p50"] if pb_ else None,
                "per_unit_max_a": pa_["max"] if pa_ else None,
                "per_unit_max_b": pb_["max"] if pb_ else None,
            }
        )
    rows.sort(key=lambda r: (-abs(r["calls_b"] - r["calls_a"]), r["fingerprint"]))
    by_fp = {r["fingerprint"]: r for r in rows}

    def n1(fp: str, side: dict[str, Any]) -> dict[str, Any] | None:
        return side["n_plus_one"].get(fp)  # type: ignore[no-any-return]

    introduced, fixed = [], []
    for fp in fps:
        na, nb = n1(fp, sa), n1(fp, sb)
        base = {
            "fingerprint": fp,
            "normalized": by_fp[fp]["normalized"],
            "tables": by_fp[fp]["tables"],
        }
        if nb and not na:
            introduced.append(
                {
                    **base,
                    "per_unit_a": by_fp[fp]["per_unit_p50_a"],
                    "per_unit_b": nb["typical_per_request"],
                    "max_per_unit_b": nb["max_per_request"],
                    "units_b": nb["occurrences"],
                    "route": nb["route"],
                }
            )
        elif na and not nb:
            fixed.append(
                {
                    **base,
                    "per_unit_a": na["typical_per_request"],
                    "per_unit_b": by_fp[fp]["per_unit_p50_b"],
                    "units_a": na["occurrences"],
                    "route": na["route"],
                }
            )
    groups = [
        (
            {"fingerprint": fp, "normalized": by_fp[fp]["normalized"]},
            sa["durations"][fp],
            sb["durations"][fp],
        )
        for fp in fps
        if fp in sa["durations"] and fp in sb["durations"]
    ]
    changes, skipped = _latency_tests(groups, s)

    def qpu(side: dict[str, Any]) -> float | None:
        return round(side["statements"] / side["units"], 3) if side["units"] else None

    return {
        "fingerprints": rows,
        "added": [_fp_key(r) for r in rows if r["calls_a"] == 0],
        "removed": [_fp_key(r) for r in rows if r["calls_b"] == 0],
        "statements_a": sa["statements"],
        "statements_b": sb["statements"],
        "units_a": sa["units"],
        "units_b": sb["units"],
        "queries_per_unit_a": qpu(sa),
        "queries_per_unit_b": qpu(sb),
        "n_plus_one_introduced": introduced,
        "n_plus_one_fixed": fixed,
        "latency_changes": changes,
        "latency_skipped": skipped,
    }


def _fp_key(r: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "fingerprint": r["fingerprint"],
        "normalized": r["normalized"],
        "tables": r["tables"],
        "calls_a": r["calls_a"],
        "calls_b": r["calls_b"],
    }


def diff_tapes(a: Path, b: Path, *, settings: DiffSettings | None = None) -> dict[str, Any]:
    """The behavioural difference from tape ``a`` to tape ``b`` (docs/diff.md).

    Raises :class:`ConfigError` when either is not a readable tape, is of a newer schema, or
    when both hold no rows at all.
    """
    s = settings or DiffSettings()
    ta, tb = _open(Path(a), "A"), _open(Path(b), "B")
    rows = {side: t.count("http") + t.count("sql") for side, t in (("a", ta), ("b", tb))}
    if not any(rows.values()):
        raise ConfigError(f"both tapes are empty ({a}, {b}): nothing to compare")
    http_a, http_b = _http(ta, "a").collect(), _http(tb, "b").collect()
    both = pl.concat([http_a, http_b])
    if both.height:
        routed = with_routes(both.lazy()).collect()
    else:
        routed = both.with_columns(pl.lit(None, pl.String).alias("route"))
    link_cols = ["exchange_id", "ts_start", "ts_end", "traceparent", "route"]
    sql_a = _sql_side(ta, routed.filter(pl.col("side") == "a").select(link_cols), s)
    sql_b = _sql_side(tb, routed.filter(pl.col("side") == "b").select(link_cols), s)
    doc: dict[str, Any] = {
        "format": DIFF_FORMAT,
        "schema_version": DIFF_SCHEMA_VERSION,
        "built_at": datetime.now(UTC).isoformat(),
        "a": _side_doc(ta, http_a, sql_a),
        "b": _side_doc(tb, http_b, sql_b),
        "settings": {
            "min_samples": s.min_samples,
            "alpha": s.alpha,
            "min_ratio": s.min_ratio,
            "min_delta_ms": s.min_delta_ms,
            "status_shift": s.status_shift,
            "n_plus_one_min": s.n_plus_one_min,
            "latency_test": "two-sided Mann-Whitney U (normal approximation, tie and "
            "continuity corrected), Holm-corrected",
        },
        "http": _http_section(routed, s),
        "sql": _sql_section(sql_a, sql_b, s),
    }
    doc["changed"] = _changed(doc)
    doc["headline"] = headline(doc)
    return doc


def _side_doc(tape: Tape, http: pl.DataFrame, sql: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "path": str(tape.path),
        "http_exchanges": http.height,
        "sql_statements": sql["statements"] if sql else 0,
        "span_s": _span_s(http),
        "skipped": [{"path": str(f.path), "reason": f.reason} for f in tape.skipped],
    }


def _changed(doc: Mapping[str, Any]) -> bool:
    h, q = doc["http"], doc["sql"]
    return bool(
        h["added"]
        or h["removed"]
        or h["status_changes"]
        or h["latency_changes"]
        or any(r["calls_a"] != r["calls_b"] for r in h["routes"])
        or q["added"]
        or q["removed"]
        or q["n_plus_one_introduced"]
        or q["n_plus_one_fixed"]
        or q["latency_changes"]
        or any(r["calls_a"] != r["calls_b"] for r in q["fingerprints"])
    )
