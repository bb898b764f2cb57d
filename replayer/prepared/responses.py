"""Recorded responses in one file, read on demand: the serving process keeps only offsets.

``responses.bin`` holds one record per ``http_responses`` row, end to end; ``offsets[i]`` is
where row ``i`` starts (``offsets[n]`` the file size). A record is a 4-byte little-endian
length, that many bytes of JSON ``[status, headers, response_id, truncated]`` (headers as
recorded, ``[[name, value], ...]``), then the body. A row is read (``os.pread``) and
materialised the first time a decision needs it, then shared, like
:class:`~replayer.core.responses.ResponseStore` does from Arrow; the page cache, not the
process, holds the rest.
"""

from __future__ import annotations

import json
import os
from array import array
from collections.abc import Iterable
from itertools import pairwise
from typing import IO, Any, Final

from replayer.core.responses import clean_headers
from replayer.core.types import StoredResponse

__all__ = ["FileResponses", "write_responses"]

_LEN: Final = 4


def write_responses(out: IO[bytes], rows: Iterable[tuple[Any, Any, Any, Any, Any]]) -> array[int]:
    """Write ``(status, headers, body, response_id, truncated)`` rows; return the offsets."""
    offsets = array("q", [0])
    pos = 0
    for status, headers, body, response_id, truncated in rows:
        pairs = [
            [h.get("name"), h.get("value")] if isinstance(h, dict) else list(h)
            for h in headers or ()
        ]
        meta = json.dumps([status, pairs, response_id, bool(truncated)]).encode()
        data = bytes(body or b"")
        out.write(len(meta).to_bytes(_LEN, "little"))
        out.write(meta)
        out.write(data)
        pos += _LEN + len(meta) + len(data)
        offsets.append(pos)
    return offsets


class FileResponses:
    """Table row -> :class:`StoredResponse`, read from an open ``responses.bin``."""

    def __init__(self, fd: int, offsets: array[int]) -> None:
        size = os.fstat(fd).st_size
        if not offsets or offsets[0] != 0 or offsets[-1] != size:
            raise ValueError("response offsets do not cover the response file")
        if any(b - a < _LEN for a, b in pairwise(offsets)):
            raise ValueError("response offsets are not ascending records")
        self._fd = fd
        self._offsets = offsets
        self._cache: dict[int, StoredResponse] = {}

    def __len__(self) -> int:
        return len(self._offsets) - 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def get(self, row: int) -> StoredResponse:
        """The response at table row ``row`` (read once, then shared)."""
        cached = self._cache.get(row)
        if cached is not None:
            return cached
        if not 0 <= row < len(self):
            raise IndexError(f"response row {row} out of range")
        start, end = self._offsets[row], self._offsets[row + 1]
        record = os.pread(self._fd, end - start, start)
        n = int.from_bytes(record[:_LEN], "little")
        status, headers, response_id, truncated = json.loads(record[_LEN : _LEN + n])
        resp = StoredResponse(
            int(status) if status is not None else 200,
            clean_headers(tuple(h) for h in headers),
            record[_LEN + n :],
            response_id=response_id,
            truncated=bool(truncated),
        )
        self._cache[row] = resp
        return resp
