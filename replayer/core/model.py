"""A loaded world, indexed for serving: specs, responses, exchanges, routes, classes.

:meth:`WorldModel.from_world` does all validation and indexing once, before anything
listens; a world it cannot serve is a :class:`~understudy.errors.WorldError` (a bad world) or
:class:`~understudy.errors.ConfigError` (a bad option against a good world).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from replayer.core.doc import DocSpecs, Permission, RouteSpec, parse_doc
from replayer.core.index import ExchangeIndex
from replayer.core.responses import Responses, ResponseStore
from replayer.core.routing import RouteTable
from understudy.errors import ConfigError, WorldError
from understudy.redact import RedactionPolicy

if TYPE_CHECKING:
    from understudy.world import World

__all__ = ["WorldModel", "index_exchanges", "policy_from_world"]

RouteKey = tuple[str, str, str]


def _names(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise WorldError(f"world.json: source.redaction.{where} must be a list of names")
    return value


def policy_from_world(
    redaction: Mapping[str, Any],
    *,
    extra_headers: Sequence[str] = (),
    extra_query_keys: Sequence[str] = (),
    extra_json_keys: Sequence[str] = (),
    identity_headers: Sequence[str] = (),
) -> RedactionPolicy:
    """The recorder's redaction policy (from the world's ``source.redaction``) plus extras.

    Without a recorded policy the defaults apply, exactly as ``understudy record`` used them.
    """
    base = RedactionPolicy.build(
        extra_headers=extra_headers,
        extra_query_keys=extra_query_keys,
        extra_json_keys=extra_json_keys,
        identity_headers=identity_headers,
    )
    if not redaction:
        return base
    idents = tuple(h.lower() for h in identity_headers) or tuple(
        h.lower() for h in _names(redaction.get("identity_headers", []), "identity_headers")
    )
    return RedactionPolicy(
        headers=base.headers
        | {h.lower() for h in _names(redaction.get("headers", []), "headers")}
        | set(idents),
        query_keys=base.query_keys
        | {k.lower() for k in _names(redaction.get("query_keys", []), "query_keys")},
        json_keys=base.json_keys | set(_names(redaction.get("json_keys", []), "json_keys")),
        identity_headers=idents or base.identity_headers,
        redact_jwts=bool(redaction.get("jwts", True)),
    )


@dataclass
class WorldModel:
    """Everything the behaviour core reads, indexed."""

    specs: DocSpecs
    store: Responses
    index: ExchangeIndex
    routes: RouteTable
    route_specs: dict[RouteKey, RouteSpec]
    permissions: dict[tuple[str, str, str, str], Permission]
    classes: dict[str, str]
    class_names: tuple[str, ...]
    default_class: str

    @property
    def hosts(self) -> set[str]:
        return {h for h, _, _ in self.routes.templates()}

    @classmethod
    def from_world(cls, world: World, *, default_class: str | None = None) -> WorldModel:
        """Validate and index ``world``; raise WorldError / ConfigError before serving."""
        specs = parse_doc(world.doc)
        store, index = index_exchanges(world, specs)
        return cls.from_index(specs, store, index, default_class=default_class)

    @classmethod
    def from_index(
        cls,
        specs: DocSpecs,
        store: Responses,
        index: ExchangeIndex,
        *,
        default_class: str | None = None,
    ) -> WorldModel:
        """The model of a world whose exchanges are indexed already (``index``, ``store``)."""
        route_specs = _route_specs(specs)
        routes = RouteTable.build([*index.routes, *route_specs])
        permissions = {
            (p.host.lower(), p.method, p.route, p.identity_class): p for p in specs.permissions
        }
        classes: dict[str, str] = {}
        for klass in specs.identity_classes:
            for ident in klass.identities:
                classes.setdefault(ident, klass.name)
        names = tuple(dict.fromkeys([c.name for c in specs.identity_classes], None)) + tuple(
            k for k in index.class_counts if k not in {c.name for c in specs.identity_classes}
        )
        return cls(
            specs=specs,
            store=store,
            index=index,
            routes=routes,
            route_specs=route_specs,
            permissions=permissions,
            classes=classes,
            class_names=names,
            default_class=_default_class(default_class, names, index.class_counts, specs),
        )


def _route_specs(specs: DocSpecs) -> dict[RouteKey, RouteSpec]:
    return {(r.host.lower(), r.method, r.route): r for r in specs.routes}


def index_exchanges(world: World, specs: DocSpecs) -> tuple[ResponseStore, ExchangeIndex]:
    """The world's responses (in Arrow) and its exchanges indexed (imports Arrow)."""
    store = ResponseStore(world.table("http_responses"))
    limit_statuses: dict[str, set[int]] = {}
    for rl in specs.rate_limits:
        limit_statuses.setdefault(rl.host.lower(), set()).add(rl.limit_status)
    with_histogram = {k for k, r in _route_specs(specs).items() if r.histogram}
    index = ExchangeIndex.build(
        world.table("http_exchanges"), store, limit_statuses, with_histogram
    )
    return store, index


def _default_class(
    wanted: str | None, names: tuple[str, ...], counts: Counter[str], specs: DocSpecs
) -> str:
    if wanted is not None:
        if wanted not in names:
            known = ", ".join(names) or "none"
            raise ConfigError(
                f"--default-class {wanted!r} is not a class of this world (its classes: {known})"
            )
        return wanted
    if counts:
        best = max(counts.values())
        return next(k for k, n in counts.items() if n == best)
    if specs.identity_classes:
        return max(specs.identity_classes, key=lambda c: len(c.identities)).name
    return ""
