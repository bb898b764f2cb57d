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

from collections.abc import Callable

import polars as pl

__all__ = [
    "LEVELS",
    "best_bursts",
    "candidate_counts",
    "candidate_extremes",
    "min_burst",
    "prepare",
]

CAP = 1_000_000  # bursts are clipped here; needing more than this means "never conforms"
SAMPLE = 1_000  # rows per pool and side on which quantiles are read
CELLS = 16_000_000  # derived values (one per row and candidate) in one pass over the rows
EPS = 1e-9
#: ``r * gap`` below ``1 - MARGIN`` rules a row out (see :func:`prepare`); the margin keeps
#: every rule far above float rounding, so reads with and without the row are bit-equal.
MARGIN = 1e-6
#: A candidate is judged on the rows its rate cannot rule out when it rules out at least this
#: share of each pool's rows with a gap (read on the sampled rows).
SPARSE_SHARE = 0.8


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


def prepare(rows: pl.LazyFrame | pl.DataFrame, *, lean: bool = False) -> pl.DataFrame:
    """Sort ``pool, key, t, limited`` rows by key and time; add the accepted ranks.

    ``_rank`` counts accepted requests up to and including the row, ``_before`` before it.
    ``_sample`` marks an evenly spread subset of at most :data:`SAMPLE` accepted and as many
    limited requests per pool: quantiles are read on it (max and min on every row).

    ``_gap`` says which rows the max and min of ``B`` can do without: at a rate ``r`` with
    ``r * _gap < 1``, an accepted request between two accepted ones less than ``1/r`` apart
    (``_gap`` the larger gap) lies inside a run where ``B`` rises strictly, and holds neither
    the run's greatest ``B`` nor its greatest ``r*t - rank``; a limited request followed by
    another (``_gap`` 0) needs more than the last of them. Null: the row is always read.

    ``lean``: ranks only, for rows that are only counted (:func:`candidate_counts`,
    :func:`best_bursts`), never searched.

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
        .with_columns(pl.col("key").set_sorted())  # windows over keys take the sorted path
        .with_columns(_rank=accepted.cast(pl.Int64).cum_sum().over("key").cast(pl.Float64))
        .with_columns(
            _before=pl.col("_rank") - accepted.cast(pl.Float64),
            **(
                {}
                if lean
                else {
                    "_sample": pl.int_range(pl.len()).over("pool", "limited") % stride == 0,
                    "_gap": _gap(),
                }
            ),
        )
        .collect()
    )


def _gap() -> pl.Expr:
    """``_gap`` of :func:`prepare` (rows sorted by key and time)."""
    t, limited = pl.col("t"), pl.col("limited")
    accepted_t = pl.when(~limited).then(t)
    gap_in = t - accepted_t.shift(1).forward_fill().over("key")
    gap_out = accepted_t.shift(-1).backward_fill().over("key") - t
    next_limited = limited.shift(-1).over("key")  # null on a key's last row
    inner = gap_in.is_not_null() & gap_out.is_not_null() & ~next_limited
    return (
        pl.when(limited & next_limited)
        .then(0.0)
        .when(~limited & inner)
        .then(pl.max_horizontal(gap_in, gap_out))
        .otherwise(None)
        .cast(pl.Float64)
    )


def _bound(rate: pl.Expr) -> pl.Expr:
    """``B`` at a candidate's ``rate`` (an expression per row), for prepared rows."""
    t = pl.col("t")
    term = pl.when(~pl.col("limited")).then(rate * t - pl.col("_rank")).otherwise(float("-inf"))
    return pl.col("_before") + 2.0 - rate * t + term.cum_max().over("key")


class _Wide:
    """Each row's pool's candidates, a batch of candidates at a time: ``value(col, i)`` is
    column ``col`` of candidate ``i``, gathered from a per-pool array into the rows of the
    batch being judged (so at most :data:`CELLS` values per column are ever held)."""

    def __init__(self, prepared: pl.DataFrame, cands: pl.DataFrame, columns: list[str]) -> None:
        self.n = int(cands["c"].max()) + 1  # type: ignore[arg-type]
        per_pool = cands.sort("pool", "c").group_by("pool", maintain_order=True).agg(columns)
        index = pl.col("pool").replace_strict(
            per_pool["pool"], pl.int_range(per_pool.height, eager=True), default=None
        )
        rows = prepared.with_columns(index.alias("_pi"))
        if rows["_pi"].null_count():  # rows of pools without candidates are not judged
            rows = rows.filter(pl.col("_pi").is_not_null())
        self.rows = rows
        self._lists = {col: per_pool[col] for col in columns}

    def value(self, col: str, i: int) -> pl.Expr:
        return pl.col(f"_{col}{i}")

    def _gather(self, which: list[int]) -> list[pl.Expr]:
        return [
            pl.lit(values.list.get(i)).gather(pl.col("_pi")).alias(f"_{col}{i}")
            for col, values in self._lists.items()
            for i in which
        ]

    def _sparse(self) -> tuple[list[int], pl.Series | None]:
        """Candidates whose rates leave most rows out of max and min reads (``_gap`` of
        :func:`prepare`), and per pool the fastest of their rates (null: pool not judged)."""
        shares = (
            self.rows.lazy()
            .filter(pl.col("_sample") & pl.col("_gap").is_not_null())
            .group_by("_pi")
            .agg(pl.col("_gap").quantile(SPARSE_SHARE).alias("_q"))
        )
        rates = (
            pl.DataFrame({"rate": self._lists["rate"]})
            .with_row_index("_pi")
            .with_columns(pl.col("_pi").cast(pl.Int64))
            .explode("rate")
            .with_columns(c=pl.int_range(pl.len()).over("_pi"))
            .join(shares.collect(), on="_pi", how="left")
            .with_columns(few=(pl.col("rate") * pl.col("_q") < 1.0 - MARGIN).fill_null(False))
        )
        chosen = rates.group_by("c").agg(pl.col("few").all()).filter("few")["c"].sort()
        if chosen.is_empty():
            return [], None
        fastest = (
            rates.filter(pl.col("c").is_in(chosen.implode()))
            .group_by("_pi")
            .agg(pl.col("rate").max())
            .join(rates.select("_pi").unique(), on="_pi", how="right")
            .sort("_pi")["rate"]
        )
        return chosen.to_list(), fastest

    def aggs(
        self,
        derive: Callable[[int], list[pl.Expr]],
        aggs: Callable[[int], list[pl.Expr]],
        *,
        extremes: bool = False,
    ) -> pl.DataFrame:
        """Per pool, ``aggs(i)`` over the columns ``derive(i)`` adds, for every candidate;
        one pass over the rows per batch of candidates, a batch holding at most :data:`CELLS`
        derived values (the wide frame stays small whatever the tape's size).

        ``extremes``: the aggregates are max and min of ``B`` only, so the candidates of
        :meth:`_sparse` are judged together on the rows their rates cannot rule out.
        """
        groups: list[tuple[list[int], pl.DataFrame]] = []
        rest = list(range(self.n))
        if extremes and "_gap" in self.rows.columns and "rate" in self._lists:
            sparse, fastest = self._sparse()
            if fastest is not None:
                skip = pl.col("_gap") * pl.lit(fastest).gather(pl.col("_pi")) < 1.0 - MARGIN
                groups.append((sparse, self.rows.filter(~skip.fill_null(False))))
                rest = [i for i in rest if i not in set(sparse)]
        if rest:
            groups.append((rest, self.rows))
        out: pl.DataFrame | None = None
        for which, rows in groups:
            size = max(1, CELLS // max(1, rows.height))
            for lo in range(0, len(which), size):
                batch = which[lo : lo + size]
                part = (
                    rows.lazy()
                    .with_columns(self._gather(batch))
                    .with_columns(e for i in batch for e in derive(i))
                    .group_by("pool")
                    .agg(a for i in batch for a in aggs(i))
                    .collect()
                )
                out = part if out is None else out.join(part, on="pool")
        assert out is not None
        return out


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
    acc, lim = ~pl.col("limited"), pl.col("limited")
    wide = _Wide(prepared, cands, ["rate", "burst"])

    def conform(i: int) -> list[pl.Expr]:
        ok = (_bound(wide.value("rate", i)) - EPS) <= wide.value("burst", i)
        return [ok.alias(f"_ok{i}")]

    counts = wide.aggs(
        conform,
        lambda i: [
            (acc & ~pl.col(f"_ok{i}")).sum().alias(f"V{i}"),
            (lim & pl.col(f"_ok{i}")).sum().alias(f"C{i}"),
        ],
    )
    return (
        counts.unpivot(index="pool", variable_name="name", value_name="n")
        .with_columns(kind=pl.col("name").str.head(1), c=pl.col("name").str.tail(-1).cast(pl.Int64))
        .pivot(on="kind", index=["pool", "c"], values="n")
        .select("pool", "c", pl.col("V").cast(pl.Int64), pl.col("C").cast(pl.Int64))
        .sort("pool", "c")
    )


def best_bursts(prepared: pl.DataFrame, cands: pl.DataFrame) -> pl.DataFrame:
    """The burst with the fewest disagreements at each ``(pool, c, rate)`` candidate, exact.

    One pass over the rows per candidate index ``c``: each request's needed burst
    (:func:`min_burst`, rounded up) is counted per pool, and the burst that leaves the fewest
    accepted requests needing more plus limited ones needing no more wins (ties: the
    smallest). Returns ``pool, c, burst, V, C`` (as :func:`candidate_counts`).

    Examples
    --------
    >>> rows = prepare(pl.DataFrame({"pool": 0, "key": 0, "t": [0.0, 0.0, 0.0, 0.1],
    ...                              "limited": [False, False, True, True]}))
    >>> best_bursts(rows, pl.DataFrame({"pool": 0, "c": 0, "rate": 1.0})).rows()
    [(0, 0, 2, 0, 0)]
    """
    acc, lim = ~pl.col("limited"), pl.col("limited")
    need = (_bound(pl.col("_rate")) - EPS).ceil().clip(1.0, float(CAP + 1)).cast(pl.Int64)
    queries = []
    for (c,), part in cands.partition_by("c", as_dict=True, maintain_order=True).items():
        # a lookup, not a join: rows must stay in key and time order for the running max
        rate = pl.col("pool").replace_strict(
            part["pool"], part["rate"], default=None, return_dtype=pl.Float64
        )
        counts = (
            prepared.lazy()
            .with_columns(rate.alias("_rate"))
            .filter(pl.col("_rate").is_not_null())
            .group_by("pool", need.alias("burst"))
            .agg(acc=acc.sum().cast(pl.Int64), lim=lim.sum().cast(pl.Int64))
        )
        floor = part.lazy().select("pool", burst=pl.lit(1, pl.Int64), acc=0, lim=0)
        queries.append(
            pl.concat([floor, counts], how="vertical_relaxed")
            .group_by("pool", "burst")
            .agg(pl.col("acc", "lim").sum())
            .sort("pool", "burst")
            .with_columns(
                V=pl.col("acc").sum().over("pool") - pl.col("acc").cum_sum().over("pool"),
                C=pl.col("lim").cum_sum().over("pool"),
            )
            .filter(pl.col("burst") <= CAP)  # needing more: never conforms
            .sort("pool", pl.col("V") + pl.col("C"), "burst")
            .group_by("pool", maintain_order=True)
            .first()
            .select("pool", c=pl.lit(c, pl.Int64), burst="burst", V="V", C="C")
        )
    if not queries:
        return pl.DataFrame(
            schema={"pool": cands.schema["pool"], "c": pl.Int64, "burst": pl.Int64,
                    "V": pl.Int64, "C": pl.Int64}
        )  # fmt: skip
    return pl.concat(pl.collect_all(queries)).sort("pool", "c")


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
    acc, lim = ~pl.col("limited"), pl.col("limited")
    sample = pl.col("_sample")

    def aggs(i: int) -> list[pl.Expr]:
        b = pl.col(f"_B{i}")
        ub = pl.when(acc).then(b)
        lb = pl.when(lim & b.is_finite()).then(b)
        out = [ub.max().alias(f"U0x{i}"), lb.min().alias(f"L0x{i}")]
        if not exact_only:  # quantiles ignore nulls: read them on the sampled rows alone
            for k, q in enumerate(LEVELS[1:], 1):
                out += [
                    ub.filter(sample).quantile(1.0 - q).alias(f"U{k}x{i}"),
                    lb.filter(sample).quantile(q).alias(f"L{k}x{i}"),
                ]
        return out

    widen = _Wide(prepared, cands, ["rate"])
    wide = widen.aggs(
        lambda i: [_bound(widen.value("rate", i)).alias(f"_B{i}")], aggs, extremes=exact_only
    )
    if exact_only:  # level 0 stands for every level
        wide = wide.with_columns(
            pl.col(f"{side}0x{i}").alias(f"{side}{k}x{i}")
            for i in range(widen.n)
            for k in range(1, len(LEVELS))
            for side in ("U", "L")
        )
    fills = [
        pl.col(f"{side}{k}").fill_null(fill)
        for k in range(len(LEVELS))
        for side, fill in (("U", float("-inf")), ("L", float("inf")))
    ]  # no accepted request: nothing is needed; no limited one: nothing is exceeded
    return (
        wide.unpivot(index="pool", variable_name="name", value_name="v")
        .with_columns(
            kind=pl.col("name").str.split("x").list.first(),
            c=pl.col("name").str.split("x").list.last().cast(pl.Int64),
        )
        .pivot(on="kind", index=["pool", "c"], values="v")
        .select("pool", "c", *fills)
        .sort("pool", "c")
    )
