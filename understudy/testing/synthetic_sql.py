"""A seeded synthetic SQL workload (SQL_SCHEMA rows) with matching HTTP rows.

Two parts:

* *background*: ``n_background`` statements from :data:`TEMPLATES` (literal-valued,
  pgbench-like and ORM-like shapes, extended-protocol ``$n`` with bound params, multi-row
  inserts, IN lists of random length, sqlcommenter comments), built column-wise with
  numpy and polars so a million rows take seconds. They run on ``bg-*`` connections, each
  statement alone in its burst, before any HTTP traffic: no links, no N+1.
* *scenes*: hand-placed HTTP exchanges and statements with known links and N+1 patterns
  (see :class:`SyntheticExpectations`).

Example::

    data = synthetic_sql(5_000, seed=1)
    world = mine_sql(data.sql.lazy(), data.http.lazy())
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from understudy.tape.schema import HTTP_SCHEMA, SQL_SCHEMA

__all__ = [
    "T0",
    "TEMPLATES",
    "SyntheticExpectations",
    "SyntheticSql",
    "Template",
    "synthetic_sql",
]

T0: Final = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
_SQL_TYPES: Final = pl.Schema(pl.from_arrow(SQL_SCHEMA.empty_table()).schema)  # type: ignore[union-attr]
_HTTP_TYPES: Final = pl.Schema(pl.from_arrow(HTTP_SCHEMA.empty_table()).schema)  # type: ignore[union-attr]
_TP_BG: Final = "00-11111111111111111111111111111111-2222222222222222-01"


@dataclass(frozen=True)
class Template:
    """One background statement shape.

    ``sql`` is a ``pl.format`` template whose ``{}`` take, in order, the value columns
    named in ``values``: ``int`` (1..99999), ``str`` (``'user123'``-like, unquoted here),
    ``in`` (1..8 comma-separated ints) or ``rows`` (1..5 VALUES rows). ``params`` names the
    values bound through the extended protocol instead. Latency is fixed per template.
    """

    label: str
    sql: str
    values: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    weight: float = 1.0
    duration_ms: float = 1.0
    rows: int = 1
    error_every: int = 0  # every n-th execution fails with 23505 (0: never)


_DJANGO: Final = (
    'SELECT "users"."id", "users"."name" FROM "users" WHERE "users"."org_id" = {} '
    'ORDER BY "users"."id" ASC LIMIT 21'
)
_SQLA: Final = (
    "SELECT u.id AS users_id, o.total AS orders_total FROM users u "
    "JOIN orders o ON o.user_id = u.id WHERE u.id = $1"
)
_PRISMA: Final = (
    'SELECT "public"."Account"."Id" FROM "public"."Account" '
    'WHERE "public"."Account"."Id" = $1 LIMIT $2 OFFSET $3'
)
_PGB_INS: Final = (
    "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
    "VALUES ({}, 1, {}, -5, CURRENT_TIMESTAMP);"
)
_COMMENTED: Final = (
    "SELECT count(*) FROM orders WHERE status = '{}' "  # noqa: S608 - synthetic text, never executed
    f"/*controller='orders',traceparent='{_TP_BG}'*/"
)
_INT, _STR = ("int",), ("str",)
TEMPLATES: Final = (
    Template("pk", "SELECT * FROM users WHERE id = {}", _INT, weight=4, duration_ms=0.5),
    Template("pk-ws", "select *\n  from USERS where ID = {} -- lookup", _INT, duration_ms=0.5),
    Template("email", "SELECT id, name FROM users WHERE email = '{}@x.org'", _STR, duration_ms=2.0),
    Template(
        "in",
        "SELECT * FROM orders WHERE user_id IN ({}) AND status = 'new'",
        ("in",),
        duration_ms=3.0,
        rows=4,
    ),
    Template(
        "pgb-upd",
        "UPDATE pgbench_accounts SET abalance = abalance + {} WHERE aid = {};",
        ("int", "int"),
        duration_ms=0.8,
    ),
    Template(
        "pgb-sel", "SELECT abalance FROM pgbench_accounts WHERE aid = {};", _INT, duration_ms=0.3
    ),
    Template("pgb-ins", _PGB_INS, ("int", "int"), duration_ms=0.4),
    Template("django", _DJANGO, _INT, duration_ms=5.0, rows=21),
    Template(
        "django-plain",
        "SELECT id, name FROM users WHERE org_id = {} ORDER BY id LIMIT 21",
        _INT,
        duration_ms=5.0,
        rows=21,
    ),
    Template("sqla", _SQLA, params=_INT, duration_ms=4.0, rows=3),
    Template("prisma", _PRISMA, params=("int", "int", "int"), duration_ms=1.5),
    Template(
        "bulk",
        "INSERT INTO events (id, kind, at) VALUES {}",
        ("rows",),
        duration_ms=7.0,
        rows=0,
        error_every=10,
    ),
    Template("commented", _COMMENTED, _STR, duration_ms=12.0),
)
TEMPLATES_CUMULATIVE_WEIGHTS: Final = tuple(
    sum(int(t.weight * 10) for t in TEMPLATES[: i + 1]) for i in range(len(TEMPLATES))
)
#: Background templates that share a fingerprint.
SAME_GROUP: Final = (("pk", "pk-ws"), ("django", "django-plain"))


@dataclass(frozen=True)
class SyntheticExpectations:
    """Facts the scenes were built to show.

    ``links`` counts statements of the whole workload by link method (plus ``ambiguous``);
    ``n_plus_one`` maps the label of an N+1 statement to
    ``(route, typical_per_request, max_per_request, occurrences)``; ``not_n_plus_one``
    lists labels repeated in one unit that must not be reported.
    """

    links: dict[str, int]
    n_plus_one: dict[str, tuple[str | None, int, int, int]]
    not_n_plus_one: tuple[str, ...]
    traceparent_requests: tuple[str, ...]


@dataclass(frozen=True)
class SyntheticSql:
    """The workload: ``sql`` (SQL_SCHEMA), ``http`` (HTTP_SCHEMA + ``route``), labels."""

    sql: pl.DataFrame
    http: pl.DataFrame
    labels: pl.Series  # the template or scene label of each sql row
    expected: SyntheticExpectations


def _random(n: int, seed: int, modulo: int) -> pl.Series:
    """``n`` pseudo-random integers in ``[0, modulo)``, seeded."""
    return pl.select(
        (pl.int_range(n, dtype=pl.UInt64).hash(seed) % modulo).cast(pl.Int64)
    ).to_series()


def _values(kind: str, n: int, seed: int) -> pl.Series:
    ints = _random(n, seed, 99_999) + 1
    if kind == "int":
        return ints.cast(pl.String)
    if kind == "str":
        return pl.select(pl.lit("user") + ints.cast(pl.String)).to_series()
    length = _random(n, seed + 1, 8 if kind == "in" else 5) + 1
    lists = pl.select(pl.int_ranges(ints, ints + length)).to_series()
    if kind == "in":
        return lists.list.eval(pl.element().cast(pl.String)).list.join(", ")
    row = pl.format("({}, 'k{}', now())", pl.element(), pl.element() % 7)
    return lists.list.eval(row).list.join(", ")


def _background(n: int, seed: int, n_conns: int = 10) -> tuple[pl.DataFrame, pl.Series]:
    cumulative = pl.Series([int(w) for w in TEMPLATES_CUMULATIVE_WEIGHTS])
    choice = cumulative.search_sorted(_random(n, seed, int(cumulative[-1])), side="right")
    parts = []
    for idx, tpl in enumerate(TEMPLATES):
        count = int((choice == idx).sum())
        if count == 0:
            continue
        salt = seed * 1000 + idx * 10
        vals = [_values(k, count, salt + i) for i, k in enumerate(tpl.values)]
        sql = pl.select(
            pl.format(tpl.sql, *vals) if vals else pl.repeat(tpl.sql, count)
        ).to_series()
        params = [_values(k, count, salt + 5 + i) for i, k in enumerate(tpl.params)]
        nth = pl.int_range(count, eager=True)
        failed = (nth % tpl.error_every == tpl.error_every - 1) if tpl.error_every else nth < 0
        parts.append(
            pl.DataFrame(
                {
                    "label": pl.repeat(tpl.label, count, eager=True),
                    "sql": sql,
                    "protocol": "extended" if tpl.params else "simple",
                    "params": pl.select(pl.concat_list(params)).to_series() if params else None,
                    "duration_ms": tpl.duration_ms,
                    "rows": pl.select(pl.when(failed).then(None).otherwise(tpl.rows)).to_series(),
                    "sqlstate": pl.select(pl.when(failed).then(pl.lit("23505"))).to_series(),
                }
            ).with_columns(pl.col("params").cast(pl.List(pl.String)))
        )
    df = pl.concat(parts, how="diagonal_relaxed").sample(fraction=1.0, shuffle=True, seed=seed)
    i = pl.int_range(pl.len())
    start_us = (i // n_conns) * 150_000 + (i % n_conns) * 7_000
    t0 = pl.lit(T0).dt.cast_time_unit("us")
    df = df.with_columns(
        (pl.lit("bg-") + (i % n_conns).cast(pl.String)).alias("conn_id"),
        (i // n_conns).cast(pl.Int64).alias("seq"),
        (t0 + pl.duration(microseconds=start_us)).alias("ts_start"),
        pl.lit("idle").alias("tx_status"),
        pl.format("b{}", i).alias("statement_id"),
    ).with_columns(
        (
            pl.col("ts_start")
            + pl.duration(microseconds=(pl.col("duration_ms") * 1000).cast(pl.Int64))
        ).alias("ts_end")
    )
    return df.drop("label"), df["label"]


@dataclass
class _Scenes:
    """Builder of hand-placed exchanges and statements."""

    rng: random.Random
    sql: list[dict[str, Any]] = field(default_factory=list)
    http: list[dict[str, Any]] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    seqs: dict[str, int] = field(default_factory=dict)

    def hex(self, n: int) -> str:
        return "".join(self.rng.choice("0123456789abcdef") for _ in range(n))

    def exchange(
        self, route: str, path: str, start: dt.datetime, ms: float, trace: str | None
    ) -> str:
        xid = f"x{len(self.http):04d}"
        tp = f"00-{trace}-{self.hex(16)}-01" if trace else None
        end = start + dt.timedelta(milliseconds=ms)
        self.http.append({
            "exchange_id": xid, "ts_start": start, "ts_end": end, "duration_ms": ms,
            "method": "GET", "scheme": "http", "host": "app.test", "port": 80, "path": path,
            "query": "", "http_version": "HTTP/1.1", "status": 200, "traceparent": tp,
            "flow_kind": "http", "route": route,
        })  # fmt: skip
        return xid

    def stmt(
        self,
        label: str,
        conn: str,
        start: dt.datetime,
        sql: str,
        *,
        params: list[str] | None = None,
        trace: str | None = None,
        comment: bool = False,
        tx: str = "idle",
        ms: float = 1.0,
    ) -> None:
        seq = self.seqs.get(conn, 0)
        self.seqs[conn] = seq + 1
        tp = f"00-{trace}-{self.hex(16)}-01" if trace else None
        if tp and comment:
            sql = f"{sql} /*db_driver='psycopg',traceparent='{tp}'*/"
        end = start + dt.timedelta(milliseconds=ms)
        protocol = "extended" if params is not None else "simple"
        self.sql.append({
            "statement_id": f"s{len(self.sql):05d}", "conn_id": conn, "seq": seq,
            "ts_start": start, "ts_end": end, "duration_ms": ms, "protocol": protocol, "sql": sql,
            "params": params, "rows": 1, "tx_status": tx, "traceparent": None if comment else tp,
        })  # fmt: skip
        self.labels.append(label)


def _median(values: list[int]) -> int:
    return int(statistics.median(values) + 0.5)


def _scenes(start: dt.datetime, rng: random.Random) -> tuple[_Scenes, SyntheticExpectations]:
    s = _Scenes(rng)
    ms = dt.timedelta(milliseconds=1)
    links = {"traceparent": 0, "time_window": 0, "ambiguous": 0}
    # 1. /users/{id}/orders: traced, two requests at a time (a time window would be ambiguous);
    #    one user lookup then 6-8 order lookups by id, half with the trace in a comment.
    sizes = []
    traces = []
    for i in range(6):
        trace = s.hex(32)
        traces.append(
            s.exchange(
                "/users/{id}/orders", f"/users/{i}/orders", start + (i // 2) * 1000 * ms, 400, trace
            )
        )
        t = start + (i // 2) * 1000 * ms + (5 + i % 2) * ms
        s.stmt(
            "tp-user",
            f"app-{i % 2}",
            t,
            "SELECT * FROM users WHERE id = $1",
            params=[str(i)],
            trace=trace,
        )
        k = 6 + i % 3
        sizes.append(k)
        for j in range(k):
            s.stmt(
                "tp-orders",
                f"app-{i % 2}",
                t + (20 + 30 * j) * ms,
                "SELECT * FROM orders WHERE id = $1",
                params=[str(100 * i + j)],
                trace=trace,
                comment=j % 2 == 0,
            )
        links["traceparent"] += 1 + k
    # 2. /items: untraced, sequential; 5-6 literal-valued item lookups each (time window), and
    #    the same count(*) six times (no distinct values: not an N+1).
    start += dt.timedelta(seconds=10)
    item_sizes = []
    for i in range(5):
        t = start + i * 500 * ms
        s.exchange("/items", "/items", t, 300, None)
        k = 5 + i % 2
        item_sizes.append(k)
        for j in range(k):
            s.stmt(
                "tw-items",
                "app-2",
                t + (10 + 20 * j) * ms,
                f"SELECT name FROM items WHERE id = {10 * i + j}",  # noqa: S608 - synthetic text, never executed
            )
        for j in range(6):
            s.stmt("tw-count", "app-2", t + (150 + 10 * j) * ms, "SELECT count(*) FROM items")
        links["time_window"] += k + 6
    # 3. /health: four distinct lookups: under the threshold.
    start += dt.timedelta(seconds=10)
    s.exchange("/health", "/health", start, 100, None)
    for j in range(4):
        s.stmt(
            "few",
            "app-3",
            start + (10 + 10 * j) * ms,
            "SELECT * FROM users WHERE id = $1",
            params=[str(j)],
        )
    links["time_window"] += 4
    # 4. two overlapping untraced exchanges: before, inside both (ambiguous), after.
    start += dt.timedelta(seconds=10)
    s.exchange("/a", "/a", start, 100, None)
    s.exchange("/b", "/b", start + 50 * ms, 100, None)
    for label, off in (("amb-a", 10), ("amb-both", 75), ("amb-b", 120)):
        s.stmt(label, "app-4", start + off * ms, f"SELECT * FROM users WHERE id = {off}")  # noqa: S608 - synthetic text, never executed
    links["time_window"] += 2
    links["ambiguous"] += 1
    # 5. a worker transaction (no HTTP): six job lookups 100 ms apart, one unit.
    start += dt.timedelta(seconds=10)
    s.stmt("tx-begin", "worker", start, "BEGIN", tx="in_transaction")
    for j in range(6):
        s.stmt(
            "tx-jobs",
            "worker",
            start + (100 * (j + 1)) * ms,
            "SELECT * FROM jobs WHERE id = $1",
            params=[str(j)],
            tx="in_transaction",
        )
    s.stmt("tx-commit", "worker", start + 800 * ms, "COMMIT")
    # 6. a cron burst: five lookups 10 ms apart (an N+1), then three more a second later.
    start += dt.timedelta(seconds=10)
    for j in range(5):
        s.stmt("burst", "cron", start + 10 * j * ms, f"SELECT * FROM accounts WHERE id = {j}")  # noqa: S608 - synthetic text, never executed
    for j in range(3):
        s.stmt(
            "burst",
            "cron",
            start + (1000 + 10 * j) * ms,
            f"SELECT * FROM accounts WHERE id = {50 + j}",  # noqa: S608 - synthetic text, never executed
        )
    expected = SyntheticExpectations(
        links=links,
        n_plus_one={
            "tp-orders": ("/users/{id}/orders", _median(sizes), max(sizes), len(sizes)),
            "tw-items": ("/items", _median(item_sizes), max(item_sizes), len(item_sizes)),
            "tx-jobs": (None, 6, 6, 1),
            "burst": (None, 5, 5, 1),
        },
        not_n_plus_one=("tw-count", "few", "tp-user"),
        traceparent_requests=tuple(traces),
    )
    return s, expected


def _frame(
    rows: list[dict[str, Any]] | pl.DataFrame, types: pl.Schema, extra: dict[str, pl.DataType]
) -> pl.DataFrame:
    df = rows if isinstance(rows, pl.DataFrame) else pl.DataFrame(rows, infer_schema_length=None)
    schema = {**types, **extra}
    return df.select(
        pl.col(n).cast(t) if n in df.columns else pl.lit(None, t).alias(n)
        for n, t in schema.items()
    )


def synthetic_sql(n_background: int = 2_000, *, seed: int = 0) -> SyntheticSql:
    """Build the workload; the same ``seed`` gives the same rows.

    >>> data = synthetic_sql(100, seed=3)
    >>> data.sql.columns == SQL_SCHEMA.names, data.sql.height == data.labels.len()
    (True, True)
    >>> data.http.select("route").n_unique() > 1
    True
    """
    bg, bg_labels = _background(n_background, seed)
    span = dt.timedelta(microseconds=(n_background // 10 + 1) * 150_000)
    scenes, expected = _scenes(T0 + span + dt.timedelta(seconds=10), random.Random(seed))  # noqa: S311 - test data
    sql = pl.concat(
        [_frame(bg, _SQL_TYPES, {}), _frame(scenes.sql, _SQL_TYPES, {})], how="vertical"
    )
    http = _frame(scenes.http, _HTTP_TYPES, {"route": pl.String()})
    labels = pl.concat([bg_labels, pl.Series("label", scenes.labels, pl.String)])
    return SyntheticSql(sql, http, labels, expected)
