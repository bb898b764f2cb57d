"""The tape sink shared by the HTTP and PostgreSQL capture paths of one recorder process.

It owns the tape directory, one :class:`~understudy.tape.PartWriter` per kind, the redactor,
``tape.json``, and the counters printed on exit. Capture code calls :meth:`TapeSink.append`;
if the tape cannot be written the sink is marked failed, ``on_fatal`` stops the recorder, and
capture code refuses further traffic instead of forwarding it unrecorded.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import understudy
from understudy.errors import TapeWriteError
from understudy.redact import Redactor
from understudy.tape.meta import ensure_tape_dir, update_meta, utcnow
from understudy.tape.writer import PartWriter

__all__ = ["KindWriter", "TapeSink"]


class KindStats(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


class KindWriter(Protocol):
    """What the sink needs of a kind's writer: :class:`PartWriter`, or the SQL spool."""

    @property
    def stats(self) -> KindStats: ...

    def append(self, row: Mapping[str, Any], nbytes: int = 256) -> None: ...

    def close(self) -> None: ...


class TapeSink:
    """Writers, redactor and counters for one recording session."""

    def __init__(
        self,
        tape: Path,
        redactor: Redactor,
        *,
        flush_interval: float = 1.0,
        on_fatal: Callable[[TapeWriteError], None] | None = None,
    ) -> None:
        self.tape = ensure_tape_dir(tape)
        self.redactor = redactor
        self.flush_interval = flush_interval
        self.on_fatal = on_fatal
        self.counters: Counter[str] = Counter()
        self.fatal: TapeWriteError | None = None
        self._writers: dict[str, KindWriter] = {}
        self._lock = threading.Lock()
        self.started = utcnow()

    def open(self, kinds: tuple[str, ...]) -> None:
        """Create the writers for ``kinds`` and record the session start in ``tape.json``."""
        for kind in kinds:
            w = PartWriter(self.tape, kind, flush_interval=self.flush_interval, on_fatal=self.fail)
            w.start()
            self._writers[kind] = w
        update_meta(
            self.tape,
            started=self.started,
            recorder_version=understudy.__version__,
            kinds=sorted(set(kinds) | set(self._known_kinds())),
            redaction=self.redactor.policy.summary(),
        )

    def attach(self, kind: str, writer: KindWriter) -> None:
        """Let ``writer`` commit ``kind`` instead of a :class:`PartWriter` (none queued yet)."""
        old = self._writers.get(kind)
        self._writers[kind] = writer
        if old is not None:
            old.close()

    def _known_kinds(self) -> list[str]:
        return [k for k in ("http", "sql") if (self.tape / k).is_dir()]

    def fail(self, exc: TapeWriteError) -> None:
        with self._lock:
            first = self.fatal is None
            self.fatal = self.fatal or exc
        if first and self.on_fatal is not None:
            self.on_fatal(exc)

    @property
    def healthy(self) -> bool:
        return self.fatal is None

    def append(self, kind: str, row: Mapping[str, Any], nbytes: int = 256) -> None:
        """Queue a row; raises :class:`TapeWriteError` once the tape cannot be written."""
        if self.fatal is not None:
            self.counters[f"{kind}.dropped.writer failed"] += 1
            raise self.fatal
        self._writers[kind].append(row, nbytes)

    def count(self, name: str, n: int = 1) -> None:
        """Bump a named counter (e.g. ``http.body_truncated``); thread-safe enough for stats."""
        self.counters[name] += n

    def close(self) -> dict[str, Any]:
        """Flush and stop every writer, stamp ``ended`` into ``tape.json``; return counters."""
        errors: list[TapeWriteError] = []
        for w in self._writers.values():
            try:
                w.close()
            except TapeWriteError as exc:
                errors.append(exc)
        if self.fatal is None and not errors:
            update_meta(self.tape, ended=utcnow())
        summary = self.summary()
        if errors:
            raise errors[0]
        return summary

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for kind, w in self._writers.items():
            d = w.stats.as_dict()
            extra = {
                k.split(".", 1)[1]: v for k, v in self.counters.items() if k.startswith(kind + ".")
            }
            for key, value in extra.items():
                known = d.get(key)
                d[key] = known + value if isinstance(known, int) else value
            out[kind] = d
        return out
