"""The sections of world.json the HTTP replayer serves, validated into frozen specs.

A world is read defensively: every field is type-checked once, at load, and a bad one is a
:class:`~understudy.errors.WorldError` naming where it is (``routes[3].latency_ms``) before
anything listens. Unknown keys are ignored (newer minor additions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from understudy.errors import WorldError

__all__ = [
    "SCOPES",
    "DocSpecs",
    "IdentityClass",
    "Permission",
    "RateLimitSpec",
    "RouteSpec",
    "Scope",
    "parse_doc",
]

Scope = Literal["identity", "client_ip", "global"]
SCOPES: Final = ("identity", "client_ip", "global")
_HINT: Final = "; rebuild the world with `understudy analyze`"


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """One entry of ``routes``: latency histogram and observed status and error mix."""

    host: str
    method: str
    route: str
    count: int
    histogram: tuple[tuple[float, float, int], ...]
    p50_ms: float | None
    status_counts: Mapping[int, int]
    errors: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class RateLimitSpec:
    """One entry of ``rate_limits``: a token bucket per scope (``route`` "*" = host-wide)."""

    host: str
    route: str
    scope: Scope
    identity_class: str | None
    rate_per_s: float
    burst: int
    limit_status: int


@dataclass(frozen=True, slots=True)
class IdentityClass:
    """One entry of ``identity_classes``: a name and the pseudonyms it holds."""

    name: str
    identities: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Permission:
    """One entry of ``permissions``: whether a class may call a route, and the status if not."""

    host: str
    method: str
    route: str
    identity_class: str
    allowed: bool
    status: int | None


@dataclass(frozen=True, slots=True)
class DocSpecs:
    """Everything the HTTP replayer reads from world.json."""

    routes: tuple[RouteSpec, ...]
    rate_limits: tuple[RateLimitSpec, ...]
    identity_classes: tuple[IdentityClass, ...]
    permissions: tuple[Permission, ...]
    redaction: Mapping[str, Any]


def _fail(where: str, what: str) -> WorldError:
    return WorldError(f"world.json: {where} {what}{_HINT}")


def _list(doc: Mapping[str, Any], key: str) -> list[Any]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(key, "must be a list")
    return value


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _fail(where, "must be an object")
    return value


def _str(obj: Mapping[str, Any], key: str, where: str, *, optional: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise _fail(f"{where}.{key}", "must be a non-empty string")
    return value


def _req_str(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _str(obj, key, where)
    assert value is not None
    return value


def _num(obj: Mapping[str, Any], key: str, where: str, *, minimum: float = 0.0) -> float:
    value = obj.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _fail(f"{where}.{key}", "must be a finite number")
    if value < minimum:
        raise _fail(f"{where}.{key}", f"must be >= {minimum:g}")
    return float(value)


def _status(value: Any, where: str) -> int:
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 100 <= value <= 999:
        raise _fail(where, "must be an HTTP status (100-999)")
    return int(value)


def _counts(value: Any, where: str) -> dict[str, int]:
    if value is None:
        return {}
    obj = _obj(value, where)
    out: dict[str, int] = {}
    for k, v in obj.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise _fail(f"{where}.{k}", "must be a non-negative integer")
        out[str(k)] = v
    return out


def _error_counts(value: Any, where: str) -> dict[str, int]:
    """``errors``: counts per kind (``5xx``, ``timeout``, ``reset``...); ``rate`` and other
    non-count entries the miner adds are ignored."""
    if value is None:
        return {}
    out: dict[str, int] = {}
    for k, v in _obj(value, where).items():
        if k == "rate" or isinstance(v, bool):
            continue
        if not isinstance(v, int | float) or not math.isfinite(v) or v < 0 or v != int(v):
            raise _fail(f"{where}.{k}", "must be a non-negative count")
        out[str(k)] = int(v)
    return out


def _histogram(value: Any, where: str) -> tuple[tuple[float, float, int], ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _fail(where, "must be a list of [lo_ms, hi_ms, count]")
    out = []
    for i, b in enumerate(value):
        ok = isinstance(b, list | tuple) and len(b) == 3
        nums = ok and all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in b
        )
        if not nums or b[0] < 0 or b[1] < b[0] or b[2] < 0 or int(b[2]) != b[2]:
            raise _fail(f"{where}[{i}]", "must be [lo_ms, hi_ms, count] with 0 <= lo <= hi")
        out.append((float(b[0]), float(b[1]), int(b[2])))
    return tuple(out)


def _route(raw: Any, where: str) -> RouteSpec:
    obj = _obj(raw, where)
    latency = obj.get("latency_ms")
    latency = _obj(latency, f"{where}.latency_ms") if latency is not None else {}
    p50 = latency.get("p50")
    if p50 is not None:
        p50 = _num(latency, "p50", f"{where}.latency_ms")
    statuses = {
        _status(k, f"{where}.status_counts key {k!r}"): v
        for k, v in _counts(obj.get("status_counts"), f"{where}.status_counts").items()
    }
    count = obj.get("count", 0)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise _fail(f"{where}.count", "must be a non-negative integer")
    return RouteSpec(
        host=_req_str(obj, "host", where),
        method=_req_str(obj, "method", where).upper(),
        route=_req_str(obj, "route", where),
        count=count,
        histogram=_histogram(latency.get("histogram"), f"{where}.latency_ms.histogram"),
        p50_ms=p50,
        status_counts=statuses,
        errors=_error_counts(obj.get("errors"), f"{where}.errors"),
    )


def _rate_limit(raw: Any, where: str) -> RateLimitSpec:
    obj = _obj(raw, where)
    scope = obj.get("scope")
    if scope not in SCOPES:
        raise _fail(f"{where}.scope", f"must be one of {', '.join(SCOPES)}")
    rate = _num(obj, "rate_per_s", where)
    if rate <= 0:
        raise _fail(f"{where}.rate_per_s", "must be positive")
    return RateLimitSpec(
        host=_req_str(obj, "host", where),
        route=_req_str(obj, "route", where),
        scope=scope,
        identity_class=_str(obj, "identity_class", where, optional=True),
        rate_per_s=rate,
        burst=max(1, round(_num(obj, "burst", where))),
        limit_status=_status(obj.get("limit_status", 429), f"{where}.limit_status"),
    )


def _identity_class(raw: Any, where: str) -> IdentityClass:
    obj = _obj(raw, where)
    ids = obj.get("identities") or []
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise _fail(f"{where}.identities", "must be a list of pseudonyms")
    return IdentityClass(name=_req_str(obj, "name", where), identities=tuple(ids))


def _permission(raw: Any, where: str) -> Permission:
    obj = _obj(raw, where)
    allowed = obj.get("allowed")
    if not isinstance(allowed, bool):
        raise _fail(f"{where}.allowed", "must be true or false")
    status = obj.get("status")
    return Permission(
        host=_req_str(obj, "host", where),
        method=_req_str(obj, "method", where).upper(),
        route=_req_str(obj, "route", where),
        identity_class=_req_str(obj, "identity_class", where),
        allowed=allowed,
        status=None if status is None else _status(status, f"{where}.status"),
    )


def parse_doc(doc: Mapping[str, Any]) -> DocSpecs:
    """Validate the HTTP sections of a world document; raise :class:`WorldError` if bad."""
    source = doc.get("source")
    redaction = source.get("redaction") if isinstance(source, dict) else None
    return DocSpecs(
        routes=tuple(_route(r, f"routes[{i}]") for i, r in enumerate(_list(doc, "routes"))),
        rate_limits=tuple(
            _rate_limit(r, f"rate_limits[{i}]") for i, r in enumerate(_list(doc, "rate_limits"))
        ),
        identity_classes=tuple(
            _identity_class(r, f"identity_classes[{i}]")
            for i, r in enumerate(_list(doc, "identity_classes"))
        ),
        # entries of anonymous requests (identity_class null) describe production; the
        # replayer serves anonymous clients as the default class, so they are not enforced
        permissions=tuple(
            _permission(r, f"permissions[{i}]")
            for i, r in enumerate(_list(doc, "permissions"))
            if not (isinstance(r, dict) and "identity_class" in r and r["identity_class"] is None)
        ),
        redaction=redaction if isinstance(redaction, dict) else {},
    )
