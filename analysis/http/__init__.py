"""HTTP half of the world model: routes, latency, outcomes, rate limits, classes, permissions.

Entry point: :func:`mine_http`, a tape's HTTP rows in, :class:`HttpWorld` out::

    world = mine_http(pl.scan_parquet("TAPE/http/part-*.parquet"))
    doc.update(world.to_json())

Steps (each a module, each usable alone on a LazyFrame):

* :mod:`~analysis.http.routes`      path -> route template (``/api/items/{id}``)
* :mod:`~analysis.http.exchanges`   the per-exchange frame the other steps read
* :mod:`~analysis.http.latency`     quantiles and a log-bucket histogram per route
* :mod:`~analysis.http.outcomes`    status counts, error mix, response sizes
* :mod:`~analysis.http.ratelimits`  which budget (scope, grouping) and its token bucket, fitted
  by :mod:`~analysis.http.bucket_search` (:mod:`~analysis.http.bucket_locate` finds where to
  look, :mod:`~analysis.http.bucket_fit` judges requests against candidate buckets, all
  against the model of :mod:`understudy.ratelimit`)
* :mod:`~analysis.http.identities`  identity classes; :mod:`~analysis.http.permissions`
* :mod:`~analysis.http.entries`     world.json ``routes`` and ``identity_classes`` entries

Besides the fixed keys, entries carry a few extras: ``rate_limits`` entries ``method`` (null
for ``*``), ``agreement`` and ``hints``; ``routes`` entries ``latency_ms.n``,
``per_identity_second`` (:func:`~analysis.http.entries.add_route_rates`) and, where classes
differ, ``latency_ms_by_class``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from analysis.http.entries import add_route_rates, class_entries, route_entries
from analysis.http.exchanges import exchange_frame
from analysis.http.identities import cluster_identities, identity_profiles
from analysis.http.permissions import permission_counts, permission_entries, refusals
from analysis.http.ratelimits import (
    choose_scopes,
    fit_keys,
    fit_pools,
    observed_peaks,
    rate_entry,
)
from analysis.http.routes import route_matchers, route_table, with_routes

__all__ = ["HttpWorld", "mine_http", "route_matchers", "route_table", "with_routes"]


@dataclass(frozen=True)
class HttpWorld:
    """The mined HTTP model: world.json lists (plain JSON values) and the exchanges.

    ``exchanges`` is the input LazyFrame with ``route`` and ``identity_class`` added (lazy:
    readers collect the columns they need).
    ``unlimited`` lists hosts with no rate limiting observed and their peak one-second rate
    ("at least this many req/s went through"). ``scopes`` records, per limited host, the
    hypotheses compared, the requests each left unexplained, and ``poor_fits`` when some
    fitted limit was too poor to report.
    """

    routes: list[dict[str, Any]]
    rate_limits: list[dict[str, Any]]
    identity_classes: list[dict[str, Any]]
    permissions: list[dict[str, Any]]
    exchanges: pl.LazyFrame = field(repr=False)
    unlimited: list[dict[str, Any]] = field(default_factory=list)
    scopes: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        """The four world.json keys this half of the miner owns."""
        return {
            "routes": self.routes,
            "rate_limits": self.rate_limits,
            "identity_classes": self.identity_classes,
            "permissions": self.permissions,
        }


def mine_http(
    lf: pl.LazyFrame,
    *,
    limit_statuses: Iterable[int] = (429,),
    retry_after_statuses: Iterable[int] = (503,),
    max_literals: int = 20,
    refusal_threshold: float = 0.9,
    min_quality: float = 0.5,
) -> HttpWorld:
    """Mine a tape's HTTP rows (``HTTP_SCHEMA`` columns) into an :class:`HttpWorld`.

    Parameters
    ----------
    lf
        HTTP exchanges, e.g. ``pl.scan_parquet("TAPE/http/part-*.parquet")``.
    limit_statuses
        Statuses that mean "rate limited".
    retry_after_statuses
        Statuses that mean "rate limited" when they carry ``Retry-After``.
    max_literals
        Distinct literal segments a path position may have before it becomes ``{param}``.
    refusal_threshold
        Share of 401/403 (or hidden 404) answers that makes a route refused to a class.
    min_quality
        Fitted limits separating accepted from limited requests worse than this
        (:func:`~analysis.http.ratelimits.quality`) are left out of ``rate_limits``; their
        host is flagged ``poor_fits`` in :attr:`HttpWorld.scopes`.

    Examples
    --------
    >>> from understudy.testing.synthetic_http import generate, plans_scenario
    >>> world = mine_http(generate(plans_scenario(seed=2, duration_s=20.0)).lazy())
    >>> sorted({r["route"] for r in world.routes})[:2]
    ['/api/export', '/api/items/featured']
    >>> sorted(world.to_json())
    ['identity_classes', 'permissions', 'rate_limits', 'routes']
    """
    routes = route_table(lf, max_literals=max_literals).collect()
    ex = (
        exchange_frame(
            lf,
            limit_statuses=limit_statuses,
            retry_after_statuses=retry_after_statuses,
            max_literals=max_literals,
            routes=routes,
        )
        .drop("path", "client_addr")  # templated and parsed: never read again
        .collect(engine="streaming")  # in batches: headers and paths are never all held
    )
    choices, known = choose_scopes(ex)
    # Per-key fits only feed identity profiles: other hosts' keys are pooled by fit_pools.
    per_identity = pl.col("scope") == "identity"
    key_fits = fit_keys(ex, choices.filter(per_identity), known.filter(per_identity))
    identity_hosts = choices.filter(per_identity)["host"].to_list()
    by_identity = refusals(
        permission_counts(ex.lazy(), ["identity"]), threshold=refusal_threshold
    ).collect()
    mapping = cluster_identities(identity_profiles(ex, key_fits, by_identity, identity_hosts))
    classes = pl.DataFrame(
        {"identity": list(mapping), "identity_class": list(mapping.values())},
        schema={"identity": pl.String, "identity_class": pl.String},
    )
    # a lookup adds the column; a join would copy every other one of the frame
    class_of = pl.col("identity").replace_strict(
        classes["identity"], classes["identity_class"], default=None, return_dtype=pl.String
    )
    ex = ex.with_columns(class_of.alias("identity_class"))
    pooled = fit_pools(ex, choices, classes).sort(
        "host", "group", "identity_class", nulls_last=True
    )
    # the fits were the last readers of these: release them before the route statistics
    ex = ex.drop("t", "client_ip", "hint_retry_after_s", "hint_quota", "hint_window_s")
    good = pl.col("quality") >= min_quality
    rate_limits = [rate_entry(r) for r in pooled.filter(good).iter_rows(named=True)]
    poor = set(pooled.filter(~good)["host"].to_list())
    permissions = permission_entries(ex.lazy(), threshold=refusal_threshold)
    identity_peaks = observed_peaks(
        ex.lazy().filter(pl.col("identity").is_not_null()), ["identity"]
    )
    class_peaks = (
        identity_peaks.join(classes.lazy(), on="identity")
        .group_by("identity_class")
        .agg(pl.col("peak_per_s").max())
        .collect()
    )
    limited_hosts = {e["host"] for e in rate_limits}
    unlimited = [
        {"host": h, "observed_peak_per_s": p}
        for h, p in observed_peaks(ex.lazy(), ["host"]).collect().iter_rows()
        if h not in limited_hosts
    ]
    routes_json = route_entries(ex.lazy())
    add_route_rates(routes_json, ex.lazy())
    return HttpWorld(
        routes=routes_json,
        rate_limits=rate_limits,
        identity_classes=class_entries(
            mapping, rate_limits, permissions, dict(class_peaks.iter_rows())
        ),
        permissions=permissions,
        exchanges=with_routes(lf, table=routes).join(classes.lazy(), on="identity", how="left"),
        unlimited=unlimited,
        scopes=[
            {
                "host": r["host"],
                "scope": r["scope"],
                "grouping": r["grouping"],
                "unexplained": r["errors"],
                "candidates": r["candidates"],
                "poor_fits": r["host"] in poor,
            }
            for r in choices.iter_rows(named=True)
        ],
    )
