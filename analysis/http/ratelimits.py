"""Rate limits inferred from traffic: which budget, shared how, and its bucket parameters.

For every host with limited answers, six hypotheses are compared: the budget is kept per
``identity``, per ``client_ip`` or ``global`` (one for all), and either per route
(``route``: one bucket per method and route template) or shared by all routes of the host
(``*``). Under each hypothesis every key (e.g. one identity's requests to one route) gets its
own best bucket (:func:`analysis.http.bucket_search.fit_buckets`); the hypothesis that
leaves the fewest requests unexplained wins, ties going to the one with fewer limited keys,
then to the order of :data:`SCOPES` and :data:`GROUPINGS`. Per-key fits of the winner feed
identity classes; then keys that share parameters (the identities of a class, all IPs) are
refitted together.

Accepted requests are all those not limited: errors and refusals took a token too.
Anonymous requests (``identity`` null) have no key under the ``identity`` scope.

``confidence`` = ``quality * (1 - exp(-limited / 10))`` where ``quality`` =
``max(0, 2*balanced_agreement - 1)``: how well the bucket separates accepted from limited,
times how much limiting backs it (3 limited requests cap it at 0.26, 30 at 0.95). Fits of
``quality`` under 0.5 explain nothing and are not reported as limits
(:func:`analysis.http.mine_http` flags their hosts ``poor_fits``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import polars as pl

from analysis.http.bucket_search import fit_buckets

__all__ = [
    "GROUPINGS",
    "SCOPES",
    "WINDOW",
    "choose_scopes",
    "confidence",
    "fit_keys",
    "fit_pools",
    "keyed",
    "observed_peaks",
    "quality",
    "rate_entry",
]

SCOPES: Final = ("global", "identity", "client_ip")
GROUPINGS: Final = ("*", "route")
_SUPPORT = 10.0
#: What :func:`keyed` and :func:`_fit_keyed` read of an exchange.
_KEYED_COLUMNS = ("host", "method", "route", "identity", "client_ip", "t", "limited", "status")
#: Search settings for comparing hypotheses: coarser than the final fits, ranking only.
_QUICK = {"keep": 2, "beam": 2, "points": 9, "rounds": 6}
#: Final fits search pools of more requests than this on their first ones, then count on all
#: (:func:`analysis.http.bucket_search.fit_buckets`): the search costs requests x rates.
WINDOW: Final = 100_000


def quality(
    accepted: str | pl.Expr = "accepted",
    limited: str | pl.Expr = "limited",
    agree_accepted: str | pl.Expr = "agree_accepted",
    agree_limited: str | pl.Expr = "agree_limited",
) -> pl.Expr:
    """How well a bucket separates accepted from limited requests: ``2 * balanced - 1``
    clipped to [0, 1] (1: perfectly; 0: no better than chance).

    Examples
    --------
    >>> df = pl.DataFrame({"accepted": [100, 100], "limited": [50, 50],
    ...                    "agree_accepted": [100, 50], "agree_limited": [50, 25]})
    >>> df.select(quality()).to_series().to_list()
    [1.0, 0.0]
    """
    acc, lim = _col(accepted), _col(limited)
    share = [
        pl.when(n > 0).then(_col(agree) / n).otherwise(1.0)
        for n, agree in ((acc, agree_accepted), (lim, agree_limited))
    ]
    return (share[0] + share[1] - 1.0).clip(0.0, 1.0).alias("quality")


def confidence(
    accepted: str | pl.Expr = "accepted",
    limited: str | pl.Expr = "limited",
    agree_accepted: str | pl.Expr = "agree_accepted",
    agree_limited: str | pl.Expr = "agree_limited",
) -> pl.Expr:
    """Confidence in a fitted limit, in [0, 1]: :func:`quality` times the support of the
    limited evidence, ``1 - exp(-limited / 10)``.

    Examples
    --------
    >>> df = pl.DataFrame({"accepted": [100, 100], "limited": [50, 2],
    ...                    "agree_accepted": [100, 100], "agree_limited": [50, 2]})
    >>> df.select(confidence()).to_series().to_list()
    [0.993, 0.181]
    """
    support = 1.0 - (-_col(limited).cast(pl.Float64) / _SUPPORT).exp()
    q = quality(accepted, limited, agree_accepted, agree_limited)
    return (q * support).round(3).alias("confidence")


def _col(c: str | pl.Expr) -> pl.Expr:
    return pl.col(c) if isinstance(c, str) else c


def keyed(ex: pl.LazyFrame, scope: str, grouping: str) -> pl.LazyFrame:
    """Rows of ``ex`` with ``group`` and ``scope_key`` for one hypothesis (anonymous rows are
    dropped under the ``identity`` scope).

    Examples
    --------
    >>> ex = pl.LazyFrame({"method": "GET", "route": "/a", "identity": ["u1", None],
    ...                    "client_ip": "10.0.0.1"})
    >>> keyed(ex, "identity", "route").select("group", "scope_key").collect().rows()
    [('GET /a', 'u1')]
    """
    scope_key = {
        "identity": pl.col("identity"),
        "client_ip": pl.col("client_ip").fill_null(""),
        "global": pl.lit(""),
    }[scope]
    group = pl.lit("*") if grouping == "*" else pl.concat_str("method", pl.lit(" "), "route")
    out = ex.with_columns(group=group, scope_key=scope_key, scope=pl.lit(scope))
    return out.filter(pl.col("scope_key").is_not_null())


def _fit_keyed(
    rows: pl.LazyFrame,
    pool_cols: Sequence[str],
    hints: pl.DataFrame | None = None,
    search: Mapping[str, Any] | None = None,
) -> pl.DataFrame:
    """Fit one bucket per pool over keys ``(host, scope, group, scope_key)``; pools with no
    limited request are skipped. ``hints``: ``pool_cols`` + ``rate, burst`` to try."""
    key_cols = ["host", "scope", "group", "scope_key"]
    cols = list(dict.fromkeys([*key_cols, *pool_cols]))
    # key and pool ids are dense ranks of the distinct values: rank the few distinct ones
    ids = (
        rows.select(cols)
        .unique()
        .collect()
        .with_columns(
            key=pl.struct(key_cols).rank("dense").cast(pl.Int64),
            pool=pl.struct(list(pool_cols)).rank("dense").cast(pl.Int64),
        )
    )
    frame = (
        rows.join(ids.lazy(), on=cols, how="left", nulls_equal=True, maintain_order="left")
        .filter(pl.col("limited").any().over("pool"))
        .select("pool", "key", "t", "limited", "status")  # what the fit reads
        .collect()
    )
    labels = (
        frame.group_by("pool")
        .agg(limit_status=pl.col("status").filter("limited").mode().min())
        .join(ids.group_by("pool").agg(pl.col(c).first() for c in pool_cols), on="pool")
        .select("pool", *pool_cols, "limit_status")
    )
    hint_rates = None
    if hints is not None:
        hint_rates = labels.join(hints, on=list(pool_cols), nulls_equal=True).select(
            "pool", "rate", "burst"
        )
    fits = fit_buckets(
        frame.select("pool", "key", "t", "limited"), hint_rates=hint_rates, **(search or {})
    )
    return labels.join(fits, on="pool").drop("pool")


def choose_scopes(
    ex: pl.DataFrame, *, window: int = 20_000, tolerance: float = 0.005
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per host with limited answers: the winning ``scope`` and ``grouping``.

    Hypotheses are compared on the ``window`` consecutive requests of the host with the most
    limited ones; within ``max(2, tolerance * limited)`` unexplained requests of the best,
    the one with fewest limited keys wins, then the first in :data:`SCOPES` x
    :data:`GROUPINGS` order.

    Returns ``(choices, key_fits)``: ``host, scope, grouping, errors, candidates`` per host
    (``candidates``: every hypothesis with its unexplained requests), and the per-key fits of
    the winners for hosts the window covered whole (see :func:`fit_keys`).

    Examples
    --------
    >>> from analysis.http.exchanges import exchange_frame
    >>> from understudy.testing.synthetic_http import generate, plans_scenario
    >>> tape = generate(plans_scenario(scope="global", seed=1, duration_s=10.0))
    >>> choices, known = choose_scopes(exchange_frame(tape.lazy()).collect())
    >>> choices.select("scope", "grouping").rows()
    [('global', '*')]
    >>> round(known["rate_per_s"][0], 1), known["burst"][0]
    (40.0, 30)
    """
    limited_hosts = ex.group_by("host").agg(pl.col("limited").sum()).filter(pl.col("limited") > 0)
    position = pl.col("t").rank("ordinal").over("host").cast(pl.Int64) - 1  # as a stable sort
    rows = (
        ex.lazy()
        .select(_KEYED_COLUMNS)
        .filter(pl.col("host").is_in(limited_hosts["host"].implode()))
        .with_columns(chunk=position // window)
        .with_columns(whole=pl.col("chunk").max().over("host") == 0)
        .filter(pl.col("chunk") == pl.col("chunk").filter("limited").mode().min().over("host"))
        .sort("host", "t", maintain_order=True)  # only the windows are sorted
        .collect()  # a window per host, read by every hypothesis
        .lazy()
    )
    hyps = [(s, g) for s in SCOPES for g in GROUPINGS]
    frames = [keyed(rows, s, g).with_columns(scope=pl.lit(f"{s}|{g}")) for s, g in hyps]
    fits = _fit_keyed(
        pl.concat(frames, how="vertical"), ["host", "scope", "group", "scope_key"], search=_QUICK
    )
    totals = rows.group_by("host").agg(total=pl.col("limited").sum(), whole=pl.col("whole").all())
    scored = (
        fits.group_by("host", "scope")
        .agg(
            errors=(pl.col("accepted") - pl.col("agree_accepted")
                    + pl.col("limited") - pl.col("agree_limited")).sum(),
            covered=pl.col("limited").sum(),
            n_keys=pl.len(),
        )
        .join(totals.collect(), on="host")
        .with_columns(errors=pl.col("errors") + pl.col("total") - pl.col("covered"))
        .with_columns(order=pl.col("scope").replace_strict(
            [f"{s}|{g}" for s, g in hyps], list(range(len(hyps)))))
    )  # fmt: skip
    slack = pl.max_horizontal(pl.lit(2.0), tolerance * pl.col("total"))
    winners = (
        scored.filter(pl.col("errors") <= pl.col("errors").min().over("host") + slack)
        .sort("host", "n_keys", "order")
        .group_by("host", maintain_order=True)
        .first()
    )
    known = fits.join(winners.filter("whole").select("host", "scope"), on=["host", "scope"])
    choices = (
        winners.with_columns(
            pl.col("scope").str.split("|").list.to_struct(fields=["scope", "grouping"])
        )
        .unnest("scope")
        .join(
            scored.group_by("host").agg(
                candidates=pl.concat_str("scope", pl.lit("="), pl.col("errors").cast(pl.String))
                .sort()
            ),
            on="host",
            maintain_order="left",  # by host: world.json lists the scopes in this order
        )
        .select(
            pl.col("host").cast(pl.String),
            pl.col("scope").cast(pl.String),
            pl.col("grouping").cast(pl.String),
            pl.col("errors").cast(pl.Int64),
            pl.col("candidates").cast(pl.List(pl.String)),
        )
    )  # fmt: skip
    return choices, known.with_columns(pl.col("scope").str.split("|").list.first())


def _hypothesis_rows(ex: pl.DataFrame, choices: pl.DataFrame) -> pl.LazyFrame:
    parts = [
        keyed(ex.lazy().filter(pl.col("host") == c["host"]), c["scope"], c["grouping"])
        for c in choices.iter_rows(named=True)
    ]
    return pl.concat(parts, how="vertical") if parts else keyed(ex.lazy().head(0), "global", "*")


def fit_keys(
    ex: pl.DataFrame,
    choices: pl.DataFrame,
    known: pl.DataFrame | None = None,
    *,
    window: int = WINDOW,
) -> pl.DataFrame:
    """One bucket per key (e.g. per identity and group) of each host's chosen hypothesis.

    Hosts already in ``known`` (the second result of :func:`choose_scopes`) are not refitted;
    keys of more than ``window`` requests are searched on their first ones.
    Returns ``host, scope, group, scope_key, limit_status, rate_per_s, burst, ...`` for keys
    with limited requests.

    Examples
    --------
    >>> from analysis.http.exchanges import exchange_frame
    >>> from understudy.testing.synthetic_http import generate, plans_scenario
    >>> tape = generate(plans_scenario(scope="identity", seed=1, duration_s=10.0))
    >>> ex = exchange_frame(tape.lazy()).collect()
    >>> choices = pl.DataFrame({"host": ex["host"][0], "scope": "identity", "grouping": "*"})
    >>> fits = fit_keys(ex, choices)
    >>> sorted({round(r) for r in fits["rate_per_s"]})
    [5, 20]
    """
    done = set() if known is None else set(known["host"].to_list())
    todo = choices.filter(~pl.col("host").is_in(list(done)))
    parts = [] if known is None or known.is_empty() else [known]
    if not todo.is_empty():
        parts.append(
            _fit_keyed(
                _hypothesis_rows(ex, todo),
                ["host", "scope", "group", "scope_key"],
                search={"window": window},
            )
        )
    if not parts:
        return _fit_keyed(_hypothesis_rows(ex, todo), ["host", "scope", "group", "scope_key"])
    return pl.concat(parts, how="vertical_relaxed")


def fit_pools(
    ex: pl.DataFrame, choices: pl.DataFrame, classes: pl.DataFrame, *, window: int = WINDOW
) -> pl.DataFrame:
    """Refit with pooled evidence: one bucket per ``(host, group, identity_class)`` under the
    ``identity`` scope (``classes``: ``identity, identity_class``), per ``(host, group)``
    otherwise. Header hints (``RateLimit-Policy`` quota and window) are tried as well.
    Pools of more than ``window`` requests are searched on their first ones, then counted on
    all (:func:`~analysis.http.bucket_search.fit_buckets`).

    Examples
    --------
    >>> from analysis.http.exchanges import exchange_frame
    >>> from understudy.testing.synthetic_http import generate, plans_scenario
    >>> tape = generate(plans_scenario(scope="client_ip", seed=1, duration_s=10.0))
    >>> ex = exchange_frame(tape.lazy()).collect()
    >>> choices = pl.DataFrame({"host": ex["host"][0], "scope": "client_ip", "grouping": "*"})
    >>> classes = pl.DataFrame(schema={"identity": pl.String, "identity_class": pl.String})
    >>> fit = fit_pools(ex, choices, classes).row(0, named=True)
    >>> round(fit["rate_per_s"], 2), fit["burst"], fit["confidence"]
    (8.0, 15, 1.0)
    """
    rows = (
        _hypothesis_rows(ex, choices)
        .join(classes.lazy(), on="identity", how="left")
        .with_columns(
            identity_class=pl.when(pl.col("scope") == "identity").then(pl.col("identity_class"))
        )
    )
    pool_cols = ["host", "scope", "group", "identity_class"]
    hinted = pl.any_horizontal(
        pl.col("hint_quota", "hint_window_s", "hint_retry_after_s").is_not_null()
    )
    hints = (
        rows.filter(hinted)  # pools without a hint get nulls from the join below all the same
        .group_by(pool_cols)
        .agg(
            quota=pl.col("hint_quota").median(),
            window=pl.col("hint_window_s").median(),
            retry_after_s=pl.col("hint_retry_after_s").filter("limited").median(),
        )
        .with_columns(rate=pl.col("quota") / pl.col("window"), burst=pl.col("quota").round())
        .collect()
    )
    usable = hints.filter(pl.col("rate").is_finite() & (pl.col("rate") > 0))
    search = {"window": window}
    fits = _fit_keyed(rows, pool_cols, usable if not usable.is_empty() else None, search=search)
    return fits.join(
        hints.select(*pool_cols, "quota", "window", "retry_after_s"),
        on=pool_cols,
        how="left",
        nulls_equal=True,
    ).with_columns(confidence(), quality())


def observed_peaks(ex: pl.LazyFrame, by: Sequence[str], *, every: str = "1s") -> pl.LazyFrame:
    """The most requests any ``by`` group sent in one ``every`` window (``peak_per_s``).

    Examples
    --------
    >>> from datetime import datetime, timedelta
    >>> t0 = datetime(2024, 1, 1)
    >>> lf = pl.LazyFrame({"g": "a", "ts_start": [t0 + timedelta(seconds=s)
    ...                                           for s in (0.1, 0.2, 0.3, 1.5)]})
    >>> observed_peaks(lf, ["g"]).collect().rows()
    [('a', 3.0)]
    """
    # the windows of group_by_dynamic (start at a multiple of ``every``), without a sort
    window = pl.col("ts_start").dt.truncate(every).alias("_window")
    return (
        ex.filter(pl.col("ts_start").is_not_null())
        .group_by(*by, window)
        .agg(n=pl.len())
        .group_by(list(by))
        .agg(peak=pl.col("n").max())
        .with_columns(peak_per_s=pl.col("peak") / _seconds(every))
        .select(*by, "peak_per_s")
        .sort(list(by))
    )


def _seconds(every: str) -> float:
    units = {"ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
    for suffix in sorted(units, key=len, reverse=True):
        if every.endswith(suffix) and every[: -len(suffix)].isdigit():
            return float(every[: -len(suffix)]) * units[suffix]
    raise ValueError(f"unsupported window {every!r}; use e.g. '1s', '500ms', '1m'")


def rate_entry(row: dict[str, Any]) -> dict[str, Any]:
    """A ``rate_limits`` entry of world.json from a :func:`fit_pools` row.

    Examples
    --------
    >>> row = {"host": "h", "group": "GET /a/{id}", "scope": "identity", "identity_class":
    ...        "class-1", "rate_per_s": 4.99997, "burst": 10, "limit_status": 429,
    ...        "limited": 30, "accepted": 70, "agree_accepted": 70, "agree_limited": 29,
    ...        "confidence": 0.94, "quota": None, "window": None, "retry_after_s": 1.0}
    >>> e = rate_entry(row)
    >>> e["route"], e["method"], e["rate_per_s"], e["agreement"], e["hints"]
    ('/a/{id}', 'GET', 5.0, 0.99, {'retry_after_s': 1.0})
    """
    group: str = row["group"]
    method, _, route = group.partition(" ") if group != "*" else (None, "", "*")
    hints = {
        k: v
        for k, v in (
            ("quota", row.get("quota")),
            ("window_s", row.get("window")),
            ("retry_after_s", row.get("retry_after_s")),
        )
        if v is not None and not (isinstance(v, float) and math.isnan(v))
    }
    total = row["accepted"] + row["limited"]
    entry: dict[str, Any] = {
        "host": row["host"],
        "route": route,
        "method": method,
        "scope": row["scope"],
        "identity_class": row.get("identity_class"),
        "rate_per_s": float(f"{row['rate_per_s']:.4g}"),
        "burst": int(row["burst"]),
        "limit_status": row["limit_status"],
        "evidence": {"limited": int(row["limited"]), "accepted": int(row["accepted"])},
        "agreement": round((row["agree_accepted"] + row["agree_limited"]) / total, 4),
        "confidence": float(row["confidence"]),
    }
    if hints:
        entry["hints"] = hints
    return entry
