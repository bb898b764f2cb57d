"""Judge recorded requests against candidate token buckets, many candidates per pass.

The model is :class:`understudy.ratelimit.TokenBucket` (GCRA, starts full, a limited request
takes no token). Its state after the accepted requests ``a_1 < ... < a_k`` of a key is known
from the tape alone, so every request can be judged on its own: at rate ``r`` the request at
``t`` conforms iff ``burst >= B(r)`` with

    ``B(r) = k + 2 - r*t + max_{j <= k} (r*a_j - j)``

(:func:`min_burst`, a running maximum). ``B`` falls as ``r`` grows, so for a fixed burst the
number of accepted requests the bucket would have refused (``V``) only falls with the rate
and the number of limited requests it would have let through (``C``) only grows: the search
in :mod:`analysis.http.bucket_search` relies on that.

Candidates are evaluated *wide*: one column per candidate rate, shared partitions, so a pass
costs one scan of the rows whatever the number of pools.
"""

from __future__ import annotations

import polars as pl

__all__ = ["LEVELS", "candidate_counts", "candidate_extremes", "min_burst", "prepare"]

CAP = 1_000_000  # bursts are clipped here; needing more than this means "never conforms"
SAMPLE = 1_000  # rows per pool and side on which quantiles are read
EPS = 1e-9


def _col(c: str | pl.Expr) -> pl.Expr:
    return pl.col(c) if isinstance(c, str) else c


def min_burst(
    t: str | pl.Expr, accepted: str | pl.Expr, rate: str | pl.Expr, *, over: list[str]
) -> pl.Expr:
    """The smallest burst for which each request conforms, at ``rate`` (per ``over`` key).

    Rows must be in time order within each key; ``accepted`` marks the requests that took a
    token (all but the limited ones). ``-inf`` when the bucket is surely full.

    Examples
    --------
    >>> df = pl.DataFrame({"k": 1, "t": [0.0, 0.0, 0.0, 1.0],
    ...                    "acc": [True, True, False, True], "r": 1.0})
    >>> df.select(min_burst("t", "acc", "r", over=["k"])).to_series().to_list()
    [1.0, 2.0, 3.0, 2.0]
    """
    acc, tt, r = _col(accepted), _col(t), _col(rate)
    rank = acc.cast(pl.Int64).cum_sum()
    before = rank - acc.cast(pl.Int64)
    term = pl.when(acc).then(r * tt - rank.cast(pl.Float64)).otherwise(float("-inf"))
    return (before.cast(pl.Float64) + 2.0 - r * tt + term.cum_max()).over(over).alias("min_burst")


def prepare(rows: pl.LazyFrame | pl.DataFrame) -> pl.DataFrame:
    """Sort ``pool, key, t, limited`` rows by key and time; add the accepted ranks.

    ``_rank`` counts accepted requests up to and including the row, ``_before`` before it.
    ``_sample`` marks an evenly spread subset of at most :data:`SAMPLE` accepted and as many
    limited requests per pool: quantiles are read on it (max and min on every row).

    Examples
    --------
    >>> rows = pl.DataFrame({"pool": 0, "key": [1, 0, 0], "t": [0.0, 2.0, 1.0],
    ...                      "limited": [False, False, True]})
    >>> prepare(rows).select("key", "t", "_rank", "_before").rows()
    [(0, 1.0, 0.0, 0.0), (0, 2.0, 1.0, 0.0), (1, 0.0, 1.0, 0.0)]
    """
    accepted = ~pl.col("limited")
    stride = (pl.len().over("pool", "limited") / SAMPLE).ceil().cast(pl.Int64)
    return (
        rows.lazy()
        .select("pool", "key", pl.col("t").cast(pl.Float64), "limited")
        .sort("key", "t", maintain_order=True)
        .with_columns(_rank=accepted.cast(pl.Int64).cum_sum().over("key").cast(pl.Float64))
        .with_columns(
            _before=pl.col("_rank") - accepted.cast(pl.Float64),
            _sample=pl.int_range(pl.len()).over("pool", "limited") % stride == 0,
        )
        .collect()
    )


def _bound(i: int) -> pl.Expr:
    """``B`` at candidate ``i``'s rate (column ``_r{i}``), for prepared rows."""
    r, t = pl.col(f"_r{i}"), pl.col("t")
    term = pl.when(~pl.col("limited")).then(r * t - pl.col("_rank")).otherwise(float("-inf"))
    return pl.col("_before") + 2.0 - r * t + term.cum_max().over("key")


def _widen(prepared: pl.DataFrame, cands: pl.DataFrame, columns: list[str]) -> pl.LazyFrame:
    """Join each row with its pool's candidates as columns ``_r0.._rN`` (and ``_b0..``)."""
    n = int(cands["c"].max()) + 1  # type: ignore[arg-type]
    per_pool = cands.lazy().sort("pool", "c").group_by("pool").agg(pl.col(columns))
    wide = per_pool.select(
        "pool",
        *(pl.col(col).list.get(i).alias(f"_{col[0]}{i}") for col in columns for i in range(n)),
    )
    return prepared.lazy().join(wide, on="pool", maintain_order="left")


def candidate_counts(prepared: pl.DataFrame, cands: pl.DataFrame) -> pl.DataFrame:
    """Disagreements of each ``(pool, c, rate, burst)`` candidate with the recorded decisions.

    Every pool must list the same candidate indexes ``c`` (0..n-1). Returns ``pool, c, V, C``:
    ``V`` accepted requests the bucket would have limited, ``C`` limited ones it would have
    let through.

    Examples
    --------
    >>> rows = prepare(pl.DataFrame({"pool": 0, "key": 0, "t": [0.0, 0.0, 0.0],
    ...                              "limited": [False, False, True]}))
    >>> cands = pl.DataFrame({"pool": 0, "c": [0, 1], "rate": 1.0, "burst": [2, 3]})
    >>> candidate_counts(rows, cands).rows()
    [(0, 0, 0, 0), (0, 1, 0, 1)]
    """
    if cands.is_empty():  # no candidate to judge
        return pl.DataFrame(
            schema={"pool": cands.schema["pool"], "c": pl.Int64, "V": pl.UInt32, "C": pl.UInt32}
        )
    n = int(cands["c"].max()) + 1  # type: ignore[arg-type]
    acc, lim = ~pl.col("limited"), pl.col("limited")
    conform = [((_bound(i) - EPS) <= pl.col(f"_b{i}")).alias(f"_ok{i}") for i in range(n)]
    counts = (
        _widen(prepared, cands, ["rate", "burst"])
        .with_columns(conform)
        .group_by("pool")
        .agg(
            *((acc & ~pl.col(f"_ok{i}")).sum().alias(f"V{i}") for i in range(n)),
            *((lim & pl.col(f"_ok{i}")).sum().alias(f"C{i}") for i in range(n)),
        )
        .collect()
    )
    return (
        counts.unpivot(index="pool", variable_name="name", value_name="n")
        .with_columns(kind=pl.col("name").str.head(1), c=pl.col("name").str.tail(-1).cast(pl.Int64))
        .pivot(on="kind", index=["pool", "c"], values="n")
        .select("pool", "c", pl.col("V").cast(pl.Int64), pl.col("C").cast(pl.Int64))
        .sort("pool", "c")
    )


#: Outlier shares at which :func:`candidate_extremes` reads the needed bursts.
LEVELS = (0.0, 0.01, 0.05, 0.25)


def candidate_extremes(
    prepared: pl.DataFrame, cands: pl.DataFrame, *, exact_only: bool = False
) -> pl.DataFrame:
    """Per ``(pool, c, rate)`` candidate: the burst accepted requests need and the burst
    limited ones exceed, ignoring each share of outliers in :data:`LEVELS`.

    Returns ``pool, c, U0.., L0..``: ``U{i}`` is the ``1 - LEVELS[i]`` quantile of ``B`` over
    accepted requests, ``L{i}`` the ``LEVELS[i]`` quantile over limited ones (level 0: max
    and min). A bucket with burst ``b`` at that rate fits all but about
    ``LEVELS[i] * accepted + LEVELS[j] * limited`` requests iff ``U{i} <= b < L{j}``. Limited
    requests with no accepted one before them (``B = -inf``) are left out. ``exact_only``
    reads level 0 only (max and min are much cheaper than quantiles) and copies it to the
    other levels.

    Examples
    --------
    >>> rows = prepare(pl.DataFrame({"pool": 0, "key": 0, "t": [0.0, 0.0, 0.0],
    ...                              "limited": [False, False, True]}))
    >>> cands = pl.DataFrame({"pool": 0, "c": [0], "rate": 1.0})
    >>> candidate_extremes(rows, cands).select("U0", "L0").rows()
    [(2.0, 3.0)]
    >>> candidate_extremes(rows, cands.clear()).height
    0
    """
    if cands.is_empty():  # every pool was set aside (e.g. all are hard): nothing to read
        columns = [f"{side}{k}" for k in range(len(LEVELS)) for side in ("U", "L")]
        return pl.DataFrame(
            schema={
                "pool": cands.schema["pool"],
                "c": pl.Int64,
                **dict.fromkeys(columns, pl.Float64),
            }
        )
    n = int(cands["c"].max()) + 1  # type: ignore[arg-type]
    acc, lim = ~pl.col("limited"), pl.col("limited")
    bounds = [_bound(i).alias(f"_B{i}") for i in range(n)]
    aggs = []
    for i in range(n):
        b = pl.col(f"_B{i}")
        ub = pl.when(acc).then(b)
        lb = pl.when(lim & b.is_finite()).then(b)
        aggs += [ub.max().alias(f"U0x{i}"), lb.min().alias(f"L0x{i}")]
        uq, lq = pl.when(pl.col("_sample")).then(ub), pl.when(pl.col("_sample")).then(lb)
        for k, q in enumerate(LEVELS[1:], 1):
            if exact_only:
                aggs += [ub.max().alias(f"U{k}x{i}"), lb.min().alias(f"L{k}x{i}")]
            else:
                aggs += [uq.quantile(1.0 - q).alias(f"U{k}x{i}"), lq.quantile(q).alias(f"L{k}x{i}")]
    wide = _widen(prepared, cands, ["rate"]).with_columns(bounds).group_by("pool").agg(aggs)
    fills = [
        pl.col(f"{side}{k}").fill_null(fill)
        for k in range(len(LEVELS))
        for side, fill in (("U", float("-inf")), ("L", float("inf")))
    ]  # no accepted request: nothing is needed; no limited one: nothing is exceeded
    return (
        wide.collect()
        .unpivot(index="pool", variable_name="name", value_name="v")
        .with_columns(
            kind=pl.col("name").str.split("x").list.first(),
            c=pl.col("name").str.split("x").list.last().cast(pl.Int64),
        )
        .pivot(on="kind", index=["pool", "c"], values="v")
        .select("pool", "c", *fills)
        .sort("pool", "c")
    )
