"""Crash-safe writing of tape parts.

A Parquet file is unreadable until ``close()`` writes its footer, so a tape never keeps a
long-lived writer open. Rows are batched in memory and committed as small part files: written
under a temporary dot-name, closed, fsynced, renamed into place, then the directory is fsynced.
A reader never sees a half-written part; SIGKILL loses at most the rows of the current batch,
i.e. at most one flush interval.

:class:`PartWriter` owns one background thread per kind. Capture hooks call :meth:`append`,
which only appends to a list under a lock: it never blocks on IO. A write error is fatal: the
writer records it, calls ``on_fatal`` (the recorder shuts down loudly) and every later
:meth:`append` raises :class:`~understudy.errors.TapeWriteError`, so the caller can refuse
traffic instead of forwarding it unrecorded.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from understudy.errors import TapeWriteError
from understudy.tape.schema import META_KIND, META_SCHEMA_VERSION, SCHEMA_VERSION, schema_for

__all__ = ["PART_PREFIX", "TMP_PREFIX", "PartWriter", "WriterStats", "commit_part", "fsync_dir"]

PART_PREFIX = "part-"
TMP_PREFIX = ".tmp-"

Row = Mapping[str, Any]


def fsync_dir(path: Path) -> None:
    """fsync a directory so a rename inside it survives a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit_part(directory: Path, kind: str, rows: list[Row], *, name: str | None = None) -> Path:
    """Write ``rows`` as one Parquet part in ``directory`` atomically; return its path.

    The file is created 0600 under a temporary dot-name, fsynced, then renamed into place.
    Raises :class:`TapeWriteError` on any OS or Arrow failure, leaving no partial part behind.
    """
    schema = schema_for(kind).with_metadata(
        {META_SCHEMA_VERSION: str(SCHEMA_VERSION).encode(), META_KIND: kind.encode()}
    )
    if name is None:
        name = f"{PART_PREFIX}{time.time_ns():020d}-{os.getpid()}-{secrets.token_hex(4)}.parquet"
    final = directory / name
    tmp = directory / f"{TMP_PREFIX}{name}"
    try:
        table = pa.Table.from_pylist(rows, schema=schema)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            pq.write_table(table, f, compression="zstd", write_statistics=True)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, final)
        fsync_dir(directory)
    except (OSError, pa.ArrowException, ValueError, TypeError) as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        msg = f"cannot commit {len(rows)} {kind} rows to {directory}: {exc}"
        raise TapeWriteError(msg) from exc
    return final


@dataclass
class WriterStats:
    """Counters in the spirit of tcpdump's: what was captured, committed and lost."""

    captured: int = 0
    committed: int = 0
    parts: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "captured": self.captured,
            "committed": self.committed,
            "parts": self.parts,
            "dropped": dict(self.dropped),
        }


class PartWriter:
    """Batch rows of one kind and commit them as parts from a background thread.

    Parameters
    ----------
    tape:
        The tape directory (must exist); parts go to ``tape/<kind>/``.
    kind:
        ``"http"`` or ``"sql"``.
    flush_rows, flush_bytes, flush_interval:
        Commit when the batch holds this many rows, this many (estimated) bytes, or is this
        many seconds old, whichever comes first.
    on_fatal:
        Called once, from the writer thread, with the error that stopped writing.
    """

    def __init__(
        self,
        tape: Path,
        kind: str,
        *,
        flush_rows: int = 20_000,
        flush_bytes: int = 16 * 1024 * 1024,
        flush_interval: float = 1.0,
        on_fatal: Callable[[TapeWriteError], None] | None = None,
    ) -> None:
        schema_for(kind)  # validates kind
        self.kind = kind
        self.directory = tape / kind
        self.flush_rows = flush_rows
        self.flush_bytes = flush_bytes
        self.flush_interval = flush_interval
        self.on_fatal = on_fatal
        self.stats = WriterStats()
        self.error: TapeWriteError | None = None
        self._rows: list[Row] = []
        self._bytes = 0
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        try:
            self.directory.mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise TapeWriteError(f"cannot create {self.directory}: {exc}") from exc

    # -- producer side (any thread, never blocks on IO) ---------------------------------
    def append(self, row: Row, nbytes: int = 256) -> None:
        """Queue one row; raise :class:`TapeWriteError` if the writer has failed."""
        with self._cond:
            if self.error is not None:
                self.stats.dropped["writer failed"] += 1
                raise self.error
            if self._closing:
                self.stats.dropped["writer closed"] += 1
                raise TapeWriteError(f"{self.kind} writer is closed")
            self._rows.append(row)
            self._bytes += nbytes
            self.stats.captured += 1
            if len(self._rows) >= self.flush_rows or self._bytes >= self.flush_bytes:
                self._cond.notify()

    @property
    def healthy(self) -> bool:
        return self.error is None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"understudy-{self.kind}-writer", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Commit what is queued and stop the thread. Raises the fatal error, if any."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        else:
            self._flush()
        if self.error is not None:
            raise self.error

    def flush(self) -> None:
        """Commit the current batch now (from the calling thread)."""
        self._flush()

    # -- writer thread ----------------------------------------------------------------------
    def _run(self) -> None:
        deadline = time.monotonic() + self.flush_interval
        while True:
            with self._cond:
                while (
                    not self._closing
                    and len(self._rows) < self.flush_rows
                    and (self._bytes < self.flush_bytes)
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                closing = self._closing
            self._flush()
            deadline = time.monotonic() + self.flush_interval
            if closing or self.error is not None:
                return

    def _flush(self) -> None:
        with self._cond:
            rows, self._rows, self._bytes = self._rows, [], 0
        if not rows or self.error is not None:
            if rows:
                with self._cond:
                    self.stats.dropped["writer failed"] += len(rows)
            return
        try:
            commit_part(self.directory, self.kind, rows)
        except TapeWriteError as exc:
            with self._cond:
                self.error = exc
                self.stats.dropped["write error"] += len(rows)
            if self.on_fatal is not None:
                self.on_fatal(exc)
            return
        with self._cond:
            self.stats.committed += len(rows)
            self.stats.parts += 1
