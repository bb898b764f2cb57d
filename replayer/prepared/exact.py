"""The ``exact`` index in a few flat arrays: one hash table over every recorded key.

A dict of 100k recorded keys costs about 14 MiB (a ``str`` and an ``int`` object per key,
plus the table); these arrays cost about 3.5 MiB plus the key text, and load without creating
one Python object per key:

- ``text``: every key's text (UTF-8) end to end, ``offsets[i]:offsets[i + 1]`` the ``i``-th;
- ``hashes``: the 64-bit BLAKE2b hash of each key (stable across processes);
- ``rows``: a store row (>= 0) for a key recorded once, else ``-1 - j`` for ``entries[j]``;
- ``slots``: an open-addressing table (a power of two, at most half full) of key numbers,
  -1 when empty: a lookup probes from ``hash & mask`` until it finds its key or an empty slot.

Lookups are O(1) and compare the key text, so a hash collision never serves a wrong answer.

Example::

    exact = CompactExact.from_dict({"GET\\0api.test\\0/a\\0\\0": 3})
    exact.get("GET\\0api.test\\0/a\\0\\0")   # -> 3
"""

from __future__ import annotations

import hashlib
from array import array
from collections.abc import Iterator, Mapping
from itertools import pairwise
from typing import Final

from replayer.core.index import ExactEntry

__all__ = ["CompactExact", "key_hash"]

_EMPTY: Final = -1


def key_hash(key: bytes) -> int:
    """A 64-bit hash of ``key`` that every process computes alike (``hash()`` is salted)."""
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little", signed=True)


def _encode(key: str) -> bytes:
    # recorded keys are valid UTF-8; a request's lone surrogates encode to bytes no recorded
    # key holds, so they miss instead of raising
    return key.encode("utf-8", "surrogatepass")


class CompactExact(Mapping[str, ExactEntry | int]):
    """A read-only mapping: recorded key (:func:`~replayer.core.index.exact_key`) -> value."""

    __slots__ = ("entries", "hashes", "mask", "offsets", "rows", "slots", "text")

    def __init__(
        self,
        text: bytes,
        offsets: array[int],
        hashes: array[int],
        rows: array[int],
        slots: array[int],
        entries: list[ExactEntry],
    ) -> None:
        n = len(hashes)
        size = len(slots)
        if len(offsets) != n + 1 or len(rows) != n or size < 2 * n or size & (size - 1):
            raise ValueError("exact index arrays do not agree in length")
        if n and (offsets[0] != 0 or offsets[n] != len(text)):
            raise ValueError("exact index key offsets do not cover the key text")
        if any(a > b for a, b in pairwise(offsets)):
            raise ValueError("exact index key offsets are not ascending")
        if any(not -1 <= s < n for s in slots) or sum(1 for s in slots if s >= 0) != n:
            raise ValueError("exact index slots do not hold one slot per key")
        if any(v < -len(entries) for v in rows):
            raise ValueError("exact index values name missing entries")
        self.text = text
        self.offsets = offsets
        self.hashes = hashes
        self.rows = rows
        self.slots = slots
        self.mask = size - 1
        self.entries = entries

    @classmethod
    def from_dict(cls, exact: Mapping[str, ExactEntry | int]) -> CompactExact:
        """The compact form of ``exact`` (what the preparing child writes)."""
        offsets, hashes, values = array("q", [0]), array("q"), array("q")
        entries: list[ExactEntry] = []
        text = bytearray()
        for key, value in exact.items():
            data = _encode(key)
            text += data
            offsets.append(len(text))
            hashes.append(key_hash(data))
            if isinstance(value, int):
                values.append(value)
            else:
                entries.append(value)
                values.append(-len(entries))
        size = 2
        while size < 2 * len(hashes):
            size *= 2
        slots = array("q", [_EMPTY]) * size
        mask = size - 1
        for i, h in enumerate(hashes):
            s = h & mask
            while slots[s] != _EMPTY:
                s = (s + 1) & mask
            slots[s] = i
        return cls(bytes(text), offsets, hashes, values, slots, entries)

    def _find(self, data: bytes) -> int:
        h = key_hash(data)
        slots, hashes, offsets, keys, mask = (self.slots, self.hashes, self.offsets, self.text,
                                              self.mask)  # fmt: skip
        s = h & mask
        while (i := slots[s]) != _EMPTY:
            if hashes[i] == h and keys[offsets[i] : offsets[i + 1]] == data:
                return i
            s = (s + 1) & mask
        return _EMPTY

    def _value(self, i: int) -> ExactEntry | int:
        v = self.rows[i]
        return v if v >= 0 else self.entries[-1 - v]

    def __getitem__(self, key: str) -> ExactEntry | int:
        i = self._find(_encode(key))
        if i == _EMPTY:
            raise KeyError(key)
        return self._value(i)

    def get(self, key: str, default: object = None) -> ExactEntry | int | None:  # type: ignore[override]
        i = self._find(_encode(key))
        return self._value(i) if i != _EMPTY else default  # type: ignore[return-value]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(_encode(key)) != _EMPTY

    def __len__(self) -> int:
        return len(self.hashes)

    def __iter__(self) -> Iterator[str]:
        keys, offsets = self.text, self.offsets
        for i in range(len(self.hashes)):
            yield keys[offsets[i] : offsets[i + 1]].decode("utf-8", "surrogatepass")
