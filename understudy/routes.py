"""Route templates: ``/api/items/{id}`` and the matchers that map a request path onto them.

A template is a path whose variable segments are written ``{name}``. The miner
(``analysis.http.routes``) names a parameter after the kind of value it saw there; the
replayer matches incoming paths with :class:`RouteMatcher`. Both read the segment kinds from
:data:`SEGMENT_KINDS`, so a value the miner called an ``{id}`` is one the matcher accepts as an
``{id}``.

Parameter names
    ``{uuid}``, ``{date}`` (``2024-01-31``), ``{id}`` (decimal digits), ``{hash}`` (12 or more
    hex digits, at least one a digit and one a letter), ``{param}`` (anything else that varies:
    long tokens, or a position with too many distinct values to be literal). A second
    parameter of the same kind in one template gets a suffix: ``{id_2}``, ``{id_3}``...

Matching precedence
    Among templates with as many segments as the path, literal segments beat typed
    parameters, which beat ``{param}``, comparing left to right: ``/api/items/export`` wins
    over ``/api/items/{id}``, which wins over ``/api/items/{param}``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = [
    "SEGMENT_KINDS",
    "RouteMatch",
    "RouteMatcher",
    "compile_template",
    "param_kind",
    "template_params",
]

#: Kind of a parameter -> regular expression of one path segment of that kind (no anchors).
#: The miner tests kinds in this order; ``param`` is the fallback and matches any segment.
SEGMENT_KINDS: Final[Mapping[str, str]] = {
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "date": r"\d{4}-\d{2}-\d{2}",
    "id": r"\d+",
    "hash": r"[0-9a-fA-F]{12,}",
    "param": r"[^/]+",
}

_PARAM: Final = re.compile(r"\{([a-z][a-z0-9]*(?:_[0-9]+)?)\}")


def param_kind(name: str) -> str:
    """The kind of a parameter name: ``id_2`` -> ``id``; unknown kinds are ``param``.

    >>> param_kind("id_2"), param_kind("uuid"), param_kind("user")
    ('id', 'uuid', 'param')
    """
    kind = name.split("_", 1)[0]
    return kind if kind in SEGMENT_KINDS else "param"


def template_params(template: str) -> list[str]:
    """Names of the parameters of ``template``, in order.

    >>> template_params("/api/users/{uuid}/items/{id}")
    ['uuid', 'id']
    """
    return [m.group(1) for seg in template.split("/") if (m := _PARAM.fullmatch(seg))]


def compile_template(template: str) -> re.Pattern[str]:
    """A regular expression matching the paths of ``template``, one named group per parameter.

    Examples
    --------
    >>> rx = compile_template("/api/items/{id}")
    >>> rx.fullmatch("/api/items/42").groupdict()
    {'id': '42'}
    >>> rx.fullmatch("/api/items/abc") is None
    True
    """
    parts = []
    for seg in template.split("/"):
        m = _PARAM.fullmatch(seg)
        if m is None:
            parts.append(re.escape(seg))
        else:
            parts.append(f"(?P<{m.group(1)}>{SEGMENT_KINDS[param_kind(m.group(1))]})")
    return re.compile("/".join(parts))


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """A path matched to its template, with the parameter values it carried."""

    template: str
    params: Mapping[str, str]


def _specificity(template: str) -> tuple[int, ...]:
    ranks = []
    for seg in template.split("/"):
        m = _PARAM.fullmatch(seg)
        ranks.append(0 if m is None else 2 if param_kind(m.group(1)) == "param" else 1)
    return tuple(ranks)


class RouteMatcher:
    """Match paths against a set of templates (one host and method, typically).

    Lookups only try templates with the path's segment count, most specific first.

    Examples
    --------
    >>> m = RouteMatcher(["/api/items/{id}", "/api/items/export", "/api/{param}/{id}"])
    >>> m.match("/api/items/7")
    RouteMatch(template='/api/items/{id}', params={'id': '7'})
    >>> m.match("/api/items/export").template
    '/api/items/export'
    >>> m.match("/api/users/7").params
    {'param': 'users', 'id': '7'}
    >>> m.match("/nope") is None
    True
    """

    def __init__(self, templates: Iterable[str]) -> None:
        by_depth: dict[int, list[tuple[tuple[int, ...], str, re.Pattern[str]]]] = {}
        for template in sorted(set(templates)):
            entry = (_specificity(template), template, compile_template(template))
            by_depth.setdefault(template.count("/"), []).append(entry)
        self._by_depth = {d: sorted(es, key=lambda e: (e[0], e[1])) for d, es in by_depth.items()}

    @property
    def templates(self) -> list[str]:
        """The templates, most specific first within each depth."""
        return [t for _, es in sorted(self._by_depth.items()) for _, t, _ in es]

    def match(self, path: str) -> RouteMatch | None:
        """The most specific template matching ``path`` (no query string), or None."""
        for _, template, rx in self._by_depth.get(path.count("/"), ()):
            if (m := rx.fullmatch(path)) is not None:
                return RouteMatch(template, m.groupdict())
        return None
