"""Indexes over the recorded exchanges, built once at load; every lookup is a dict access.

- ``exact``: :func:`exact_key` of a :class:`~understudy.matchkey.MatchKey` (its parts in one
  string: one small object per recorded key instead of a key object and its path) -> the
  recorded response rows in ``seq`` order (an ``int`` when the key was recorded once, else an
  :class:`ExactEntry` with per-identity and per-class sequences when several clients were
  recorded);
- ``representatives``: (host, method, route, class) and (host, method, route) -> the most
  common successful response and the path it was recorded for (to carry path parameters);
- ``by_status``: a recorded response of each status per route (and class), for refusals,
  limited answers and injected 5xx faults;
- ``near``: recorded keys bucketed by (host, method, route) and (host, first path segment),
  the only candidates a miss report ranks (never a scan of every exchange).

:mod:`replayer.core.build` fills an index in Arrow (``pyarrow.compute``); the serving process
reads one prepared in a child (:mod:`replayer.prepared`), whose ``exact`` is a
:class:`~replayer.prepared.exact.CompactExact` (a few flat arrays instead of one object per
recorded key) and never imports Arrow. Faults (an
``error``, a 5xx, no stored response) and rate-limited answers are kept out of the exact and
representative indexes: the replayer serves them only through ``--faults`` and ``--limits``,
at the rates the world observed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from understudy.matchkey import MatchKey

if TYPE_CHECKING:
    import pyarrow as pa

    from replayer.core.responses import ResponseStore

__all__ = [
    "ExactEntry",
    "ExchangeIndex",
    "Representative",
    "exact_key",
    "first_segment",
    "sequence_of",
]


def exact_key(key: MatchKey) -> str:
    """The parts of ``key`` in one string, as :attr:`ExchangeIndex.exact` is keyed.

    The separator (NUL) never occurs in a request the front doors accept (their parsers
    refuse control characters in targets), and recorded keys holding one are not indexed, so
    two different keys never share a string.

    >>> exact_key(MatchKey("GET", "api.test", "/items/1", "a=1", ""))
    'GET\\x00api.test\\x00/items/1\\x00a=1\\x00'
    """
    return f"{key.method}\0{key.host}\0{key.path}\0{key.query}\0{key.body}"


def first_segment(path: str) -> str:
    """The first segment of a path: ``/api/items/1`` -> ``api``."""
    return path.lstrip("/").split("/", 1)[0]


class ExactEntry:
    """The recorded responses (store rows) of one match key recorded more than once."""

    __slots__ = ("by_class", "by_identity", "rows")

    def __init__(
        self,
        rows: tuple[int, ...],
        by_identity: dict[str, tuple[int, ...]] | None,
        by_class: dict[str, tuple[int, ...]] | None,
    ) -> None:
        self.rows = rows
        self.by_identity = by_identity
        self.by_class = by_class

    def sequence(self, identity: str | None, identity_class: str) -> tuple[int, ...]:
        """The identity's own sequence, else its class's, else everyone's."""
        if self.by_identity is not None and identity is not None:
            own = self.by_identity.get(identity)
            if own is not None:
                return own
        if self.by_class is not None:
            cls = self.by_class.get(identity_class)
            if cls is not None:
                return cls
        return self.rows


def sequence_of(
    entry: ExactEntry | int, identity: str | None, identity_class: str
) -> tuple[int, ...]:
    """The rows a client replays for an ``exact`` index value."""
    if isinstance(entry, int):
        return (entry,)
    return entry.sequence(identity, identity_class)


@dataclass(frozen=True, slots=True)
class Representative:
    """The response a route answers when no exact exchange matches, and where it came from."""

    row: int
    path: str


@dataclass
class ExchangeIndex:
    """Everything the behaviour core looks up about recorded exchanges."""

    exact: Mapping[str, ExactEntry | int] = field(default_factory=dict)
    representatives: dict[tuple[str, ...], Representative] = field(default_factory=dict)
    by_status: dict[tuple[str, str, str, int], dict[str, int]] = field(default_factory=dict)
    host_status: dict[tuple[str, int], int] = field(default_factory=dict)
    durations_ms: dict[tuple[str, str, str], list[float]] = field(default_factory=dict)
    near: dict[tuple[str, ...], list[MatchKey]] = field(default_factory=dict)
    routes: set[tuple[str, str, str]] = field(default_factory=set)
    class_counts: Counter[str] = field(default_factory=Counter)
    exchanges: int = 0

    @classmethod
    def build(
        cls,
        table: pa.Table,
        store: ResponseStore,
        limit_statuses: Mapping[str, Collection[int]],
        histogram_routes: Collection[tuple[str, str, str]] = (),
    ) -> ExchangeIndex:
        """Index ``http_exchanges``.

        ``limit_statuses[host]`` are that host's rate-limited statuses; recorded durations
        are kept (as a latency fallback) only for routes not in ``histogram_routes``.
        """
        from replayer.core.build import build_index  # Arrow: loaded only to build

        return build_index(cls(), table, store, limit_statuses, histogram_routes)

    def responses_with_status(
        self, host: str, method: str, route: str, status: int, identity_class: str | None
    ) -> int | None:
        """A recorded response row of ``status`` on the route, preferring the class's own."""
        found = self.by_status.get((host, method, route, status))
        if not found:
            return None
        if identity_class is not None and identity_class in found:
            return found[identity_class]
        return next(iter(found.values()))
