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
"""

from __future__ import annotations

import polars as pl

from analysis.http.bucket_fit import candidate_counts, prepare
from analysis.http.bucket_locate import grid, locate, rate_bounds

__all__ = ["fit_buckets"]


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
    prepared = prepare(rows)
    bounds = rate_bounds(prepared)
    if bounds.is_empty():
        return _empty()
    located = locate(
        prepared, bounds, beam=beam, points=points, rounds=rounds, keep=keep, robust=robust
    )
    best = _narrow(prepared, located, points, 2)
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
    if hint_rates is not None and not hint_rates.is_empty():
        chosen = _prefer_hints(prepared, chosen, hint_rates)
    return (
        bounds.select("pool", "accepted", "limited")
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
