"""Finding kinds, the ``--fail-on`` grammar, and how a finding is built.

A finding is a plain dict (the verdict is JSON): :func:`finding` builds one without its
``severity`` and ``failing``, which :func:`grade` sets from the kinds that fail the run.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

from understudy.errors import ConfigError

__all__ = [
    "DEFAULT_FAIL_ON",
    "EXCESS_FACTOR",
    "EXCESS_MIN_EXTRA",
    "FINDING_KINDS",
    "SEVERITIES",
    "VERDICT_FORMAT",
    "VERDICT_SCHEMA_VERSION",
    "far_above",
    "finding",
    "grade",
    "parse_fail_on",
]

VERDICT_FORMAT: Final = "understudy-verdict"
VERDICT_SCHEMA_VERSION: Final = 1
FINDING_KINDS: Final = (
    "miss", "refused", "throttled", "n_plus_one", "new_fingerprint", "sql_miss",
    "excess_calls", "latency", "fault_injected", "command_failed",
)  # fmt: skip
DEFAULT_FAIL_ON: Final = frozenset(
    {"miss", "sql_miss", "refused", "throttled", "n_plus_one", "command_failed"}
)
SEVERITIES: Final = ("error", "warning", "info")
#: A count is "far above" production's when it exceeds this many times the baseline ...
EXCESS_FACTOR: Final = 3.0
#: ... and the baseline plus this many calls (so 1 -> 4 is not an alarm, 1 -> 6 is).
EXCESS_MIN_EXTRA: Final = 5

_SETS: Final[Mapping[str, frozenset[str]]] = {
    "default": DEFAULT_FAIL_ON,
    "all": frozenset(FINDING_KINDS),
    "none": frozenset(),
}


def parse_fail_on(text: str) -> frozenset[str]:
    """The kinds that fail a run, from ``--fail-on`` text.

    Comma-separated kind names or the sets ``default``, ``all`` and ``none``, read left to
    right; a ``+`` prefix adds (the same as no prefix), a ``-`` prefix removes.

    Examples
    --------
    >>> sorted(parse_fail_on("miss,throttled"))
    ['miss', 'throttled']
    >>> parse_fail_on("none"), len(parse_fail_on("all"))
    (frozenset(), 10)
    >>> sorted(parse_fail_on("default,+latency,-throttled") ^ DEFAULT_FAIL_ON)
    ['latency', 'throttled']
    >>> parse_fail_on("mis")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    understudy.errors.ConfigError: --fail-on: unknown kind 'mis' (did you mean miss?); ...
    """
    tokens = [t.strip() for t in text.split(",")]
    if not any(tokens):
        raise ConfigError("--fail-on is empty: give kinds, 'default', 'all' or 'none'")
    out: set[str] = set()
    for token in tokens:
        if not token:
            continue
        remove = token.startswith("-")
        name = token.lstrip("+-").strip().lower()
        if name in _SETS:
            kinds = _SETS[name]
        elif name in FINDING_KINDS:
            kinds = frozenset({name})
        else:
            raise ConfigError(f"--fail-on: unknown kind {name!r}{_suggest(name)}; " + _choices())
        out = out - kinds if remove else out | kinds
    return frozenset(out)


def _suggest(name: str) -> str:
    import difflib

    close = difflib.get_close_matches(name, [*FINDING_KINDS, *_SETS], n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def _choices() -> str:
    return "choose from " + ", ".join(FINDING_KINDS) + ", default, all, none"


def finding(
    kind: str, title: str, hint: str, count: int, evidence: Mapping[str, Any]
) -> dict[str, Any]:
    """A finding without its grade (see :func:`grade`).

    >>> finding("miss", "GET /x not recorded", "record it", 2, {"path": "/x"})["count"]
    2
    """
    assert kind in FINDING_KINDS, kind
    return {"kind": kind, "title": title, "hint": hint, "count": int(count),
            "evidence": dict(evidence)}  # fmt: skip


def grade(f: Mapping[str, Any], fail_on: Collection[str]) -> dict[str, Any]:
    """``f`` with ``severity`` and ``failing``: kinds in ``fail_on`` are errors that fail the
    run, the others warnings (``fault_injected``: info).

    >>> g = grade(finding("latency", "t", "h", 1, {}), {"miss"})
    >>> g["severity"], g["failing"]
    ('warning', False)
    """
    failing = f["kind"] in fail_on
    severity = "error" if failing else "info" if f["kind"] == "fault_injected" else "warning"
    return {"kind": f["kind"], "severity": severity, "failing": failing, "title": f["title"],
            "hint": f["hint"], "count": f["count"], "evidence": f["evidence"]}  # fmt: skip


def far_above(value: float, baseline: float) -> bool:
    """True when ``value`` exceeds both ``EXCESS_FACTOR`` x ``baseline`` and ``baseline +
    EXCESS_MIN_EXTRA``.

    >>> far_above(6, 1), far_above(5, 1), far_above(31, 10), far_above(30, 10)
    (True, False, True, False)
    """
    return value > EXCESS_FACTOR * baseline and value >= baseline + EXCESS_MIN_EXTRA
