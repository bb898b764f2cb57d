"""Building :class:`~replayer.core.index.ExchangeIndex` from ``http_exchanges`` in Arrow.

Grouping and ranking run in ``pyarrow.compute``: a world of 100k exchanges indexes in well
under a second and leaves one small Python object per recorded key. Only a process that
builds an index imports this module (and Arrow); serving reads a built one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final

import pyarrow as pa
import pyarrow.compute as pc

from replayer.core.index import ExactEntry, ExchangeIndex, Representative
from replayer.core.responses import ResponseStore
from understudy.matchkey import MatchKey

__all__ = ["build_index"]

_NEAR_BUCKET_MAX: Final = 512
_MAX_DURATIONS: Final = 4096
_KEY: Final = ("method", "host", "path", "query", "body_key")


def build_index(
    idx: ExchangeIndex,
    table: pa.Table,
    store: ResponseStore,
    limit_statuses: Mapping[str, Collection[int]],
    histogram_routes: Collection[tuple[str, str, str]] = (),
) -> ExchangeIndex:
    """Fill the empty ``idx`` from ``table`` (see :meth:`ExchangeIndex.build`)."""
    idx.exchanges = table.num_rows
    if table.num_rows == 0:
        return idx
    t = _prepare(table, store, limit_statuses)
    for h, m, r in _rows(t.group_by(["host", "method", "route"]).aggregate([])):
        idx.routes.add((h, m, r))
    classes = t.filter(pc.invert(pc.equal(t["identity_class"], "")))
    for k, n in _rows(classes.group_by("identity_class").aggregate([("order", "count")])):
        idx.class_counts[k] = n
    _durations(idx, t, histogram_routes)
    answered = t.filter(pc.is_valid(t["row"]))
    _statuses(idx, answered)
    eligible = answered.filter(answered["eligible"])
    _exact(idx, eligible)
    _representatives(idx, eligible)
    return idx


def _prepare(
    table: pa.Table, store: ResponseStore, limits: Mapping[str, Collection[int]]
) -> pa.Table:
    n = table.num_rows
    t = table.append_column("order", pa.array(range(n), pa.int64()))
    t = t.set_column(t.schema.get_field_index("host"), "host",
                     pc.utf8_lower(pc.fill_null(t["host"], "")))  # fmt: skip
    t = t.set_column(t.schema.get_field_index("method"), "method",
                     pc.utf8_upper(pc.fill_null(t["method"], "")))  # fmt: skip
    path = pc.if_else(pc.equal(pc.fill_null(t["path"], ""), ""), "/", t["path"])
    t = t.set_column(t.schema.get_field_index("path"), "path", path)
    route = pc.if_else(pc.equal(pc.fill_null(t["route"], ""), ""), path, t["route"])
    t = t.set_column(t.schema.get_field_index("route"), "route", route)
    for col in ("query", "body_key", "identity_class"):
        t = t.set_column(t.schema.get_field_index(col), col, pc.fill_null(t[col], ""))
    ids = store.ids_table()
    t = t.join(ids, "response_id", join_type="left outer").sort_by("order")
    status = pc.coalesce(t["status"], t["stored_status"])
    t = t.set_column(t.schema.get_field_index("status"), "status", status)
    fault = pc.or_(pc.is_valid(t["error"]), pc.greater_equal(pc.fill_null(status, 0), 500))
    limited = pc.equal(pc.fill_null(status, 0), 429)
    for host, statuses in limits.items():
        here = pc.and_(pc.equal(t["host"], host), pc.is_in(status, pa.array(sorted(statuses))))
        limited = pc.or_(limited, pc.fill_null(here, False))
    ok = pc.and_(pc.is_valid(status), pc.invert(pc.or_(fault, limited)))
    return t.append_column("eligible", pc.fill_null(ok, False))


def _rows(t: pa.Table) -> Iterable[tuple[Any, ...]]:
    """The rows of a (small, aggregated) table as tuples."""
    return zip(*(t.column(i).to_pylist() for i in range(t.num_columns)), strict=True)


def _shared(column: pa.ChunkedArray) -> list[Any]:
    """A string column as Python objects, equal values sharing one ``str``."""
    encoded = pc.dictionary_encode(column.combine_chunks())
    values = encoded.dictionary.to_pylist()
    return [None if i is None else values[i] for i in encoded.indices.to_pylist()]


def _durations(idx: ExchangeIndex, t: pa.Table, have: Collection[tuple[str, str, str]]) -> None:
    wanted = [r for r in idx.routes if r not in have]
    if not wanted:
        return
    sub = t.filter(pc.is_valid(t["duration_ms"]))
    agg = sub.group_by(["host", "method", "route"]).aggregate([("duration_ms", "list")])
    for h, m, r, values in _rows(agg):
        if (h, m, r) in wanted:
            step = max(1, len(values) // _MAX_DURATIONS)
            idx.durations_ms[(h, m, r)] = [float(v) for v in values[::step] if v >= 0]


def _starts(t: pa.Table, keys: list[str]) -> list[int]:
    """Indexes where a new group of equal ``keys`` begins in a table sorted by them."""
    n = t.num_rows
    if n == 0:
        return []
    change = pa.array([False] * (n - 1), pa.bool_())
    for k in keys:
        col = t[k].combine_chunks()
        differs = pc.fill_null(pc.not_equal(col.slice(1), col.slice(0, n - 1)), True)
        change = pc.or_(change, differs)
    positions = pc.indices_nonzero(change).to_pylist()
    return [0, *(p + 1 for p in positions)]


def _first_per_group(t: pa.Table, keys: list[str], order: list[tuple[str, str]]) -> pa.Table:
    """The first row of each ``keys`` group under ``order`` (a sort, then group starts)."""
    ranked = t.sort_by([(k, "ascending") for k in keys] + order)
    return ranked.take(pa.array(_starts(ranked, keys), pa.int64()))


def _statuses(idx: ExchangeIndex, answered: pa.Table) -> None:
    keys = ["host", "method", "route", "status", "identity_class"]
    first = _first_per_group(answered, keys, [("order", "ascending")])
    for h, m, r, st, c, row in _rows(first.select([*keys, "row"])):
        idx.by_status.setdefault((h, m, r, st), {}).setdefault(c, row)
        idx.host_status.setdefault((h, st), row)


def _exact(idx: ExchangeIndex, eligible: pa.Table) -> None:
    keys = list(_KEY)
    t = eligible.sort_by([(k, "ascending") for k in keys]
                         + [("seq", "ascending"), ("order", "ascending")])  # fmt: skip
    starts = _starts(t, keys)
    segment = pc.struct_field(pc.extract_regex(t["path"], r"^/*(?P<s>[^/]*)"), [0])
    method, host, query, body, route, ident, klass, seg = (
        _shared(c) for c in (t["method"], t["host"], t["query"], t["body_key"], t["route"],
                             t["identity"], t["identity_class"], segment)
    )  # fmt: skip
    paths = t["path"].to_pylist()  # only a few stay (in ``near``): the keys hold the rest
    rows = t["row"].to_pylist()
    exact: dict[str, ExactEntry | int] = {}
    near = idx.near
    idx.exact = exact
    ends = [*starts[1:], t.num_rows]
    for i, j in zip(starts, ends, strict=True):
        flat = f"{method[i]}\0{host[i]}\0{paths[i]}\0{query[i]}\0{body[i]}"
        if flat.count("\0") != 4:
            continue  # a recorded part holds NUL: no request can ask for it
        exact[flat] = rows[i] if j == i + 1 else _entry(rows[i:j], ident[i:j], klass[i:j])
        for bucket in ((host[i], method[i], route[i]), (host[i], seg[i])):
            found = near.get(bucket)
            if found is None:
                near[bucket] = [MatchKey(method[i], host[i], paths[i], query[i], body[i])]
            elif len(found) < _NEAR_BUCKET_MAX:
                found.append(MatchKey(method[i], host[i], paths[i], query[i], body[i]))


def _representatives(idx: ExchangeIndex, eligible: pa.Table) -> None:
    status = eligible["status"]
    success = pc.and_(pc.greater_equal(status, 200), pc.less(status, 300))
    ok, other = eligible.filter(success), eligible.filter(pc.invert(success))
    for table, keys in (
        (other, ["host", "method", "route"]),  # a route that never succeeded: its usual answer
        (ok, ["host", "method", "route"]),
        (ok, ["host", "method", "route", "identity_class"]),
    ):
        if table.num_rows == 0:
            continue
        counted = table.group_by([*keys, "row"]).aggregate([("order", "count"),
                                                            ("order", "min")])  # fmt: skip
        best = _first_per_group(counted, keys, [("order_count", "descending"),
                                               ("order_min", "ascending")])  # fmt: skip
        firsts = pc.take(table["path"], pc.index_in(best["order_min"], table["order"]))
        for *group, row, path in _rows(best.select([*keys, "row"]).append_column("p", firsts)):
            idx.representatives[tuple(group)] = Representative(row, path)


def _entry(rows: list[int], identities: list[str | None], classes: list[str]) -> ExactEntry:
    by_identity: dict[str, tuple[int, ...]] | None = None
    by_class: dict[str, tuple[int, ...]] | None = None
    if len(set(identities)) > 1:
        grouped: dict[str, list[int]] = defaultdict(list)
        for r, ident in zip(rows, identities, strict=True):
            if ident is not None:
                grouped[ident].append(r)
        by_identity = {k: tuple(v) for k, v in grouped.items()}
    if len(set(classes)) > 1:
        grouped_c: dict[str, list[int]] = defaultdict(list)
        for r, klass in zip(rows, classes, strict=True):
            grouped_c[klass].append(r)
        by_class = {k: tuple(v) for k, v in grouped_c.items()}
    return ExactEntry(tuple(rows), by_identity, by_class)
