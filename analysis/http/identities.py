"""Identity classes (plans, tiers): identities whose limits and permissions look alike.

Per identity, a profile: its fitted buckets under identity-scoped limits, the hosts where it
was limited at all, and the routes it was allowed or refused (:mod:`analysis.http.permissions`).
Identities are then grouped greedily, most evidence first: an identity joins the class it is
*compatible* with whose buckets are closest (the first on ties), else starts one. Compatible
means, wherever both were seen:

* the same answer on every route (allowed, or refused with the same status);
* limited on the same identity-scoped hosts (an identity never limited cannot be told from an
  unlimited one, so it does not join a limited class);
* on every bucket both were fitted for, rates within ``rate_tolerance`` (relative) and bursts
  within ``burst_tolerance`` (relative, at least 2); both are doubled when either fit rests on
  fewer than 5 limited requests.

Classes are named ``class-1``, ``class-2``... by decreasing size (ties: first identity).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

__all__ = ["IdentityProfile", "class_summary", "cluster_identities", "identity_profiles"]

_Bucket = tuple[float, int, int]  # rate_per_s, burst, limited requests behind the fit


@dataclass(frozen=True, slots=True)
class IdentityProfile:
    """What one identity showed: buckets by ``(host, group)``, answers by route."""

    identity: str
    requests: int
    limited: int
    hosts: frozenset[str]
    limited_hosts: frozenset[str]
    buckets: Mapping[tuple[str, str], _Bucket] = field(default_factory=dict)
    answers: Mapping[tuple[str, str, str], int | None] = field(default_factory=dict)


def identity_profiles(
    ex: pl.DataFrame, key_fits: pl.DataFrame, refused: pl.DataFrame, identity_hosts: Iterable[str]
) -> list[IdentityProfile]:
    """Profiles of the identities in ``ex``.

    ``key_fits``: :func:`analysis.http.ratelimits.fit_keys` rows (identity-scoped keys are
    used); ``refused``: :func:`analysis.http.permissions.refusals` by ``identity``;
    ``identity_hosts``: hosts whose limits are kept per identity.

    Examples
    --------
    >>> ex = pl.DataFrame({"identity": ["a", "a", None], "host": "h",
    ...                    "limited": [True, False, False]})
    >>> fits = pl.DataFrame({"scope": "identity", "scope_key": "a", "host": "h", "group": "*",
    ...                      "rate_per_s": 5.0, "burst": 10, "limited": 1})
    >>> refused = pl.DataFrame({"identity": ["a"], "host": "h", "method": "GET",
    ...                         "route": "/x", "refused_status": [403]})
    >>> (p,) = identity_profiles(ex, fits, refused, ["h"])
    >>> p.identity, p.requests, dict(p.buckets), dict(p.answers)
    ('a', 2, {('h', '*'): (5.0, 10, 1)}, {('h', 'GET', '/x'): 403})
    """
    scoped = set(identity_hosts)
    limited_here = pl.col("limited") & pl.col("host").is_in(list(scoped))
    seen = (
        ex.filter(pl.col("identity").is_not_null())
        .group_by("identity")
        .agg(
            requests=pl.len(),
            hosts=pl.col("host").unique(),
            limited_hosts=pl.col("host").filter(limited_here).unique(),
        )
        .sort("identity")
    )
    buckets: dict[str, dict[tuple[str, str], _Bucket]] = {}
    for r in key_fits.filter(pl.col("scope") == "identity").iter_rows(named=True):
        buckets.setdefault(r["scope_key"], {})[r["host"], r["group"]] = (
            r["rate_per_s"], r["burst"], r["limited"]
        )  # fmt: skip
    answers: dict[str, dict[tuple[str, str, str], int | None]] = {}
    for r in refused.filter(pl.col("identity").is_not_null()).iter_rows(named=True):
        answers.setdefault(r["identity"], {})[r["host"], r["method"], r["route"]] = r[
            "refused_status"
        ]
    limited = {i: sum(b[2] for b in bs.values()) for i, bs in buckets.items()}
    return [
        IdentityProfile(
            identity=r["identity"],
            requests=r["requests"],
            limited=limited.get(r["identity"], 0),
            hosts=frozenset(r["hosts"]),
            limited_hosts=frozenset(r["limited_hosts"]),
            buckets=buckets.get(r["identity"], {}),
            answers=answers.get(r["identity"], {}),
        )
        for r in seen.iter_rows(named=True)
    ]


def _close(a: _Bucket, b: _Bucket, rate_tol: float, burst_tol: float) -> bool:
    widen = 2.0 if min(a[2], b[2]) < 5 else 1.0
    rate_ok = abs(math.log(a[0] / b[0])) <= math.log1p(rate_tol * widen)
    burst_ok = abs(a[1] - b[1]) <= max(2.0, burst_tol * widen * max(a[1], b[1]))
    return rate_ok and burst_ok


def _compatible(p: IdentityProfile, c: IdentityProfile, rate_tol: float, burst_tol: float) -> bool:
    for key, status in p.answers.items():
        if key in c.answers and c.answers[key] != status:
            return False
    for host in p.hosts & c.hosts:
        if (host in p.limited_hosts) != (host in c.limited_hosts):
            return False
    return all(
        _close(bucket, c.buckets[key], rate_tol, burst_tol)
        for key, bucket in p.buckets.items()
        if key in c.buckets
    )


def _distance(p: IdentityProfile, c: IdentityProfile) -> float:
    """How far apart the shared buckets of two profiles are (0 when none are shared)."""
    return sum(
        abs(math.log(b[0] / c.buckets[k][0]))
        + abs(b[1] - c.buckets[k][1]) / max(b[1], c.buckets[k][1])
        for k, b in p.buckets.items()
        if k in c.buckets
    )


def _merge(c: IdentityProfile, p: IdentityProfile) -> IdentityProfile:
    return IdentityProfile(
        identity=c.identity,
        requests=c.requests + p.requests,
        limited=c.limited + p.limited,
        hosts=c.hosts | p.hosts,
        limited_hosts=c.limited_hosts | p.limited_hosts,
        buckets={**p.buckets, **c.buckets},
        answers={**p.answers, **c.answers},
    )


def cluster_identities(
    profiles: Iterable[IdentityProfile],
    *,
    rate_tolerance: float = 0.25,
    burst_tolerance: float = 0.25,
) -> dict[str, str]:
    """Identity -> class name (rules in the module docstring).

    Examples
    --------
    >>> def p(name, rate, export):
    ...     return IdentityProfile(name, 100, 50, frozenset("h"), frozenset("h"),
    ...                            {("h", "*"): (rate, 10, 50)}, {("h", "GET", "/x"): export})
    >>> cluster_identities([p("a", 5.0, 403), p("b", 5.1, 403), p("c", 20.0, None)])
    {'a': 'class-1', 'b': 'class-1', 'c': 'class-2'}
    """
    order = sorted(profiles, key=lambda p: (-p.limited, -p.requests, p.identity))
    reps: list[IdentityProfile] = []
    members: list[list[str]] = []
    for prof in order:
        fits = [
            (_distance(prof, rep), n)
            for n, rep in enumerate(reps)
            if _compatible(prof, rep, rate_tolerance, burst_tolerance)
        ]
        if fits:
            n = min(fits)[1]
            reps[n] = _merge(reps[n], prof)
            members[n].append(prof.identity)
        else:
            reps.append(prof)
            members.append([prof.identity])
    ranked = sorted(members, key=lambda ms: (-len(ms), min(ms)))
    return {i: f"class-{n}" for n, ms in enumerate(ranked, 1) for i in sorted(ms)}


def class_summary(
    limits: Iterable[Mapping[str, Any]],
    refused: Iterable[Mapping[str, Any]],
    peak_per_s: float | None,
    *,
    many_hosts: bool = False,
) -> str:
    """One line describing a class: its buckets, or its peak when never limited, and what it
    is refused.

    Examples
    --------
    >>> class_summary([{"host": "h", "route": "*", "method": None, "rate_per_s": 5.0,
    ...                 "burst": 10}],
    ...               [{"host": "h", "method": "GET", "route": "/api/export", "status": 403}],
    ...               None)
    '5 req/s burst 10; refused: GET /api/export (403)'
    >>> class_summary([], [], 31.0)
    'no limit observed (peak 31 req/s); refused: none'
    """
    parts = []
    for lim in limits:
        where = "" if lim["route"] == "*" else f"{lim['method']} {lim['route']}: "
        if many_hosts:
            where = f"{lim['host']} {where}"
        parts.append(f"{where}{lim['rate_per_s']:g} req/s burst {lim['burst']}")
    if not parts:
        peak = f" (peak {peak_per_s:g} req/s)" if peak_per_s is not None else ""
        parts.append(f"no limit observed{peak}")
    denied = [
        f"{(r['host'] + ' ') if many_hosts else ''}{r['method']} {r['route']} ({r['status']})"
        for r in refused
    ]
    return f"{', '.join(parts)}; refused: {', '.join(denied) if denied else 'none'}"
