"""Build SQL worlds from captured statements, keyed exactly as the replay server looks up.

Until the record -> analyze pipeline writes worlds, tests and benchmarks make their own:
capture statements on a real server (:mod:`replayer.pg.testing.capture`), then::

    kit = SqlWorldKit()
    kit.add(captured)                       # fingerprinted with understudy.sqlfp
    kit.write(path, pg_parameters=client.parameters)

Results are deduplicated by content; calls are keyed by :func:`replayer.pg.index.call_key`
(bound parameters and literal values as text); ``world.json`` gets one ``sql`` entry per
fingerprint with calls, rows, errors, latency percentiles and a histogram, and the
parameter types PostgreSQL described (``param_types``).
"""

from __future__ import annotations

import hashlib
import math
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from replayer.pg.index import call_key
from replayer.pg.testing.capture import Captured
from understudy.sqlfp import Fingerprint, fingerprint_with_params
from understudy.sqlfp.lexer import split
from understudy.sqlfp.shapes import Fingerprinter, FpInfo
from understudy.world import write_world
from understudy.world.schema import SQL_CALLS_SCHEMA, SQL_RESULTS_SCHEMA

__all__ = ["SqlWorldKit", "histogram"]


def histogram(durations: list[float], buckets: int = 8) -> list[list[float]]:
    """Log-spaced ``[lo_ms, hi_ms, count]`` buckets covering ``durations``."""
    if not durations:
        return []
    lo, hi = min(durations), max(durations)
    if hi <= lo or lo <= 0:
        return [[lo, hi, len(durations)]]
    edges = [
        math.exp(math.log(lo) + (math.log(hi) - math.log(lo)) * i / buckets)
        for i in range(buckets + 1)
    ]
    counts = [0] * buckets
    for d in durations:
        i = min(
            buckets - 1, int((math.log(d) - math.log(lo)) / (math.log(hi) - math.log(lo)) * buckets)
        )
        counts[i] += 1
    return [[edges[i], edges[i + 1], c] for i, c in enumerate(counts) if c]


def _quantile(data: list[float], q: float) -> float:
    data = sorted(data)
    return data[min(len(data) - 1, max(0, math.ceil(q * len(data)) - 1))]


def _result_id(c: Captured) -> str:
    h = hashlib.blake2b(digest_size=12)
    h.update(
        repr(
            (
                c.tag,
                [(x.name, x.type_oid) for x in c.columns],
                c.formats,
                c.sqlstate,
                c.error_message,
            )
        ).encode()
    )
    for row in c.rows:
        for v in row:
            h.update(b"\x00N" if v is None else len(v).to_bytes(4, "big") + v)
    return h.hexdigest()


class SqlWorldKit:
    """Accumulates captured statements and writes them as a world bundle."""

    def __init__(self) -> None:
        self.fingerprinter = Fingerprinter()
        self.calls: list[dict[str, Any]] = []
        self.results: dict[str, dict[str, Any]] = {}
        self.meta: dict[str, dict[str, Any]] = {}
        self.durations: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, Counter[str]] = defaultdict(Counter)
        self.rows: Counter[str] = Counter()
        self.param_types: dict[str, list[int]] = {}
        self._seq: Counter[tuple[str, tuple[str | None, ...]]] = Counter()

    def add(self, c: Captured, *, duration_ms: float | None = None) -> str:
        """Add one captured statement; return its fingerprint."""
        pieces = split(c.sql)
        fp: FpInfo | Fingerprint
        if len(pieces) == 1:  # the verified fast path: what sqlfp gives, once per shape
            fp, literals = self.fingerprinter.analyze(pieces[0])
        else:
            fp, literals = fingerprint_with_params(c.sql)
        bound = c.params if c.protocol == "extended" else ()
        key = call_key(bound, literals)
        rid = _result_id(c)
        self.results.setdefault(
            rid,
            {
                "result_id": rid,
                "command_tag": c.tag,
                "columns": [{"name": x.name, "type_oid": x.type_oid} for x in c.columns],
                "result_formats": list(c.formats),
                "result_rows": [list(r) for r in c.rows],
                "result_truncated": False,
                "rows": len(c.rows),
                "sqlstate": c.sqlstate,
                "error_message": c.error_message,
            },
        )
        seq = self._seq[(fp.fingerprint, key)]
        self._seq[(fp.fingerprint, key)] += 1
        dur = c.duration_ms if duration_ms is None else duration_ms
        self.calls.append(
            {
                "fingerprint": fp.fingerprint,
                "params": list(key),
                "seq": seq,
                "result_id": rid,
                "duration_ms": dur,
            }
        )
        self.meta.setdefault(
            fp.fingerprint,
            {
                "normalized": fp.normalized,
                "statement_type": fp.statement_type,
                "tables": list(fp.tables),
            },
        )
        self.durations[fp.fingerprint].append(dur)
        self.rows[fp.fingerprint] += len(c.rows)
        if c.sqlstate:
            self.errors[fp.fingerprint][c.sqlstate] += 1
        if c.protocol == "extended" and c.param_types:
            self.param_types.setdefault(fp.fingerprint, list(c.param_types))
        return fp.fingerprint

    def doc(self, pg_parameters: dict[str, str] | None = None) -> dict[str, Any]:
        sql = []
        for fp, meta in sorted(self.meta.items()):
            d = self.durations[fp]
            entry = {
                "fingerprint": fp,
                **meta,
                "calls": len(d),
                "latency_ms": {
                    "p50": _quantile(d, 0.5),
                    "p90": _quantile(d, 0.9),
                    "p99": _quantile(d, 0.99),
                    "max": max(d),
                    "histogram": histogram(d),
                },
                "rows": self.rows[fp],
                "errors": dict(self.errors[fp]),
            }
            if fp in self.param_types:
                entry["param_types"] = self.param_types[fp]
            sql.append(entry)
        return {
            "schema_version": 1,
            "source": {"kind": "test capture", "pg_parameters": dict(pg_parameters or {})},
            "routes": [],
            "rate_limits": [],
            "identity_classes": [],
            "permissions": [],
            "sql": sql,
            "n_plus_one": [],
        }

    def write(self, path: Path, *, pg_parameters: dict[str, str] | None = None) -> Path:
        """Write the world bundle to ``path``."""
        tables = {
            "sql_calls": pa.Table.from_pylist(self.calls, schema=SQL_CALLS_SCHEMA),
            "sql_results": pa.Table.from_pylist(
                list(self.results.values()), schema=SQL_RESULTS_SCHEMA
            ),
        }
        return write_world(path, self.doc(pg_parameters), tables)
