"""The prepared index on disk: what the child writes and the serving process reads.

A private directory (0700, files 0600) holding::

    index.json       format, version, table row counts, and the small indexes (routes,
                     representatives, statuses, durations, near-miss buckets, multi-row keys)
    exact-*.bin      the arrays of :class:`~replayer.prepared.exact.CompactExact`
    responses.bin    the responses, one record per row (:mod:`replayer.prepared.responses`)
    responses-offsets.bin

Arrays are raw native-endian int64 (child and parent are the same machine and Python).
Everything is JSON or flat integers: nothing on load runs code (no pickle), and every size is
checked before use.
"""

from __future__ import annotations

import json
import os
from array import array
from collections import Counter
from pathlib import Path
from typing import Any, Final

from replayer.core.index import ExactEntry, ExchangeIndex, Representative
from replayer.prepared.exact import CompactExact
from replayer.prepared.responses import FileResponses
from understudy.matchkey import MatchKey

__all__ = ["PREPARED_FORMAT", "PREPARED_VERSION", "load_prepared", "write_index"]

PREPARED_FORMAT: Final = "understudy-prepared-http-index"
PREPARED_VERSION: Final = 1
INDEX_JSON: Final = "index.json"
RESPONSES: Final = "responses.bin"
_ARRAYS: Final = ("offsets", "hashes", "rows", "slots")
_MAX_INDEX_JSON: Final = 1024 * 1024 * 1024


def _write(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _entry_json(e: ExactEntry) -> list[Any]:
    return [list(e.rows), e.by_identity, e.by_class]


def write_index(
    out: Path, index: ExchangeIndex, rows: dict[str, int], response_offsets: array[int]
) -> None:
    """Write ``index`` (and the offsets of ``responses.bin``, already written) into ``out``."""
    exact = CompactExact.from_dict(index.exact)
    _write(out / "exact-text.bin", exact.text)
    for name in _ARRAYS:
        _write(out / f"exact-{name}.bin", getattr(exact, name).tobytes())
    _write(out / "responses-offsets.bin", response_offsets.tobytes())
    doc = {
        "format": PREPARED_FORMAT,
        "version": PREPARED_VERSION,
        "rows": rows,
        "exchanges": index.exchanges,
        "routes": sorted(index.routes),
        "class_counts": list(index.class_counts.items()),
        "representatives": [[list(k), r.row, r.path] for k, r in index.representatives.items()],
        "by_status": [[*k, list(v.items())] for k, v in index.by_status.items()],
        "host_status": [[*k, v] for k, v in index.host_status.items()],
        "durations_ms": [[*k, v] for k, v in index.durations_ms.items()],
        "near": [
            [list(k), [[m.method, m.host, m.path, m.query, m.body] for m in v]]
            for k, v in index.near.items()
        ],
        "entries": [_entry_json(e) for e in exact.entries],
    }
    _write(out / INDEX_JSON, json.dumps(doc, separators=(",", ":")).encode())


def _array(path: Path) -> array[int]:
    a = array("q")
    data = path.read_bytes()
    if len(data) % a.itemsize:
        raise ValueError(f"{path.name}: not a whole number of int64")
    a.frombytes(data)
    return a


def _seq(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list) or not all(type(v) is int for v in value):
        raise ValueError("an exact entry holds a row that is not an integer")
    return tuple(value)


def _by(value: Any) -> dict[str, tuple[int, ...]] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("an exact entry's sequences are not an object")
    return {str(k): _seq(v) for k, v in value.items()}


def load_prepared(out: Path) -> tuple[dict[str, int], ExchangeIndex, FileResponses]:
    """Read what :func:`write_index` wrote: table row counts, the index, the responses.

    Raises ``ValueError`` (or ``OSError``) when anything is missing or inconsistent. The
    response file stays open (the directory may be removed once this returns).
    """
    meta = out / INDEX_JSON
    if meta.stat().st_size > _MAX_INDEX_JSON:
        raise ValueError(f"{INDEX_JSON} is larger than any prepared index")
    doc = json.loads(meta.read_bytes())
    if not isinstance(doc, dict) or doc.get("format") != PREPARED_FORMAT:
        raise ValueError(f"{INDEX_JSON} is not a prepared index")
    if doc.get("version") != PREPARED_VERSION:
        raise ValueError(f"prepared index version {doc.get('version')!r} is not {PREPARED_VERSION}")
    try:
        idx = ExchangeIndex(exchanges=int(doc["exchanges"]))
        idx.routes = {(h, m, r) for h, m, r in doc["routes"]}
        idx.class_counts = Counter({str(k): int(n) for k, n in doc["class_counts"]})
        idx.representatives = {
            tuple(k): Representative(int(row), str(path)) for k, row, path in doc["representatives"]
        }
        idx.by_status = {
            (h, m, r, int(st)): {str(c): int(row) for c, row in found}
            for h, m, r, st, found in doc["by_status"]
        }
        idx.host_status = {(h, int(st)): int(row) for h, st, row in doc["host_status"]}
        idx.durations_ms = {
            (h, m, r): [float(v) for v in vs] for h, m, r, vs in doc["durations_ms"]
        }
        idx.near = {tuple(k): [MatchKey(*parts) for parts in v] for k, v in doc["near"]}
        entries = [ExactEntry(_seq(rows), _by(i), _by(c)) for rows, i, c in doc["entries"]]
        rows = {str(k): int(v) for k, v in doc["rows"].items()}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{INDEX_JSON} is malformed ({exc})") from exc
    arrays = {name: _array(out / f"exact-{name}.bin") for name in _ARRAYS}
    idx.exact = CompactExact(
        (out / "exact-text.bin").read_bytes(),
        arrays["offsets"], arrays["hashes"], arrays["rows"], arrays["slots"], entries,
    )  # fmt: skip
    offsets = _array(out / "responses-offsets.bin")
    fd = os.open(out / RESPONSES, os.O_RDONLY)
    try:
        responses = FileResponses(fd, offsets)
    except BaseException:
        os.close(fd)
        raise
    return rows, idx, responses
