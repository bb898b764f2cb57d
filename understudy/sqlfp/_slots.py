"""Placeholder slots shared by both normalisers: markers in, ``$n`` text and values out.

A normaliser writes markers into the canonical text instead of placeholders and keeps the
literal values in a :class:`SlotTable`; :func:`render` then numbers the placeholders in
order of appearance. Markers use NUL bytes, which PostgreSQL never accepts in query text:

``\\x00L<i>\\x00``
    a literal; slot ``i`` holds its value.
``\\x00P<n>\\x00``
    the bound parameter ``$n``; every use of the same ``$n`` gets the same new number.
``\\x00F<i>\\x00`` (bare, or as the comment ``/* \\x00F<i>\\x00 */``)
    the rest of a folded list; written ``/*, ... */``, consumes no number, and slot ``i``
    holds the values of the folded-away elements, so params stay in text order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

__all__ = ["FOLDED", "Rendered", "SlotTable", "marker_values", "neutral", "render"]

#: How the tail of a folded list is written in normalized text (as PostgreSQL 18 does).
FOLDED: Final = "/*, ... */"

_MARKER: Final = re.compile(r"/\* \x00F(\d+)\x00 \*/|\x00F(\d+)\x00|\x00([LP])(\d+)\x00")
_ANY_MARKER: Final = re.compile(r"\x00[LPF]\d+\x00")


@dataclass(frozen=True, slots=True)
class Rendered:
    """Canonical text with ``$n`` placeholders, and the literal values in text order."""

    normalized: str
    params: tuple[str, ...]


@dataclass(slots=True)
class SlotTable:
    """Values behind the markers of one statement text."""

    values: list[tuple[str, ...]] = field(default_factory=list)

    def literal(self, value: str) -> str:
        """Record one literal value and return its marker."""
        self.values.append((value,))
        return f"\x00L{len(self.values) - 1}\x00"

    def folded(self, values: tuple[str, ...]) -> str:
        """Record the values of folded-away list elements and return the fold marker."""
        self.values.append(values)
        return f"\x00F{len(self.values) - 1}\x00"

    @staticmethod
    def param(number: int) -> str:
        """Marker of the bound parameter ``$number``."""
        return f"\x00P{number}\x00"


def neutral(text: str) -> str:
    """``text`` with every marker replaced by one NUL: equal iff equal up to values."""
    return _ANY_MARKER.sub("\x00", text)


def marker_values(text: str, table: SlotTable) -> tuple[str, ...]:
    """Values of the literal and fold markers in ``text``, in text order."""
    out: list[str] = []
    for m in _MARKER.finditer(text):
        idx = m.group(1) or m.group(2) or (m.group(4) if m.group(3) == "L" else None)
        if idx is not None:
            out.extend(table.values[int(idx)])
    return tuple(out)


def render(text: str, table: SlotTable) -> Rendered:
    """Replace markers by ``$1, $2, ...`` in order of appearance and collect the values.

    >>> t = SlotTable()
    >>> text = f"a = {t.literal('7')} AND b IN ({t.param(3)} {t.folded(('x', 'y'))})"
    >>> render(text, t)
    Rendered(normalized='a = $1 AND b IN ($2 /*, ... */)', params=('7', 'x', 'y'))
    """
    numbers: dict[str, int] = {}
    params: list[str] = []
    counter = 0

    def sub(m: re.Match[str]) -> str:
        nonlocal counter
        fold = m.group(1) or m.group(2)
        if fold is not None:
            params.extend(table.values[int(fold)])
            return FOLDED
        kind, idx = m.group(3), m.group(4)
        if kind == "P":
            if idx not in numbers:
                counter += 1
                numbers[idx] = counter
            return f"${numbers[idx]}"
        counter += 1
        params.extend(table.values[int(idx)])
        return f"${counter}"

    return Rendered(_MARKER.sub(sub, text), tuple(params))
