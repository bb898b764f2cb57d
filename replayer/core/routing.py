"""Route lookup per host and method: a request path -> (template, parameters).

Templates and their matching rules (``{id}``, ``{uuid}``, ``{param}``...; literal segments
beat typed parameters, which beat ``{param}``) are the core package's
:class:`understudy.routes.RouteMatcher`, the same rules the miner used to name routes. This
module only groups matchers by (host, method) and caches lookups per path (bounded), so a
repeated path costs one dict access.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from understudy.routes import RouteMatcher

__all__ = ["RouteMatch", "RouteTable"]

_CACHE_MAX: Final = 65_536

#: ``(template, ((name, value), ...))``
RouteMatch = tuple[str, tuple[tuple[str, str], ...]]


class RouteTable:
    """Templates per (host, method), matched with :class:`~understudy.routes.RouteMatcher`."""

    def __init__(self, entries: Iterable[tuple[str, str, str]] = ()) -> None:
        grouped: dict[tuple[str, str], set[str]] = {}
        for host, method, template in entries:
            grouped.setdefault((host, method.upper()), set()).add(template)
        self._templates = sorted((h, m, t) for (h, m), ts in grouped.items() for t in ts)
        self._matchers = {key: RouteMatcher(ts) for key, ts in grouped.items()}
        self._cache: dict[tuple[str, str, str], RouteMatch | None] = {}

    @classmethod
    def build(cls, entries: Iterable[tuple[str, str, str]]) -> RouteTable:
        """A table of ``(host, method, template)`` entries (duplicates are fine)."""
        return cls(entries)

    def templates(self) -> list[tuple[str, str, str]]:
        """Every ``(host, method, template)`` known, sorted."""
        return list(self._templates)

    def match(self, host: str, method: str, path: str) -> RouteMatch | None:
        """``(template, ((name, value), ...))`` of the best route for ``path``, or None."""
        key = (host, method, path)
        cache = self._cache
        try:
            return cache[key]
        except KeyError:
            pass
        matcher = self._matchers.get((host, method))
        m = matcher.match(path) if matcher is not None else None
        found = None if m is None else (m.template, tuple(m.params.items()))
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[key] = found
        return found
