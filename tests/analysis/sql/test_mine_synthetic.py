"""mine_sql on the synthetic workload: fingerprints, statistics, links and N+1."""

from __future__ import annotations

from collections import Counter

import polars as pl
import pytest

from analysis.sql import SqlWorld, mine_sql
from understudy.sqlfp import fingerprint
from understudy.tape.schema import SQL_SCHEMA
from understudy.testing.synthetic_sql import SAME_GROUP, SyntheticSql, synthetic_sql


@pytest.fixture(scope="module")
def data() -> SyntheticSql:
    return synthetic_sql(3_000, seed=7)


@pytest.fixture(scope="module")
def world(data: SyntheticSql) -> SqlWorld:
    return mine_sql(data.sql.lazy(), data.http.lazy())


@pytest.fixture(scope="module")
def statements(world: SqlWorld) -> pl.DataFrame:
    return world.statements.collect()


def label_fingerprints(data: SyntheticSql, statements: pl.DataFrame) -> dict[str, str]:
    pairs = pl.DataFrame({"label": data.labels, "fp": statements["fingerprint"]}).unique()
    assert pairs["label"].is_duplicated().sum() == 0, "a label spans several fingerprints"
    return dict(pairs.iter_rows())


def test_statements_keep_input_rows_and_order(data: SyntheticSql, statements: pl.DataFrame) -> None:
    assert statements.columns == [*SQL_SCHEMA.names, "fingerprint", "request_id", "link_method"]
    assert statements.drop("fingerprint", "request_id", "link_method").equals(data.sql)


def test_vectorised_fingerprint_equals_fingerprint_of_each_row(statements: pl.DataFrame) -> None:
    expected = [fingerprint(s).fingerprint for s in statements["sql"]]
    assert statements["fingerprint"].to_list() == expected


def test_each_template_is_one_fingerprint_and_calls_add_up(
    data: SyntheticSql, statements: pl.DataFrame, world: SqlWorld
) -> None:
    by_label = label_fingerprints(data, statements)
    for a, b in SAME_GROUP:
        assert by_label[a] == by_label[b]
    assert by_label["pk"] != by_label["django"] != by_label["in"]
    calls = Counter(statements["fingerprint"])
    assert {e["fingerprint"]: e["calls"] for e in world.sql} == dict(calls)
    assert [e["calls"] for e in world.sql] == sorted((e["calls"] for e in world.sql), reverse=True)


def test_entry_fields_latency_rows_and_errors(
    data: SyntheticSql, statements: pl.DataFrame, world: SqlWorld
) -> None:
    by_label = label_fingerprints(data, statements)
    entries = {e["fingerprint"]: e for e in world.sql}
    django = entries[by_label["django"]]
    assert set(django) == {
        "fingerprint", "normalized", "statement_type", "tables", "calls", "latency_ms", "rows",
        "errors", "parsed",
    }  # fmt: skip
    assert (
        django["normalized"] == "SELECT id, name FROM users WHERE org_id = $1 ORDER BY id LIMIT $2"
    )
    assert django["statement_type"] == "SELECT" and django["tables"] == ["users"]
    assert django["parsed"] is True and django["errors"] == {}
    lat = django["latency_ms"]
    assert lat["p50"] == lat["p90"] == lat["p99"] == lat["max"] == 5.0
    [[lo, hi, n]] = lat["histogram"]
    assert lo <= 5.0 < hi and n == django["calls"]
    assert django["rows"] == {"p50": 21.0, "p90": 21.0, "max": 21}
    for entry in world.sql:
        assert sum(b[2] for b in entry["latency_ms"]["histogram"]) == entry["calls"]
    bulk = entries[by_label["bulk"]]
    failed = statements.filter(pl.col("fingerprint") == bulk["fingerprint"])["sqlstate"]
    assert bulk["errors"] == {"23505": failed.drop_nulls().len()} and failed.drop_nulls().len() > 0
    assert bulk["normalized"].startswith("INSERT INTO events (id, kind, at) VALUES ($1, $2,")
    assert entries[by_label["tx-begin"]]["statement_type"] == "BEGIN"


def test_links(data: SyntheticSql, statements: pl.DataFrame, world: SqlWorld) -> None:
    exp = data.expected.links
    assert world.links == {
        "statements": data.sql.height,
        "traceparent": exp["traceparent"],
        "time_window": exp["time_window"],
        "unlinked": data.sql.height - exp["traceparent"] - exp["time_window"],
        "ambiguous": exp["ambiguous"],
        "http_exchanges": data.http.height,
        "http_exchanges_with_sql": data.http.height,
    }
    labelled = statements.with_columns(data.labels.alias("label")).join(
        data.http.select(pl.col("exchange_id").alias("request_id"), "route"),
        on="request_id",
        how="left",
    )
    traced = labelled.filter(pl.col("label").str.starts_with("tp-"))
    assert traced["link_method"].unique().to_list() == ["traceparent"]
    assert traced["route"].unique().to_list() == ["/users/{id}/orders"]
    # each traced statement went to the exchange of its own trace, not its concurrent twin
    http_trace = data.http.select("exchange_id", pl.col("traceparent").str.slice(3, 32).alias("t"))
    sql_trace = pl.coalesce(
        pl.col("traceparent").str.slice(3, 32),
        pl.col("sql").str.extract(r"traceparent='00-(\w{32})"),
    )
    joined = traced.with_columns(sql_trace.alias("t")).join(http_trace, on="t")
    assert (joined["request_id"] == joined["exchange_id"]).all() and joined.height == traced.height
    routes = dict(
        labelled.filter(pl.col("label").str.starts_with("amb-"))
        .select("label", "route")
        .iter_rows()
    )
    assert routes == {"amb-a": "/a", "amb-both": None, "amb-b": "/b"}
    assert labelled.filter(pl.col("label") == "tw-items")["link_method"].unique().to_list() == [
        "time_window"
    ]
    assert (
        labelled.filter(pl.col("conn_id").str.starts_with("bg-"))["request_id"].null_count()
        == labelled.filter(pl.col("conn_id").str.starts_with("bg-")).height
    )


def test_n_plus_one(data: SyntheticSql, statements: pl.DataFrame, world: SqlWorld) -> None:
    by_label = label_fingerprints(data, statements)
    found = {
        (e["fingerprint"], e["route"]): (
            e["typical_per_request"],
            e["max_per_request"],
            e["occurrences"],
        )
        for e in world.n_plus_one
    }
    expected = {
        (by_label[label], route): (typical, most, occurrences)
        for label, (route, typical, most, occurrences) in data.expected.n_plus_one.items()
    }
    assert found == expected
    for label in data.expected.not_n_plus_one:
        assert all(e["fingerprint"] != by_label[label] for e in world.n_plus_one), label


def test_n_plus_one_thresholds_are_configurable(data: SyntheticSql) -> None:
    world = mine_sql(data.sql.lazy(), data.http.lazy(), n_plus_one_min=7)
    assert [(e["route"], e["max_per_request"], e["occurrences"]) for e in world.n_plus_one] == [
        ("/users/{id}/orders", 8, 4)
    ]
    loose = mine_sql(data.sql.lazy(), data.http.lazy(), n_plus_one_min=5, n_plus_one_min_distinct=1)
    routes = Counter(e["route"] for e in loose.n_plus_one)
    assert routes["/items"] == 2  # the count(*) repeated with one parameter set now counts


def test_without_http_everything_is_unlinked_and_routes_are_null(data: SyntheticSql) -> None:
    world = mine_sql(data.sql.lazy())
    assert world.links["unlinked"] == data.sql.height and world.links["http_exchanges"] == 0
    assert world.n_plus_one and all(e["route"] is None for e in world.n_plus_one)
    assert world.statements.collect()["request_id"].null_count() == data.sql.height


def test_http_without_route_column(data: SyntheticSql) -> None:
    world = mine_sql(data.sql.lazy(), data.http.drop("route").lazy())
    assert world.links["traceparent"] == data.expected.links["traceparent"]
    assert all(e["route"] is None for e in world.n_plus_one)


def test_minimal_and_empty_frames() -> None:
    empty = mine_sql(pl.LazyFrame({"sql": []}, schema={"sql": pl.String}))
    assert empty.sql == [] and empty.n_plus_one == [] and empty.links["statements"] == 0
    world = mine_sql(pl.LazyFrame({"sql": ["SELECT 1", None, "garbage ((("]}))
    assert sum(e["calls"] for e in world.sql) == 3
    assert {e["statement_type"] for e in world.sql} == {"SELECT", "EMPTY", "OTHER"}


def test_histogram_edges_and_out_of_range_latencies() -> None:
    durations = [0.001, 0.5, 0.5, 59_999.0, 61_000.0, 90_000.0, None]
    lf = pl.LazyFrame({"sql": ["SELECT 1"] * len(durations), "duration_ms": durations})
    [entry] = mine_sql(lf).sql
    assert entry["latency_ms"]["histogram"] == [
        [0.0, 0.01, 1],
        [0.421697, 0.562341, 2],
        [56234.1, 60000.0, 1],
        [60000.0, 90000.0, 2],
    ]
    assert entry["latency_ms"]["max"] == 90000.0 and entry["calls"] == 7
