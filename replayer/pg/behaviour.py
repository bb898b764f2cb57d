"""The behaviour core: a statement and its parameters in, an answer and a delay out. No IO.

:meth:`Behaviour.plans` turns query text into :class:`Plan` s (one per statement: its
fingerprint and literal values, the world's entry for it, or its native handling), cached by
text. :meth:`Behaviour.answer` then picks what the world answers for one execution:

- ``exact``: a result recorded for this fingerprint and these parameters;
- ``approximate``: the fingerprint's most common result, for parameters never recorded;
- ``fault``: with ``--faults observed``, one of the fingerprint's recorded errors, at the
  rate it was observed;
- ``native``: a driver's housekeeping SELECT the world has no recording of;
- ``forward``: unknown, and ``--pg-on-miss forward`` says to run it on the shadow database;
- ``miss``: unknown; the result is an ErrorResponse with SQLSTATE UN001 naming the nearest
  recorded fingerprints.

Delays are drawn from the fingerprint's recorded latency histogram (``--latency recorded``).
Session-control statements (``Plan.native``) never reach :meth:`answer`: the connection runs
them against its own state.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Final, NamedTuple

from replayer.pg.driver_queries import classify_select
from replayer.pg.errors import ReplaySqlState
from replayer.pg.index import FpEntry, SqlIndex, call_key
from replayer.pg.native import Native, classify
from replayer.pg.nearmiss import NearMiss, nearest
from replayer.pg.results import Result
from replayer.pg.settings import PgReplaySettings
from understudy.pgwire import error_response
from understudy.sqlfp.lexer import Piece, split
from understudy.sqlfp.shapes import Fingerprinter, FpInfo

__all__ = ["Answer", "Behaviour", "Plan"]

_MAX_PLANS: Final = 200_000
_MAX_MISSES: Final = 10_000


class Plan(NamedTuple):
    """How one statement text is answered (params aside)."""

    piece: Piece
    info: FpInfo
    literals: tuple[str | None, ...]
    entry: FpEntry | None
    #: Session control: always answered natively, by the connection.
    native: Native | None
    #: A driver's housekeeping SELECT: answered natively when the world has no entry.
    fallback: Native | None

    @property
    def sql(self) -> str:
        return self.piece.text


class Answer(NamedTuple):
    """What one execution of a plan gets, and after how long."""

    kind: str  # exact | approximate | fault | native | forward | miss
    result: Result | None  # None for native and forward
    delay_s: float
    plan: Plan
    nearest: tuple[NearMiss, ...] = ()


class Behaviour:
    """Answers statements from a world's :class:`SqlIndex`."""

    def __init__(
        self,
        index: SqlIndex,
        settings: PgReplaySettings,
        fingerprinter: Fingerprinter | None = None,
    ) -> None:
        self.index = index
        self.settings = settings
        self.fingerprinter = fingerprinter or Fingerprinter()
        self.latency = settings.latency == "recorded"
        self.faults = settings.faults == "observed"
        self.forwarding = settings.forward_to is not None
        self._plans: dict[str, list[Plan]] = {}
        self._misses: dict[str, tuple[Result, tuple[NearMiss, ...]]] = {}
        self._near: dict[str, tuple[NearMiss, ...]] = {}

    # -- plans --------------------------------------------------------------------------------
    def plans(self, sql: str) -> list[Plan]:
        """One plan per statement of ``sql`` (cached by text)."""
        cached = self._plans.get(sql)
        if cached is not None:
            return cached
        plans = [self._plan(p) for p in split(sql)]
        cache = self._plans
        if len(cache) >= _MAX_PLANS:  # forget the older half (dicts keep insertion order)
            for key in list(itertools.islice(cache, _MAX_PLANS // 2)):
                del cache[key]
        cache[sql] = plans
        return plans

    def _plan(self, piece: Piece) -> Plan:
        native = classify(piece.keyword, piece.text)
        if native is not None:
            word = piece.keyword.lower()
            info = FpInfo(f"native:{word}", piece.keyword, word, ())
            return Plan(piece, info, (), None, native, None)
        info, literals = self.fingerprinter.analyze(piece)
        entry = self.index.get(info.fingerprint)
        fallback = classify_select(piece.text) if entry is None else None
        return Plan(piece, info, literals, entry, None, fallback)

    # -- answers ------------------------------------------------------------------------------
    def answer(self, plan: Plan, bound: Sequence[str | None] = ()) -> Answer:
        """The answer to one execution of ``plan`` with bound parameter values ``bound``."""
        entry = plan.entry
        if entry is None:
            if plan.fallback is not None:
                return Answer("native", None, 0.0, plan)
            if self.forwarding:
                return Answer("forward", None, 0.0, plan, self.near(plan.info))
            failure, near = self.miss(plan.info)
            return Answer("miss", failure, 0.0, plan, near)
        delay = entry.sample_latency_s() if self.latency else 0.0
        result = entry.lookup(call_key(bound, plan.literals))
        kind = "exact"
        if result is None and bound and plan.literals:
            # a world keyed by bound parameters only (its literals not recorded): same bound
            # values, literals unknown, so approximate, but closer than the representative
            result = entry.lookup(tuple(bound))
            kind = "approximate"
        if result is None:
            if entry.representative is None:  # listed in world.json without any result
                miss, near = self.miss(plan.info)
                return Answer("miss", miss, 0.0, plan, near)
            result = entry.representative
            kind = "approximate"
        if self.faults and result.error is None:
            fault = entry.sample_fault()
            if fault is not None:
                return Answer("fault", fault, delay, plan)
        return Answer(kind, result, delay, plan)

    def near(self, info: FpInfo) -> tuple[NearMiss, ...]:
        """The recorded fingerprints nearest to ``info`` (cached per fingerprint)."""
        cached = self._near.get(info.fingerprint)
        if cached is None:
            if len(self._near) >= _MAX_MISSES:
                self._near.clear()
            cached = self._near[info.fingerprint] = tuple(nearest(self.index, info))
        return cached

    def miss(self, info: FpInfo) -> tuple[Result, tuple[NearMiss, ...]]:
        """The UN001 error for an unrecorded fingerprint (cached per fingerprint)."""
        cached = self._misses.get(info.fingerprint)
        if cached is not None:
            return cached
        near = self.near(info)
        if near:
            detail = "Nearest recorded: " + "; ".join(n.describe() for n in near)
        else:
            detail = "The world records no SQL statements."
        error = error_response(
            ReplaySqlState.NOT_RECORDED,
            f"understudy: statement not recorded (fingerprint {info.fingerprint}): "
            f"{info.normalized[:300]}",
            detail=detail,
            hint="record this statement in production, or replay with "
            "--pg-on-miss forward:HOST:PORT to run unknown statements on a real database",
        )
        if len(self._misses) >= _MAX_MISSES:
            self._misses.clear()
        out = (Result.failure(error), near)
        self._misses[info.fingerprint] = out
        return out
