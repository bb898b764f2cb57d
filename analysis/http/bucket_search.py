"""Fit the ``(rate_per_s, burst)`` that best explains which requests were limited.

Per pool (keys that share parameters), vectorised across pools:

1. :func:`analysis.http.bucket_locate.locate` narrows the rate by branch and bound and
   proposes up to ``keep`` bursts, each with a small bracket of rates;
2. each (burst, bracket) is refined by multi-section on the exact error count
   (:func:`analysis.http.bucket_fit.candidate_counts`), which finds the plateau of rates
   with the least error;
3. the answer is the burst with the least error (ties: the widest plateau) and the
   geometric middle of its plateau; a rate declared in headers replaces it when it explains
   the traffic as well.

Pools of more than ``window`` requests are searched on their first requests
(:func:`windows`); then, at the rate of each burst kept, the burst with the least error is
counted exactly on every request (:func:`analysis.http.bucket_fit.best_bursts`). The search
costs requests times candidate rates, the final count a pass over the pool per burst kept.
A window starts where the tape does, so every bucket's state in it is the one the whole
tape implies (a window cut later would not know how full each bucket was).
"""

from __future__ import annotations

import polars as pl

from analysis.http.bucket_fit import best_bursts, candidate_counts, prepare
from analysis.http.bucket_locate import grid, locate, rate_bounds

__all__ = ["fit_buckets", "windows"]

#: Rounds of multi-section, and rates per round, on every request of a pool searched on a
#: window (each rate costs one pass over the pool).
_ROUNDS = 1
_POINTS = 7


def _narrow(
    prepared: pl.DataFrame, brackets: pl.DataFrame, points: int, rounds: int
) -> pl.DataFrame:
    """Multi-section of each ``(pool, k)`` bracket; returns the plateau of least error."""
    keep = int(brackets["k"].max()) + 1  # type: ignore[arg-type]
    pools = brackets.select("pool").unique()
    state = brackets.select("pool", "k", "b", "lo", "hi")
    # pad pools with fewer bursts by repeating their first one, so every pool has `keep`
    state = (
        pools.join(pl.DataFrame({"k": range(keep)}), how="cross")
        .join(state, on=["pool", "k"], how="left")
        .sort("pool", "k")
        .with_columns(pl.col("b", "lo", "hi").fill_null(strategy="forward").over("pool"))
    )
    best = pl.DataFrame()
    for _ in range(rounds):
        cands = grid(state, points, ["k", "b"]).with_columns(c=pl.col("k") * points + pl.col("m"))
        counts = candidate_counts(prepared, cands.select("pool", "c", "rate", burst="b"))
        scored = cands.join(counts, on=["pool", "c"]).with_columns(err=pl.col("V") + pl.col("C"))
        ties = scored.filter(pl.col("err") == pl.col("err").min().over("pool", "k"))
        best = ties.group_by("pool", "k").agg(
            pl.col("b").first(),
            pl.col("step").first(),
            pl.col("err").first(),
            pl.col("V").first(),
            pl.col("C").first(),
            rate_lo=pl.col("rate").min(),
            rate_hi=pl.col("rate").max(),
            m_lo=pl.col("m").min(),
            m_hi=pl.col("m").max(),
        )
        tried = scored.select("pool", "k", "m", "rate")
        state = (
            best.join(tried.rename({"rate": "lo", "m": "m_lo"}), on=["pool", "k", "m_lo"])
            .with_columns(m_lo=pl.col("m_lo") - 1)
            .join(tried.rename({"rate": "lo2", "m": "m_lo"}), on=["pool", "k", "m_lo"], how="left")
            .with_columns(m_hi=pl.col("m_hi") + 1)
            .join(tried.rename({"rate": "hi", "m": "m_hi"}), on=["pool", "k", "m_hi"], how="left")
            .select(
                "pool",
                "k",
                "b",
                lo=pl.col("lo2").fill_null(pl.col("lo") / pl.col("step")),
                hi=pl.col("hi").fill_null(pl.col("rate_hi") * pl.col("step")),
            )
            .sort("pool", "k")
        )
    return best


def fit_buckets(
    rows: pl.LazyFrame | pl.DataFrame,
    *,
    keep: int = 3,
    beam: int = 2,
    points: int = 9,
    rounds: int = 10,
    robust: bool = True,
    hint_rates: pl.DataFrame | None = None,
    window: int | None = None,
) -> pl.DataFrame:
    """Fit one ``(rate_per_s, burst)`` per pool to recorded allowed/limited sequences.

    Parameters
    ----------
    rows
        Columns ``pool`` (parameters are shared within a pool), ``key`` (one bucket per key;
        keys are unique across pools), ``t`` (seconds, float) and ``limited`` (bool).
    keep, beam, points, rounds
        Bursts searched finely per pool; brackets kept per round of branch and bound, rates
        tried per bracket, and the most rounds (it stops once brackets are narrow enough).
    robust
        Read outlier-trimmed quantiles for pools no bucket fits exactly (slower); without,
        such pools get a rougher fit.
    hint_rates
        Optional ``pool, rate, burst`` from response headers (``burst`` may be null): used
        instead of the fit when they explain the traffic at least as well.
    window
        Search pools of more requests than this on their first ones (:func:`windows`), then
        take the best burst at each rate kept, counted on all their requests; ``None``:
        search every request. ``rate_lo``/``rate_hi`` are then the window's plateau.

    Returns
    -------
    polars.DataFrame
        One row per pool: ``rate_per_s``, ``burst``, ``rate_lo``/``rate_hi`` (the rates that
        fit equally well), ``accepted``, ``limited``, ``agree_accepted``, ``agree_limited``.
        Collected: this is a search, each round depends on the last.

    Examples
    --------
    >>> from understudy.ratelimit import simulate
    >>> times = [i * 0.05 for i in range(200)]  # 20 req/s against 5 req/s, burst 3
    >>> ok = simulate(times, rate_per_s=5.0, burst=3)
    >>> df = pl.DataFrame({"pool": 0, "key": 0, "t": times, "limited": [not a for a in ok]})
    >>> fit = fit_buckets(df).row(0, named=True)
    >>> round(fit["rate_per_s"], 1), fit["burst"], fit["agree_limited"] == fit["limited"]
    (5.0, 3, True)
    """
    sizes = (
        rows.lazy()
        .group_by("pool")
        .agg(
            n=pl.len(),
            accepted=(~pl.col("limited")).sum().cast(pl.Int64),
            limited=pl.col("limited").sum().cast(pl.Int64),
        )
        .collect()
    )
    cut = sizes.filter(pl.col("n") > window)["pool"] if window is not None else None
    if cut is not None and not cut.is_empty():  # searched on windows, counted on all rows
        prepared = prepare(rows, lean=True)
        search = prepare(windows(rows, window or 1))
    else:
        prepared = search = prepare(rows)
    bounds = rate_bounds(search)
    if bounds.is_empty():
        return _empty()
    located = locate(
        search, bounds, beam=beam, points=points, rounds=rounds, keep=keep, robust=robust
    )
    best = _narrow(search, located, points, 2)
    chosen = (
        best.with_columns(width=(pl.col("rate_hi") / pl.col("rate_lo")).log())
        .sort("pool", "err", "width", "b", descending=[False, False, True, False])
        .group_by("pool", maintain_order=True)
        .first()
        .select(
            "pool",
            rate_per_s=(pl.col("rate_lo") * pl.col("rate_hi")).sqrt(),
            burst="b",
            rate_lo="rate_lo",
            rate_hi="rate_hi",
            V="V",
            C="C",
        )
    )
    if search is not prepared and cut is not None:  # the window's errors are not the pool's
        whole = _recount(prepared, best, cut, _POINTS, _ROUNDS)
        chosen = pl.concat(
            [chosen.filter(~pl.col("pool").is_in(cut.implode())), whole.select(chosen.columns)],
            how="vertical_relaxed",
        )
    if hint_rates is not None and not hint_rates.is_empty():
        chosen = _prefer_hints(prepared, chosen, hint_rates)
    return (
        sizes.select("pool", "accepted", "limited")
        .join(chosen, on="pool")
        .select(
            "pool",
            "rate_per_s",
            pl.col("burst").cast(pl.Int64),
            "rate_lo",
            "rate_hi",
            "accepted",
            "limited",
            agree_accepted=pl.col("accepted") - pl.col("V"),
            agree_limited=pl.col("limited") - pl.col("C"),
        )
        .sort("pool")
    )


def windows(rows: pl.LazyFrame | pl.DataFrame, window: int, min_limited: int = 200) -> pl.DataFrame:
    """Per pool, its first ``window`` requests in time order, or more until they hold
    ``min_limited`` limited ones (pools of at most ``window`` requests are kept whole).

    Examples
    --------
    >>> rows = pl.DataFrame({"pool": [0] * 6 + [1], "key": 0, "t": [5.0, 1, 2, 3, 4, 0, 0],
    ...                      "limited": [True, False, False, True, True, False, False]})
    >>> windows(rows, 2, min_limited=1).select("pool", "t").rows()
    [(0, 0.0), (0, 1.0), (0, 2.0), (0, 3.0), (1, 0.0)]
    """
    lf = rows.lazy().select("pool", "key", "t", "limited").sort("pool", "t", maintain_order=True)
    before = pl.col("limited").cast(pl.Int64).cum_sum().over("pool") - pl.col("limited")
    head = pl.int_range(pl.len()).over("pool") < window
    return lf.filter(head | (before < min_limited)).collect()


def _recount(
    prepared: pl.DataFrame, best: pl.DataFrame, cut: pl.Series, points: int, rounds: int
) -> pl.DataFrame:
    """For the ``cut`` pools (searched on a window): the kept burst of least error on every
    request, then ``rounds`` of multi-section of its plateau on every request, each rate
    with its best burst (:func:`~analysis.http.bucket_fit.best_bursts`). A bucket that
    explains the whole pool explains its window too: the answer lies in the window's
    plateau, only narrower."""
    some = pl.col("pool").is_in(cut.implode())
    mid = (pl.col("rate_lo") * pl.col("rate_hi")).sqrt()
    rows = prepared.filter(some)
    kept = best.filter(some)
    # kept bursts often share a plateau: one pass per distinct rate
    rates = kept.select("pool", "k", rate=mid).with_columns(
        c=pl.col("rate").rank("dense").over("pool").cast(pl.Int64) - 1
    )
    counts = best_bursts(rows, rates.unique(["pool", "c"]).select("pool", "c", "rate"))
    state = (
        kept.drop("b", "V", "C")
        .join(rates.select("pool", "k", "c"), on=["pool", "k"])
        .join(counts.rename({"burst": "b"}), on=["pool", "c"])
        .with_columns(err=pl.col("V") + pl.col("C"), wide=pl.col("rate_lo") / pl.col("rate_hi"))
        .sort("pool", "err", "wide", "b")
        .group_by("pool", maintain_order=True)
        .first()
        .select(  # the plateau's evaluated ends and the rates tried next to them
            "pool",
            lo=pl.col("rate_lo") / pl.col("step"),
            hi=pl.col("rate_hi") * pl.col("step"),
            k=pl.lit(0, pl.Int64),
        )
    )
    found = pl.DataFrame()
    for _ in range(rounds):
        cands = grid(state, points, ["k"])
        scored = cands.join(
            best_bursts(rows, cands.select("pool", c="m", rate="rate")).rename({"c": "m"}),
            on=["pool", "m"],
        ).with_columns(err=pl.col("V") + pl.col("C"))
        least = scored.filter(pl.col("err") == pl.col("err").min().over("pool"))
        plateau = least.filter(pl.col("burst") == pl.col("burst").min().over("pool"))
        found = plateau.group_by("pool").agg(
            pl.all().sort_by("m").get(pl.len() // 2),  # an evaluated rate: exact counts
            rate_lo=pl.col("rate").min(),
            rate_hi=pl.col("rate").max(),
            m_lo=pl.col("m").min(),
            m_hi=pl.col("m").max(),
        )
        tried = scored.select("pool", "m", "rate")
        state = (
            found.select(
                "pool",
                m=(pl.col("m_lo") - 1).clip(lower_bound=0),
                m2=(pl.col("m_hi") + 1).clip(upper_bound=points - 1),
            )
            .join(tried.rename({"rate": "lo"}), on=["pool", "m"])
            .join(tried.rename({"rate": "hi", "m": "m2"}), on=["pool", "m2"])
            .select("pool", "lo", "hi", k=pl.lit(0, pl.Int64))
        )
    return found.select(
        "pool",
        rate_per_s="rate",
        burst="burst",
        rate_lo="rate_lo",
        rate_hi="rate_hi",
        V="V",
        C="C",
    )


def _prefer_hints(
    prepared: pl.DataFrame, chosen: pl.DataFrame, hints: pl.DataFrame
) -> pl.DataFrame:
    """Take a header-declared rate (and burst) when it errs no more than the fit."""
    tries = (
        hints.select("pool", pl.col("rate").cast(pl.Float64), pl.col("burst").cast(pl.Int64))
        .unique("pool", keep="first")
        .join(chosen.select("pool", fit_burst=pl.col("burst").cast(pl.Int64)), on="pool")
        .with_columns(burst=pl.col("burst").fill_null(pl.col("fit_burst")))
    )
    tries = pl.concat(
        [tries.with_columns(c=pl.lit(0)), tries.with_columns(c=pl.lit(1), burst="fit_burst")]
    ).select("pool", "c", "rate", pl.col("burst").cast(pl.Int64))
    sub = prepared.filter(pl.col("pool").is_in(tries["pool"].implode()))
    scored = (
        tries.join(candidate_counts(sub, tries), on=["pool", "c"])
        .sort("pool", pl.col("V") + pl.col("C"), "c")
        .group_by("pool", maintain_order=True)
        .first()
        .select("pool", h_rate="rate", h_burst="burst", h_V="V", h_C="C")
    )
    take = (pl.col("h_V") + pl.col("h_C") <= pl.col("V") + pl.col("C")).fill_null(False)
    return (
        chosen.join(scored, on="pool", how="left")
        .with_columns(
            rate_per_s=pl.when(take).then("h_rate").otherwise("rate_per_s"),
            burst=pl.when(take).then("h_burst").otherwise("burst"),
            V=pl.when(take).then("h_V").otherwise("V"),
            C=pl.when(take).then("h_C").otherwise("C"),
        )
        .drop("h_rate", "h_burst", "h_V", "h_C")
    )


def _empty() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "pool": pl.Int64,
            "rate_per_s": pl.Float64,
            "burst": pl.Int64,
            "rate_lo": pl.Float64,
            "rate_hi": pl.Float64,
            "accepted": pl.Int64,
            "limited": pl.Int64,
            "agree_accepted": pl.Int64,
            "agree_limited": pl.Int64,
        }
    )
