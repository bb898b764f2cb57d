"""The behaviour core: given a request and the time it arrived, what the world answers.

One seam, free of IO, shared by every front door (after httpx's transports)::

    decision = behaviour.decide(request, now)   # now: a monotonic clock, in seconds

The order of the decision is that of a production gateway:

1. key the request (identity pseudonym and class, route template and parameters, redacted
   normalized query, canonical body key), exactly as the world was built;
2. no recorded route -> **miss**;
3. ``--limits on``: a token bucket of an applicable limit is empty -> **limited** (the
   recorded limited response, ``Retry-After`` from the bucket);
4. the class is refused on the route -> **refused** (the recorded refusal);
5. ``--faults observed``: the route's observed error mix, at its observed rate -> **fault**;
6. the exact recorded exchange (its recorded sequence, then the last answer) -> **exact**;
7. the route's representative response for the class, path parameters carried -> **route**;
8. otherwise -> **miss**, status 599, naming the nearest recorded requests.

Step 1 is a pure function of the request (:meth:`Behaviour.key`), memoised per distinct
request; steps 2-8 read and update the session state (buckets, sequence cursors, random
streams). Not thread-safe: one event loop calls it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from replayer.core.answers import (
    fault_response,
    limited_response,
    miss_response,
    refused_response,
)
from replayer.core.index import exact_key, first_segment, sequence_of
from replayer.core.keying import Keyed, Keyer, header_value
from replayer.core.latency import LatencyModel, route_rng
from replayer.core.limits import Limiter
from replayer.core.model import WorldModel
from replayer.core.nearmiss import nearest
from replayer.core.substitute import BodyTemplate
from replayer.core.types import Decision, Request, RequestFacts
from understudy.matchkey import MatchKey
from understudy.redact import Redactor

__all__ = ["Behaviour", "BehaviourSettings", "Keyed"]

_MEMO_MAX: Final = 16_384
#: Observed error kinds ``--faults observed`` injects (besides ``5xx``); ``refused`` (the
#: upstream refused the connection) is served like a reset: the connection closes at once.
_INJECTED: Final = frozenset({"timeout", "reset", "refused"})
_MISS_CACHE_MAX: Final = 4096


@dataclass(frozen=True, slots=True)
class BehaviourSettings:
    """How faithfully to serve the world (validated by the CLI)."""

    latency: bool = True
    faults: bool = False
    limits: bool = True
    seed: int = 0
    fault_timeout_s: float = 10.0


class _RouteState:
    """Per-route runtime state: latency model, random streams, fault mix, body templates."""

    __slots__ = ("error_mix", "error_rows", "fault_rng", "faults", "key", "latency",
                 "latency_rng", "templates")  # fmt: skip

    def __init__(self, key: tuple[str, str, str], latency: LatencyModel, seed: int) -> None:
        self.key = key
        self.latency = latency
        self.latency_rng = route_rng(seed, "latency", *key)
        self.fault_rng = route_rng(seed, "faults", *key)
        self.faults: tuple[tuple[float, str], ...] = ()
        self.templates: dict[int, BodyTemplate] = {}
        self.error_rows: dict[int, int] = {}  # recorded 5xx status -> response row
        self.error_mix: tuple[tuple[float, int], ...] = ()  # cumulative 5xx status shares


class Behaviour:
    """Decide what the world answers."""

    def __init__(self, model: WorldModel, redactor: Redactor, settings: BehaviourSettings) -> None:
        self.model = model
        self.settings = settings
        self.keyer = Keyer(redactor, model.classes, model.default_class)
        self.limiter = Limiter(tuple(model.specs.rate_limits)) if settings.limits else None
        self._latency = settings.latency
        self._faults = settings.faults
        self._states: dict[tuple[str, str, str], _RouteState] = {}
        self._cursors: dict[tuple[str | None, ...], int] = {}
        self._memo: dict[tuple[object, ...], Keyed] = {}
        self._misses: dict[tuple[MatchKey, str | None], list[dict[str, object]]] = {}
        errors: dict[tuple[str, str, str], dict[int, int]] = {}
        for (h, m, r, status), found in model.index.by_status.items():
            if status >= 500 and found:
                errors.setdefault((h, m, r), {})[status] = next(iter(found.values()))
        for key in model.routes.templates():
            state = self._route_state(key)
            state.error_rows = errors.get(key, {})
            self._states[key] = state

    def _route_state(self, key: tuple[str, str, str]) -> _RouteState:
        spec = self.model.route_specs.get(key)
        hist = spec.histogram if spec is not None else ()
        samples = () if hist else self.model.index.durations_ms.get(key, ())
        state = _RouteState(key, LatencyModel(hist, samples), self.settings.seed)
        if spec is not None:
            total = spec.count or (sum(spec.status_counts.values()) + sum(spec.errors.values()))
            mix, acc = [], 0.0
            for kind, n in sorted(spec.errors.items()):
                if total > 0 and n and (kind in _INJECTED or kind.startswith("5")):
                    acc += n / total
                    mix.append((min(acc, 1.0), kind))
            state.faults = tuple(mix)
            five = {st: n for st, n in spec.status_counts.items() if st >= 500 and n}
            acc, shares = 0.0, []
            for st, n in sorted(five.items()):
                acc += n / sum(five.values())
                shares.append((acc, st))
            state.error_mix = tuple(shares)
        return state

    # -- step 1: keying (pure, memoised) -----------------------------------------------------
    def key(self, request: Request) -> Keyed:
        """What the request is, in the world's terms (memoised per distinct request)."""
        keyer = self.keyer
        pairs = keyer.identity_pairs(request.headers)
        body = request.body
        bkey = keyer.body(body, header_value(request.headers, "content-type")) if body else ""
        memo_key = (request.method, request.host, request.path, request.query, bkey, pairs)
        keyed = self._memo.get(memo_key)
        if keyed is None:
            keyed = self._key(request, pairs, bkey)
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[memo_key] = keyed
        return keyed

    def _key(self, request: Request, pairs: tuple[tuple[str, str], ...], bkey: str) -> Keyed:
        keyer = self.keyer
        model = self.model
        host = request.host.lower()
        method = request.method.upper()
        identity = keyer.pseudonym(pairs)
        klass, known = keyer.identity_class(identity)
        match = model.routes.match(host, method, request.path)
        rmethod = method
        if match is None and method == "HEAD":
            match, rmethod = model.routes.match(host, "GET", request.path), "GET"
        route, params = match if match is not None else (None, ())
        query = keyer.query(request.query)
        facts = RequestFacts(host, method, request.path, query, bkey, identity, klass, known,
                             route, params)  # fmt: skip
        keyed = Keyed(facts, MatchKey(method, host, request.path, query, bkey))
        if route is None:
            return keyed
        keyed.rmethod = rmethod
        keyed.state = self._states[(host, rmethod, route)]
        if self.limiter is not None:
            keyed.limits = self.limiter.applicable(host, route, klass)
        perm = model.permissions.get((host, rmethod, route, klass))
        if perm is not None and not perm.allowed:
            keyed.refuse = perm.status or 403
        entry = model.index.exact.get(exact_key(keyed.key))
        if entry is not None:
            keyed.entry_seq = sequence_of(entry, identity, klass)
            keyed.cursor = (method, host, request.path, query, bkey, identity)
        return keyed

    # -- steps 2-8: the decision -------------------------------------------------------------
    def decide(self, request: Request, now: float, keyed: Keyed | None = None) -> Decision:
        """The world's answer to ``request`` arriving at monotonic time ``now``.

        ``keyed`` is :meth:`key` of the request, when the front door already has it.
        """
        k = keyed if keyed is not None else self.key(request)
        if k.static is not None:
            return k.static
        facts = k.facts
        state: _RouteState | None = k.state
        if state is None:
            k.static = decision = self._miss(k, "no recorded route matches")
            return decision
        if k.limits and self.limiter is not None:
            hit = self.limiter.check(k.limits, facts.identity, request.client_ip, now)
            if hit is not None:
                assert facts.route is not None
                resp = limited_response(hit, self.model.index, self.model.store, facts.host,
                                        k.rmethod, facts.route, facts.identity_class)  # fmt: skip
                details = {"limit": hit.describe(), "retry_after_s": round(hit.retry_after_s, 6)}
                return Decision("limited", resp, 0.0, facts, details=details)
        # Beyond this point only random draws and sequences change an answer.
        fixed = not k.limits and not self._latency and not (self._faults and state.faults)
        if k.refuse is not None:
            assert facts.route is not None
            resp = refused_response(self.model.index, self.model.store, facts.host, k.rmethod,
                                    facts.route, k.refuse, facts.identity_class)  # fmt: skip
            decision = Decision("refused", resp, self._delay(state), facts)
        elif self._faults and state.faults and (fault := self._fault(state, facts)) is not None:
            return fault
        elif (seq := k.entry_seq) is not None:
            if len(seq) == 1:
                row = seq[0]
            else:
                n = self._cursors.get(k.cursor, 0)
                if n < len(seq):
                    self._cursors[k.cursor] = n + 1
                fixed = fixed and n >= len(seq) - 1
                row = seq[min(n, len(seq) - 1)]
            decision = Decision("exact", self.model.store.get(row), self._delay(state), facts)
        else:
            decision = self._route_answer(k, state)
        if fixed:
            k.static = decision
        return decision

    def _route_answer(self, k: Keyed, state: _RouteState) -> Decision:
        facts = k.facts
        host, rmethod, route = state.key
        reps = self.model.index.representatives
        rep = reps.get((host, rmethod, route, facts.identity_class)) or reps.get(state.key)
        if rep is None:
            return self._miss(k, "the route has no recorded answer to serve")
        response = self.model.store.get(rep.row)
        template = state.templates.get(rep.row)
        if template is None:
            recorded = self.model.routes.match(host, rmethod, rep.path)
            template = BodyTemplate(response.body, recorded[1] if recorded else ())
            state.templates[rep.row] = template
        if template.echoes:
            body = template.render(facts.params)
            if body is not response.body:
                response = response.with_changes(body=body)
        return Decision("route", response, self._delay(state), facts,
                        details={"recorded_path": rep.path})  # fmt: skip

    def _delay(self, state: _RouteState) -> float:
        if not self._latency:
            return 0.0
        return state.latency.sample_ms(state.latency_rng) / 1000.0

    def _fault(self, state: _RouteState, facts: RequestFacts) -> Decision | None:
        u = state.fault_rng.random()
        kind = next((k for edge, k in state.faults if u < edge), None)
        if kind is None:
            return None
        details = {"fault": kind}
        if kind == "timeout":
            return Decision("fault", None, self.settings.fault_timeout_s, facts, "close", details)
        if kind in ("reset", "refused"):
            return Decision("fault", None, self._delay(state), facts, "reset", details)
        if kind == "5xx" and state.error_mix:  # a 5xx status as often as it was observed
            u = state.fault_rng.random()
            kind = next((str(st) for edge, st in state.error_mix if u < edge), kind)
        resp = fault_response(kind, state.error_rows, self.model.store)
        return Decision("fault", resp, self._delay(state), facts, details=details)

    def _miss(self, k: Keyed, reason: str) -> Decision:
        key, facts = k.key, k.facts
        cache_key = (key, facts.route)
        candidates = self._misses.get(cache_key)
        if candidates is None:
            near = self.model.index.near
            pool = [
                *near.get((key.host, key.method, facts.route or ""), ()),
                *near.get((key.host, first_segment(key.path)), ()),
            ]
            if not pool:  # a few candidates of every bucket of the host, bounded
                pool = [mk for b, v in near.items() if b[0] == key.host for mk in v[:8]][:512]
            candidates = nearest(key, pool)
            if len(self._misses) >= _MISS_CACHE_MAX:
                self._misses.clear()
            self._misses[cache_key] = candidates
        resp = miss_response(key.method, key.host, key.path, key.query, key.body, facts.route,
                             reason, candidates)  # fmt: skip
        return Decision("miss", resp, 0.0, facts,
                        details={"reason": reason, "nearest": candidates})  # fmt: skip
