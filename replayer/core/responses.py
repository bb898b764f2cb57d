"""Recorded responses, materialised lazily from the world's ``http_responses`` table.

:class:`Responses` is what the behaviour core needs of them; :class:`ResponseStore` holds them
in Arrow (building an index, tests), :class:`~replayer.prepared.responses.FileResponses` in a
file read on demand (the serving process, which never imports Arrow).

A world of 100k exchanges may hold 100k distinct bodies; they stay in Arrow memory until a
request needs one, then become a :class:`StoredResponse` (cached, shared by decisions).
Framing headers (Content-Length, Transfer-Encoding, Content-Encoding: bodies are stored
decoded) and hop-by-hop headers are dropped: front doors frame the body themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Final, Protocol

from replayer.core.types import Headers, StoredResponse

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["DROP_HEADERS", "ResponseStore", "Responses", "clean_headers"]

#: Headers a replayed response never carries as recorded.
DROP_HEADERS: Final = frozenset(
    {
        "content-length",
        "transfer-encoding",
        "content-encoding",
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "te",
        "trailer",
        "alt-svc",
    }
)


def clean_headers(headers: Iterable[Any]) -> Headers:
    """Recorded header structs (or pairs) without framing and hop-by-hop headers."""
    out = []
    for h in headers or ():
        name, value = (h["name"], h["value"]) if isinstance(h, dict) else h
        if not isinstance(name, str) or not isinstance(value, str):
            continue
        if name.lower() in DROP_HEADERS or "\r" in value or "\n" in value or not name.strip():
            continue
        out.append((name, value))
    return tuple(out)


class Responses(Protocol):
    """What the behaviour core reads of recorded responses: table row -> response."""

    def __len__(self) -> int: ...

    def get(self, row: int) -> StoredResponse: ...


class ResponseStore:
    """Table row -> :class:`StoredResponse`, built on first use (nothing per row until then)."""

    def __init__(self, table: pa.Table) -> None:
        self._table = table
        self._cache: dict[int, StoredResponse] = {}

    def __len__(self) -> int:
        return int(self._table.num_rows)

    def ids_table(self) -> pa.Table:
        """``response_id``, ``row``, ``stored_status`` (the first row of each id), for joins."""
        import pyarrow as pa

        t = self._table
        rows = pa.table({
            "response_id": t.column("response_id"),
            "row": pa.array(range(t.num_rows), pa.int64()),
            "stored_status": t.column("status"),
        })  # fmt: skip
        first = rows.group_by("response_id", use_threads=False).aggregate(
            [("row", "first"), ("stored_status", "first")]
        )
        return first.rename_columns(["response_id", "row", "stored_status"])

    def get(self, row: int) -> StoredResponse:
        """The response at table row ``row`` (materialised once, then shared)."""
        cached = self._cache.get(row)
        if cached is not None:
            return cached
        t = self._table
        status = t.column("status")[row].as_py()
        body = t.column("body")[row].as_py() or b""
        resp = StoredResponse(
            int(status) if status is not None else 200,
            clean_headers(t.column("headers")[row].as_py() or ()),
            bytes(body),
            response_id=t.column("response_id")[row].as_py(),
            truncated=bool(t.column("body_truncated")[row].as_py()),
        )
        self._cache[row] = resp
        return resp
