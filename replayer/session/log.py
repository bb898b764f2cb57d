"""What a session served, kept off the hot path: counters and a pending list, nothing more.

Front doors call :meth:`Session.note` once per request after answering (or failing to). It
bumps a few counters and, when a session tape is written, appends the raw request and
decision to a list that :class:`~replayer.session.tape.SessionTape` drains in a thread.
The report (:mod:`replayer.session.report`) is computed from these at the end.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from replayer.core.types import Decision, Request, StoredResponse

__all__ = ["MAX_MISS_KEYS", "Instant", "Outcome", "Served", "Session"]

#: Distinct missed requests kept with their candidates (the rest are only counted).
MAX_MISS_KEYS: Final = 1000
_MAX_SAMPLES: Final = 100_000

#: How an exchange ended: answered; the client left first; closed unanswered (a timeout
#: fault); reset (a reset fault); answered by the real upstream (--on-miss forward); the
#: forward failed.
Outcome = Literal["served", "client_gone", "closed", "reset", "forwarded", "forward_failed"]


@dataclass(frozen=True, slots=True)
class Served:
    """One exchange for the session tape: the request, the decision and what was sent."""

    request: Request
    decision: Decision
    started_wall: float
    duration_s: float
    outcome: Outcome
    response: StoredResponse | None
    error: str | None
    server_addr: str | None = None


RouteKey = tuple[str, str, str | None]
#: ``(route key, match kind, status sent or None)``
Tally = tuple[RouteKey, str, int | None]
_ANSWERED: Final = frozenset({"served", "forwarded", "forward_failed"})
_PLAIN: Final = frozenset({"exact", "route"})


class Instant:
    """How often answers of one tally were served at once (see :meth:`Session.instant`)."""

    __slots__ = ("identity", "n", "rkey", "samples", "tally", "unknown")

    def __init__(self, tally: Tally, identity: str | None, unknown: bool) -> None:
        self.tally = tally
        self.rkey = tally[0]
        self.identity = identity
        self.unknown = unknown  # the identity is in no recorded class: counted per identity
        self.samples: list[float] | None = None  # the route's latency samples until thinned
        self.n = 0


@dataclass
class Session:
    """Counters and samples of one replay session.

    ``counts[outcome][(route, match kind, status)]`` counts exchanges: everything the report
    tabulates is summed from it at the end, so :meth:`note` does two dict lookups and no
    allocation on the common path (the key is the decision's precomputed ``tally``).
    :meth:`note_instant` bumps an :class:`Instant` instead, added to the counts when they
    are read.
    """

    keep_exchanges: bool = False
    started_wall: float = field(default_factory=time.time)
    ended_wall: float | None = None
    _counts: dict[str, dict[Tally, int]] = field(default_factory=dict, init=False, repr=False)
    latencies: dict[RouteKey, list[float]] = field(default_factory=dict)
    seen: dict[RouteKey, int] = field(default_factory=dict)
    strides: dict[RouteKey, int] = field(default_factory=dict)
    misses: dict[tuple[str, ...], dict[str, Any]] = field(default_factory=dict)
    misses_dropped: int = 0
    limited: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    limits_seen: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)
    refused: Counter[tuple[str, str, str, str, int]] = field(default_factory=Counter)
    faults: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    _unknown: Counter[str | None] = field(default_factory=Counter, init=False, repr=False)
    unknown_class: dict[str | None, str] = field(default_factory=dict)
    pending: list[Served] = field(default_factory=list)
    _instants: dict[tuple[Tally, str | None, bool], Instant] = field(
        default_factory=dict, init=False, repr=False
    )

    @property
    def counts(self) -> dict[str, dict[Tally, int]]:
        """``counts[outcome][(route, match kind, status)]``: exchanges noted."""
        self._fold()
        return self._counts

    @property
    def unknown(self) -> Counter[str | None]:
        """Requests per identity pseudonym in no recorded class (None: no identity)."""
        self._fold()
        return self._unknown

    @property
    def requests(self) -> int:
        return sum(sum(per.values()) for per in self.counts.values())

    def note(
        self,
        request: Request,
        decision: Decision,
        arrived: float,
        done: float,
        outcome: Outcome = "served",
        *,
        response: StoredResponse | None = None,
        error: str | None = None,
        server_addr: str | None = None,
    ) -> None:
        """Account for one exchange (monotonic ``arrived``/``done``); O(1), no IO."""
        facts = decision.facts
        kind = decision.kind
        sent = response if response is not None else decision.response
        answered = sent is not None and outcome in _ANSWERED
        if answered and response is None:
            tally = decision.tally
        else:
            tally = (facts.route_key, kind, sent.status if answered and sent else None)
        per = self._counts.get(outcome)
        if per is None:
            per = self._counts[outcome] = {}
        per[tally] = per.get(tally, 0) + 1
        if answered:
            rkey = facts.route_key
            samples = self.latencies.get(rkey)
            if samples is not None and (not self.strides or rkey not in self.strides):
                samples.append((done - arrived) * 1000.0)
                if len(samples) >= _MAX_SAMPLES:
                    self._thin(rkey)
            else:
                self._sample(rkey, (done - arrived) * 1000.0)
        if not facts.identity_known:
            self._unknown[facts.identity] += 1
            self.unknown_class.setdefault(facts.identity, facts.identity_class)
        if kind not in _PLAIN:
            self._special(decision, outcome)
        if self.keep_exchanges:
            started = time.time() - (done - arrived)
            self.pending.append(
                Served(
                    request, decision, started, done - arrived, outcome, sent, error, server_addr
                )
            )

    def instant(self, decision: Decision) -> Instant:
        """A counter for :meth:`note_instant`: ``decision`` (exact or route, with a response,
        noted once already) answered again, unchanged, the moment it arrived. Decisions of
        one tally and identity share a counter, so there are no more counters than that."""
        facts = decision.facts
        unknown = not facts.identity_known
        key = (decision.tally, facts.identity if unknown else None, unknown)
        inst = self._instants.get(key)
        if inst is None:
            inst = self._instants[key] = Instant(decision.tally, key[1], unknown)
            if inst.rkey not in self.strides:
                inst.samples = self.latencies[inst.rkey]
        return inst

    def note_instant(self, inst: Instant) -> None:
        """:meth:`note` of ``inst.decision`` served with no delay, in a few operations (the
        reverse server's fast lane; no session tape is written). Counts are added to
        :attr:`counts` and :attr:`unknown` when those are read; latency samples at once."""
        inst.n += 1
        samples = inst.samples
        if samples is not None:
            samples.append(0.0)
            if len(samples) >= _MAX_SAMPLES:
                self._thin(inst.rkey)
        else:
            self._sample(inst.rkey, 0.0)

    def _fold(self) -> None:
        """Add the instant counters to the counts."""
        per = self._counts.get("served")
        for inst in self._instants.values():
            n = inst.n
            if n:
                inst.n = 0
                if per is None:
                    per = self._counts["served"] = {}
                per[inst.tally] = per.get(inst.tally, 0) + n
                if inst.unknown:
                    self._unknown[inst.identity] += n

    def _sample(self, rkey: RouteKey, value: float) -> None:
        """Keep every ``stride``-th served latency of a thinned route."""
        samples = self.latencies.get(rkey)
        if samples is None:
            self.latencies[rkey] = [value]
            return
        seen = self.seen[rkey] = self.seen.get(rkey, 0) + 1
        if seen % self.strides[rkey] == 0:
            samples.append(value)
            if len(samples) >= _MAX_SAMPLES:
                self._thin(rkey)

    def _thin(self, rkey: RouteKey) -> None:
        """:data:`_MAX_SAMPLES` kept: keep every other one and double the stride, so the
        samples stay bounded and evenly spread over the whole session."""
        del self.latencies[rkey][1::2]
        self.strides[rkey] = self.strides.get(rkey, 1) * 2
        self.seen[rkey] = 0
        for inst in self._instants.values():
            if inst.rkey == rkey:
                inst.samples = None  # thinned: every sample goes through the stride

    def _special(self, decision: Decision, outcome: Outcome) -> None:
        facts = decision.facts
        kind = decision.kind
        if kind == "miss":
            self._miss(decision, outcome)
        elif kind == "limited":
            limit = decision.details.get("limit", {})
            lkey = (facts.host, str(limit.get("route")), facts.identity_class, str(facts.route))
            self.limited[lkey] += 1
            self.limits_seen.setdefault(lkey, dict(limit))
        elif kind == "refused":
            status = decision.status or 0
            self.refused[(facts.host, facts.method, str(facts.route), facts.identity_class,
                          status)] += 1  # fmt: skip
        elif kind == "fault":
            fault = str(decision.details.get("fault"))
            self.faults[(facts.host, facts.method, str(facts.route), fault)] += 1

    def _miss(self, decision: Decision, outcome: Outcome) -> None:
        f = decision.facts
        key = (f.method, f.host, f.path, f.query, f.body_key)
        entry = self.misses.get(key)
        if entry is None:
            if len(self.misses) >= MAX_MISS_KEYS:
                self.misses_dropped += 1
                return
            entry = self.misses[key] = {
                "method": f.method, "host": f.host, "path": f.path, "query": f.query,
                "body_key": f.body_key, "route": f.route, "count": 0, "forwarded": 0,
                "reason": decision.details.get("reason"),
                "nearest": decision.details.get("nearest", []),
            }  # fmt: skip
        entry["count"] += 1
        if outcome in ("forwarded", "forward_failed"):
            entry["forwarded"] += 1

    def take_pending(self) -> list[Served]:
        """Hand the exchanges noted since the last call to the tape writer."""
        batch, self.pending = self.pending, []
        return batch
