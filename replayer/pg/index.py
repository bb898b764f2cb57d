"""The SQL side of a world, indexed once at load: fingerprint -> entry, params -> results.

Each recorded fingerprint becomes a :class:`FpEntry` holding

- ``exact``: call key (the statement's parameters as text, see :func:`call_key`) -> the
  results recorded for it, in recorded order; served one after the other, then the last
  one again (the state after every recorded write);
- ``representative``: the most common successful result, served "approximately" for
  parameters that were never recorded (and its columns describe the statement);
- the latency histogram, the observed error mix and the parameter types.

Errors that depend on timing rather than on the statement (serialization failures,
deadlocks, cancels, lost connections, out of resources: SQLSTATE classes 08, 40, 53, 57,
58) are kept out of ``exact``: the same statement would succeed when run again. They are
served only by ``--faults observed``, at their recorded rate. Errors that follow from the
statement and its parameters (23505 unique violation, 22P02 bad input...) are replayed.

Every lookup is a dict access; nothing scans the recorded calls after load.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Final

from replayer.core.latency import LatencyModel, route_rng
from replayer.pg.results import Column, Result
from understudy.errors import WorldError
from understudy.pgwire import error_response
from understudy.sqlfp.shapes import FpInfo
from understudy.world import World

__all__ = ["CallKey", "FpEntry", "SqlIndex", "call_key", "is_transient"]

CallKey = tuple[str | None, ...]
_TRANSIENT_CLASSES: Final = frozenset({"08", "40", "53", "57", "58"})
_TRANSIENT_STATES: Final = frozenset({"55P03", "55006"})
#: Never injected as faults: 25P02 follows another error, 57014 follows a client's cancel.
_NOT_INJECTED: Final = frozenset({"25P02", "57014"})
_TEXT, _INT8, _NUMERIC = 25, 20, 1700


def is_transient(sqlstate: str | None) -> bool:
    """True for errors that come from timing or resources, not from the statement.

    >>> is_transient("40001"), is_transient("23505")
    (True, False)
    """
    return sqlstate is not None and (
        sqlstate[:2] in _TRANSIENT_CLASSES or sqlstate in _TRANSIENT_STATES
    )


def call_key(bound: Sequence[str | None], literals: Sequence[str | None]) -> CallKey:
    """The parameters a statement is matched by: bound values, then literal values.

    A simple-protocol statement has only literals; an extended-protocol statement usually
    only bound values; both are text, as the recorder stores them.
    """
    if not literals:
        return tuple(bound)
    if not bound:
        return tuple(literals)
    return (*bound, *literals)


def _infer_type(values: Sequence[str]) -> int:
    """int8 when every recorded value is a canonical integer, numeric for decimals, else text."""
    if not values:
        return _TEXT
    try:
        if all(str(int(v)) == v for v in values):
            return _INT8
    except ValueError:
        pass
    if all(v.replace(".", "", 1).lstrip("-").isdigit() and not v.startswith(".") for v in values):
        return _NUMERIC
    return _TEXT


class FpEntry:
    """Everything recorded about one fingerprint."""

    __slots__ = (
        "_cursors",
        "_fault_cum",
        "_fault_results",
        "calls",
        "describe_result",
        "exact",
        "fault_rate",
        "fault_rng",
        "info",
        "latency",
        "latency_rng",
        "param_types",
        "representative",
    )

    def __init__(self, info: FpInfo, seed: int) -> None:
        self.info = info
        self.calls = 0
        self.exact: dict[CallKey, list[Result]] = {}
        self.representative: Result | None = None
        self.describe_result: Result | None = None
        self.param_types: tuple[int, ...] = ()
        self.latency = LatencyModel()
        self.latency_rng = route_rng(seed, "sql", info.fingerprint, "latency")
        self.fault_rng = route_rng(seed, "sql", info.fingerprint, "faults")
        self.fault_rate = 0.0
        self._fault_cum: list[float] = []
        self._fault_results: list[Result] = []
        self._cursors: dict[CallKey, int] = {}

    def lookup(self, key: CallKey) -> Result | None:
        """The next recorded result for exactly these parameters, or None."""
        seq = self.exact.get(key)
        if seq is None:
            return None
        if len(seq) == 1:
            return seq[0]
        i = self._cursors.get(key, 0)
        self._cursors[key] = i + 1
        return seq[min(i, len(seq) - 1)]

    def sample_latency_s(self) -> float:
        return self.latency.sample_ms(self.latency_rng) / 1000.0

    def sample_fault(self) -> Result | None:
        """An observed error, drawn at the observed rate; None most of the time."""
        if not self._fault_results or self.fault_rng.random() >= self.fault_rate:
            return None
        pick = self.fault_rng.random() * self._fault_cum[-1]
        i = bisect.bisect_right(self._fault_cum, pick)
        return self._fault_results[min(i, len(self._fault_results) - 1)]

    def set_faults(
        self, errors: Mapping[str, int], calls: int, examples: Mapping[str, Result]
    ) -> None:
        """Inject ``errors`` (sqlstate -> count in ``calls``) using the recorded examples."""
        total = 0.0
        for state, count in sorted(errors.items()):
            if state in _NOT_INJECTED or count <= 0:
                continue
            total += count
            self._fault_cum.append(total)
            self._fault_results.append(
                examples.get(state)
                or Result.failure(
                    error_response(
                        state,
                        f"understudy: injected fault {state}, observed in "
                        f"{count} of {calls} recorded calls",
                    )
                )
            )
        self.fault_rate = min(1.0, total / calls) if calls > 0 else 0.0


class SqlIndex:
    """All recorded fingerprints of a world, and the server parameters it was recorded with."""

    def __init__(
        self,
        entries: dict[str, FpEntry],
        pg_parameters: Mapping[str, str] | None = None,
    ) -> None:
        self.entries = entries
        self.pg_parameters = dict(pg_parameters or {})
        self.by_table: dict[str, list[FpInfo]] = defaultdict(list)
        self.by_type: dict[str, list[FpInfo]] = defaultdict(list)
        for e in entries.values():
            for t in e.info.tables:
                self.by_table[t].append(e.info)
            self.by_type[e.info.statement_type].append(e.info)

    def get(self, fingerprint: str) -> FpEntry | None:
        return self.entries.get(fingerprint)

    @classmethod
    def from_world(cls, world: World, *, seed: int = 0) -> SqlIndex:
        """Index the world's ``sql`` entries and ``sql_calls``/``sql_results`` tables."""
        docs = _doc_entries(world.doc.get("sql"))
        results = _results(world)
        calls = world.table("sql_calls")
        cols = {name: calls.column(name).to_pylist() for name in calls.column_names}
        grouped: dict[str, list[tuple[int, CallKey, str, float | None]]] = defaultdict(list)
        for fp, params, seq, rid, dur in zip(
            cols.get("fingerprint", []),
            cols.get("params", []),
            cols.get("seq", []),
            cols.get("result_id", []),
            cols.get("duration_ms", []),
            strict=True,
        ):
            if fp is None:
                continue
            grouped[fp].append((seq or 0, tuple(params or ()), rid, dur))
        entries: dict[str, FpEntry] = {}
        for fp in {*docs, *grouped}:
            doc = docs.get(fp, {})
            entries[fp] = _entry(fp, doc, grouped.get(fp, []), results, seed)
        source = world.doc.get("source")
        params = source.get("pg_parameters") if isinstance(source, dict) else None
        if not isinstance(params, dict):
            params = {}
        return cls(entries, {str(k): str(v) for k, v in params.items()})


def _doc_entries(sql: Any) -> dict[str, dict[str, Any]]:
    if sql is None:
        return {}
    items = list(sql.values()) if isinstance(sql, dict) else sql
    if not isinstance(items, list):
        raise WorldError("world.json 'sql' must be a list of fingerprint entries")
    out: dict[str, dict[str, Any]] = {}
    for i, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("fingerprint"), str):
            raise WorldError(f"world.json sql[{i}] has no fingerprint; rebuild the world")
        out[item["fingerprint"]] = item
    return out


def _results(world: World) -> dict[str, Result]:
    table = world.table("sql_results")
    cols = {name: table.column(name).to_pylist() for name in table.column_names}
    out: dict[str, Result] = {}
    for i, rid in enumerate(cols.get("result_id", [])):
        if rid is None:
            continue
        state = cols["sqlstate"][i]
        if state:
            out[rid] = Result.failure(
                error_response(state, cols["error_message"][i] or f"error {state}"), result_id=rid
            )
            continue
        columns = [Column(str(c["name"]), int(c["type_oid"])) for c in cols["columns"][i] or ()]
        out[rid] = Result(
            columns,
            cols["result_rows"][i] or (),
            cols["command_tag"][i] or "",
            formats=cols["result_formats"][i] or (),
            truncated=bool(cols["result_truncated"][i]),
            result_id=rid,
        )
    return out


def _entry(
    fp: str,
    doc: Mapping[str, Any],
    calls: list[tuple[int, CallKey, str, float | None]],
    results: Mapping[str, Result],
    seed: int,
) -> FpEntry:
    tables = doc.get("tables") or ()
    info = FpInfo(
        fp,
        str(doc.get("normalized") or ""),
        str(doc.get("statement_type") or ""),
        tuple(str(t) for t in tables),
    )
    entry = FpEntry(info, seed)
    calls.sort(key=lambda c: c[0])
    uses: Counter[str] = Counter()
    durations: list[float] = []
    for _, key, rid, dur in calls:
        result = results.get(rid)
        if dur is not None:
            durations.append(float(dur))
        if result is None:
            continue
        uses[rid] += 1
        if not is_transient(result.sqlstate):
            entry.exact.setdefault(key, []).append(result)
    entry.calls = int(doc.get("calls") or len(calls))
    ranked = [results[rid] for rid, _ in uses.most_common()]
    ok = [r for r in ranked if r.error is None]
    entry.representative = (ok or ranked)[0] if (ok or ranked) else None
    entry.describe_result = next((r for r in ok if r.columns), entry.representative)
    entry.param_types = _param_types(doc, [k for _, k, _, _ in calls])
    latency = doc.get("latency_ms")
    if not isinstance(latency, dict):
        latency = {}
    hist = [
        (float(b[0]), float(b[1]), int(b[2]))
        for b in latency.get("histogram") or ()
        if isinstance(b, list | tuple) and len(b) == 3
    ]
    entry.latency = LatencyModel(hist, durations if not hist else ())
    errors = doc.get("errors") if isinstance(doc.get("errors"), dict) else None
    if errors is None:
        errors = Counter(
            r.sqlstate for r in ranked for _ in range(uses[r.result_id or ""]) if r.sqlstate
        )
    examples = {r.sqlstate: r for r in ranked if r.sqlstate}
    entry.set_faults({str(k): int(v) for k, v in errors.items()}, entry.calls, examples)
    return entry


def _param_types(doc: Mapping[str, Any], keys: list[CallKey]) -> tuple[int, ...]:
    recorded = doc.get("param_types")
    if isinstance(recorded, list) and all(isinstance(t, int) for t in recorded):
        return tuple(t if t else _TEXT for t in recorded)
    width = max((len(k) for k in keys), default=0)
    columns: list[list[str]] = [[] for _ in range(width)]
    for k in keys:
        for i, v in enumerate(k):
            if v is not None:
                columns[i].append(v)
    return tuple(_infer_type(values) for values in columns)
