"""Locate, per pool, the rates and bursts worth a fine search: branch and bound on the rate.

``U(r)`` (the burst the accepted requests need at rate ``r``) and ``L(r)`` (the burst the
limited ones exceed) both fall as ``r`` grows (:func:`analysis.http.bucket_fit.min_burst`).
So over a bracket ``[lo, hi]`` of rates, a burst ``b`` with ``U(hi) <= b < L(lo)`` is needed
for any exact fit, and ``U(lo) <= b < L(hi)`` makes every rate of the bracket fit exactly.
Read at several outlier shares (:data:`analysis.http.bucket_fit.LEVELS`), these give a
lower and an upper bound of the error each bracket can reach. Starting from a log grid
between ``0.5 / span`` and twice a robust upper bound of the rate (a limited request ``g`` s
after the last accepted one proves ``rate < 1/g``), each round splits the ``beam`` best
brackets of every pool and keeps the best pieces, until they are narrow enough that the
rate's error costs under 0.1 token over the pool's span, or a piece fits throughout.

Accepted sequences of a saturated client pin the rate to a tiny fraction of a percent (a
wrong rate drifts by ``error * rate * duration`` tokens), so a plain grid search misses the
answer; the bounds never do.
"""

from __future__ import annotations

import math

import polars as pl

from analysis.http.bucket_fit import CAP, EPS, LEVELS, candidate_extremes

__all__ = ["grid", "locate", "rate_bounds"]

_GRID_PER_DECADE = 6
_PRECISION = 1e-4  # brackets narrower than this (relative) are precise enough, or narrower


def rate_bounds(prepared: pl.DataFrame) -> pl.DataFrame:
    """Per pool: evidence counts, ``span`` (s) and the range of rates to search, ``lo..hi``.

    Examples
    --------
    >>> from analysis.http.bucket_fit import prepare
    >>> rows = prepare(pl.DataFrame({"pool": 0, "key": 0, "t": [0.0, 0.1, 0.2, 9.0],
    ...                              "limited": [False, False, True, False]}))
    >>> rate_bounds(rows).select("accepted", "limited", "span", "lo", "hi").row(0)
    (3, 1, 9.0, 0.05555555555555555, 20.0)
    """
    limited = pl.col("limited")
    prev_accepted = pl.when(~limited).then(pl.col("t")).forward_fill().over("key")
    gap = (pl.col("t") - prev_accepted).clip(lower_bound=1e-6)
    return (
        prepared.lazy()
        .with_columns(inv_gap=pl.when(limited).then(1.0 / gap))
        .group_by("pool")
        .agg(
            accepted=(~limited).sum().cast(pl.Int64),
            limited=limited.sum().cast(pl.Int64),
            span=(pl.col("t").max() - pl.col("t").min()).clip(lower_bound=1.0),
            upper=pl.col("inv_gap").quantile(0.1),
        )
        .with_columns(lo=0.5 / pl.col("span"))
        .with_columns(hi=pl.max_horizontal(2.0 * pl.col("upper").fill_null(1.0), pl.col("lo") * 10))
        .sort("pool")
        .collect()
    )


def grid(ranges: pl.DataFrame, n: int, extra: list[str] | None = None) -> pl.DataFrame:
    """``n`` log-spaced rates per row of ``ranges`` (``lo``, ``hi``), indexed ``m``.

    Examples
    --------
    >>> grid(pl.DataFrame({"pool": 0, "lo": 1.0, "hi": 100.0}), 3)["rate"].to_list()
    [1.0, 10.0, 100.0]
    """
    keep = ["pool", *(extra or [])]
    return (
        ranges.with_columns(m=pl.int_ranges(0, n))
        .explode("m")
        .with_columns(
            rate=pl.col("lo") * (pl.col("hi") / pl.col("lo")) ** (pl.col("m") / (n - 1)),
            step=(pl.col("hi") / pl.col("lo")) ** (1.0 / (n - 1)),
        )
        .select(*keep, "m", "rate", "step")
    )


def _points(state: pl.DataFrame, n: int) -> pl.DataFrame:
    """``n`` log-spaced rates across each ``(pool, j)`` bracket; candidate index ``c``."""
    return grid(state, n, ["j"]).with_columns(c=pl.col("j") * n + pl.col("m"))


def _need(u: str) -> pl.Expr:
    return (pl.col(u) - EPS).ceil().clip(lower_bound=1.0)


def _room(x: str) -> pl.Expr:
    return ((pl.col(x) - EPS).ceil() - 1.0).clip(upper_bound=float(CAP))


def _extremes(
    prepared: pl.DataFrame, cands: pl.DataFrame, hard: pl.Series | None
) -> tuple[pl.DataFrame, pl.Series]:
    """:func:`candidate_extremes`, with quantiles only for *hard* pools: those where no bucket
    fits exactly. ``hard=None``: find them (max and min first, quantiles where needed)."""
    if hard is None:
        ext = candidate_extremes(prepared, cands, exact_only=True)
        step = ext.sort("pool", "c").with_columns(
            fits=(_need("U0").shift(-1) <= _room("L0")).over("pool")
        )
        hard = step.group_by("pool").agg(pl.col("fits").any()).filter(~pl.col("fits"))["pool"]
    else:
        some = pl.col("pool").is_in(hard.implode())
        ext = candidate_extremes(prepared.filter(~some), cands.filter(~some), exact_only=True)
    if hard.is_empty():
        return ext, hard
    some = pl.col("pool").is_in(hard.implode())
    rest = candidate_extremes(prepared.filter(some), cands.filter(some))
    if ext.is_empty():
        return rest.sort("pool", "c"), hard
    merged = pl.concat([ext.filter(~some), rest.select(ext.columns)]).sort("pool", "c")
    return merged, hard


def _bracket_round(
    prepared: pl.DataFrame,
    state: pl.DataFrame,
    counts: pl.DataFrame,
    n: int,
    beam: int,
    hard: pl.Series | None = None,
) -> tuple[pl.DataFrame, pl.Series]:
    """Split each bracket in ``n - 1``; keep the ``beam`` most promising pieces per pool.

    ``U`` and ``L`` fall with the rate. With ``U_i``/``L_j`` read ignoring shares ``q_i`` of
    accepted and ``q_j`` of limited requests (:data:`LEVELS`), a piece ``[lo, hi]`` can
    hold a bucket erring on about ``q_i*accepted + q_j*limited`` requests only if some burst
    has ``U_i(hi) <= b < L_j(lo)``: the least such cost is the piece's bound ``lb``; and every
    rate of the piece does that well if ``U_i(lo) <= b < L_j(hi)``: the least such cost is
    ``ub``. Pieces rank by ``lb``, then ``ub``, then by how far the cheapest combination is
    from holding over the whole piece; ``strong`` when ``ub == lb`` (nothing left to gain by
    splitting). ``b_lo..b_hi`` are the bursts of the cheapest combination.
    """
    pts = _points(state, n)
    ext, hard = _extremes(prepared, pts.select("pool", "c", "rate"), hard)
    pts = pts.join(ext, on=["pool", "c"])
    levels = range(len(LEVELS))
    lo = pts.filter(pl.col("m") < n - 1).select(
        "pool", "j", "m", lo="rate", **{f"{s}{k}_lo": f"{s}{k}" for k in levels for s in "UL"}
    )
    hi = pts.select(
        "pool", "j", m=pl.col("m") - 1, hi="rate",
        **{f"{s}{k}_hi": f"{s}{k}" for k in levels for s in "UL"},
    )  # fmt: skip
    pieces = lo.join(hi, on=["pool", "j", "m"]).join(counts, on="pool")
    combos = []
    for i in levels:
        for j in levels:
            cost = LEVELS[i] * pl.col("accepted") + LEVELS[j] * pl.col("limited")
            combos.append(
                pieces.select(
                    "pool", "j", "m",
                    cost=cost,
                    b_lo=_need(f"U{i}_hi"), b_hi=_room(f"L{j}_lo"),
                    s_lo=_need(f"U{i}_lo"), s_hi=_room(f"L{j}_hi"),
                )
            )  # fmt: skip
    long = pl.concat(combos)
    inf = float("inf")
    lb = (
        long.filter(pl.col("b_lo") <= pl.col("b_hi"))
        .sort("cost", "b_lo")
        .group_by("pool", "j", "m", maintain_order=True)
        .agg(
            lb=pl.col("cost").first(),
            b_lo=pl.col("b_lo").first(),
            b_hi=pl.col("b_hi").first(),
            sgap=(pl.col("s_lo") - pl.col("s_hi")).first(),
        )
    )
    ub = (
        long.filter(pl.col("s_lo") <= pl.col("s_hi"))
        .sort("cost", "s_lo")
        .group_by("pool", "j", "m", maintain_order=True)
        .agg(ub=pl.col("cost").first(), s_lo=pl.col("s_lo").first(), s_hi=pl.col("s_hi").first())
    )
    top = len(LEVELS) - 1
    ranked = (
        pieces.select("pool", "j", "m", "lo", "hi", f"U{top}_hi", f"L{top}_lo")
        .join(lb, on=["pool", "j", "m"], how="left")
        .join(ub, on=["pool", "j", "m"], how="left")
        .with_columns(
            lb=pl.col("lb").fill_null(inf),
            ub=pl.col("ub").fill_null(inf),
            gap=_need(f"U{top}_hi") - _room(f"L{top}_lo"),
            # nothing fits even ignoring the most: bursts between the loosest bounds
            b_lo=pl.col("b_lo").fill_null(
                pl.min_horizontal(_need(f"U{top}_hi"), _room(f"L{top}_lo")).clip(lower_bound=1.0)
            ),
            b_hi=pl.col("b_hi").fill_null(
                pl.max_horizontal(_need(f"U{top}_hi"), _room(f"L{top}_lo")).clip(lower_bound=1.0)
            ),
        )
        .with_columns(strong=pl.col("ub").is_finite() & (pl.col("ub") <= pl.col("lb")))
        .sort("pool", "lb", "ub", "sgap", "gap", "lo", nulls_last=True)
        .group_by("pool", maintain_order=True)
        .head(beam)
        .with_columns(j=pl.int_range(pl.len()).over("pool"))
        .select("pool", "j", "lo", "hi", "lb", "ub", "strong", "b_lo", "b_hi", "s_lo", "s_hi")
    )
    return ranked, hard


def locate(
    prepared: pl.DataFrame,
    bounds: pl.DataFrame,
    *,
    beam: int,
    points: int,
    rounds: int,
    keep: int,
    robust: bool = True,
) -> pl.DataFrame:
    """Branch and bound on the rate: per pool, up to ``keep`` bursts and a bracket each.

    ``bounds`` comes from :func:`rate_bounds`. Returns ``pool, k, b, lo, hi``.

    Examples
    --------
    >>> from analysis.http.bucket_fit import prepare
    >>> from understudy.ratelimit import simulate
    >>> times = [i * 0.05 for i in range(200)]
    >>> limited = [not ok for ok in simulate(times, rate_per_s=5.0, burst=3)]
    >>> rows = prepare(pl.DataFrame({"pool": 0, "key": 0, "t": times, "limited": limited}))
    >>> found = locate(rows, rate_bounds(rows), beam=2, points=9, rounds=10, keep=3)
    >>> found["b"].to_list(), found["lo"][0] < 5.0 < found["hi"][0]
    ([3], True)
    """
    decades = float((bounds["hi"] / bounds["lo"]).log10().max() or 1.0)  # type: ignore[arg-type]
    n0 = min(40, max(8, math.ceil(_GRID_PER_DECADE * decades) + 1))
    counts = bounds.select("pool", "accepted", "limited")
    start = bounds.select("pool", "lo", "hi", j=pl.lit(0))
    no_pools = pl.Series("pool", [], dtype=prepared.schema["pool"])
    state, hard = _bracket_round(prepared, start, counts, n0, beam, None if robust else no_pools)
    # precise enough: the bracket's width costs under 0.1 token over the pool's span
    target = bounds.select(
        "pool", tol=(0.1 / (pl.col("hi") * pl.col("span"))).clip(upper_bound=_PRECISION)
    )
    for _ in range(rounds):
        open_ = state.join(target, on="pool").filter(
            (pl.col("j") == 0)
            & ~pl.col("strong")
            & (pl.col("hi") / pl.col("lo") > 1.0 + pl.col("tol"))
        )
        if open_.is_empty():
            break
        state, hard = _bracket_round(prepared, _pad_beam(state, beam), counts, points, beam, hard)
    best = state.filter(pl.col("j") == 0)
    b_lo = pl.when("strong").then("s_lo").otherwise("b_lo")
    b_hi = pl.when("strong").then("s_hi").otherwise("b_hi")
    b_hi = pl.min_horizontal(b_hi, b_lo + 4 * keep)  # unbounded above: stay near the floor
    width = pl.col("hi") / pl.col("lo")
    return (
        best.with_columns(b_lo=b_lo, b_hi=b_hi)
        .with_columns(
            b=pl.concat_list(
                "b_lo", ((pl.col("b_lo") + pl.col("b_hi")) / 2).floor(), "b_hi"
            ).list.unique(maintain_order=True)
        )
        .explode("b")
        .with_columns(k=pl.int_range(pl.len()).over("pool"))
        .filter(pl.col("k") < keep)
        .select(
            "pool",
            "k",
            pl.col("b").cast(pl.Int64),
            lo=pl.col("lo") / width,
            hi=pl.col("hi") * width,
        )
    )


def _pad_beam(state: pl.DataFrame, beam: int) -> pl.DataFrame:
    """Give every pool ``beam`` brackets (repeating its best) so columns line up."""
    pools = state.select("pool").unique()
    full = pools.join(pl.DataFrame({"j": range(beam)}), how="cross")
    return (
        full.join(state.select("pool", "j", "lo", "hi"), on=["pool", "j"], how="left")
        .sort("pool", "j")
        .with_columns(pl.col("lo", "hi").fill_null(strategy="forward").over("pool"))
    )
