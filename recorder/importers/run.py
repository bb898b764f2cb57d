"""One import: check every input, convert each exchange with the recorder's row builder,
stage the rows, and commit them into the tape only when every file has been read.

>>> import json, tempfile
>>> from understudy.tape import open_tape
>>> har = {"log": {"entries": [{"startedDateTime": "2026-01-02T03:04:05Z", "time": 5,
...     "request": {"method": "GET", "url": "https://api.example.com/v1/me",
...                 "headers": [{"name": "Authorization", "value": "Bearer sk_live_1"}]},
...     "response": {"status": 200, "headers": [], "content": {"text": "{}"}}}]}}
>>> with tempfile.TemporaryDirectory() as d:
...     src = Path(d) / "a.har"
...     _ = src.write_text(json.dumps(har))
...     report = import_files("har", [src], Path(d) / "t.tape", redactor=Redactor(
...         RedactionPolicy(), Pseudonymizer(b"k" * 32)))
...     row = open_tape(report.tape).read("http").to_pylist()[0]
>>> report.exchanges, row["identity"].startswith("redacted:"), row["duration_ms"]
(1, True, 5.0)
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import understudy
from recorder.http.rows import CaptureSettings, flow_to_row, row_nbytes
from recorder.importers.flows import Imported, Skip
from recorder.importers.har import read_har
from recorder.importers.mitmflows import read_flows
from recorder.importers.source import DEFAULT_MAX_SIZE, check_inputs
from recorder.importers.staging import StagedTape
from recorder.importers.vcr import SyntheticClock, read_vcr
from understudy.errors import ConfigError
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor
from understudy.tape.meta import utcnow

__all__ = ["FORMATS", "FileReport", "ImportReport", "import_files"]

#: The formats ``understudy import`` reads, by subcommand name.
FORMATS: Final = ("har", "vcr", "mitm")

Reader = Callable[[Path], Iterator[Imported | Skip]]


@dataclass
class FileReport:
    """What one input file contributed."""

    path: Path
    exchanges: int = 0
    skipped: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "exchanges": self.exchanges, "skipped": dict(self.skipped)}


@dataclass
class ImportReport:
    """The outcome of :func:`import_files`."""

    format: str
    tape: Path
    created: bool
    files: list[FileReport]
    parts: int = 0
    synthetic_timestamps: bool = False
    started: str | None = None
    ended: str | None = None

    @property
    def exchanges(self) -> int:
        return sum(f.exchanges for f in self.files)

    @property
    def skipped(self) -> int:
        return sum(sum(f.skipped.values()) for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "tape": str(self.tape),
            "created": self.created,
            "files": [f.as_dict() for f in self.files],
            "exchanges": self.exchanges,
            "skipped": self.skipped,
            "parts": self.parts,
            "synthetic_timestamps": self.synthetic_timestamps,
            "started": self.started,
            "ended": self.ended,
        }


def _iso(micros: int) -> str:
    return datetime.fromtimestamp(micros / 1e6, UTC).isoformat(timespec="microseconds")


def _reader(fmt: str, max_size: int, clock: SyntheticClock) -> Reader:
    match fmt:
        case "har":
            return lambda p: read_har(p, max_size)
        case "vcr":
            return lambda p: read_vcr(p, max_size, clock)
        case "mitm":
            return lambda p: read_flows(p, max_size)
        case _:
            raise ConfigError(f"unknown import format {fmt!r}: use one of {', '.join(FORMATS)}")


def _row(item: Imported, capture: CaptureSettings, redactor: Redactor) -> dict[str, Any] | str:
    """The tape row of ``item``, or why it could not be built."""
    try:
        row = flow_to_row(item.flow, capture, redactor)
    except Exception as exc:  # as in live capture: one odd flow never stops the import
        return f"unconvertible flow ({type(exc).__name__})"
    row.update(item.overrides)
    return row


def import_files(
    fmt: str,
    paths: Sequence[Path],
    tape: Path,
    *,
    redactor: Redactor | None = None,
    capture: CaptureSettings | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
) -> ImportReport:
    """Import ``paths`` (all of format ``fmt``) into the tape ``tape``, all or nothing.

    Raises :class:`ConfigError` (nothing written) for an unreadable, oversized or malformed
    input, a target that cannot be a tape, or inputs holding no HTTP exchange at all.
    """
    if redactor is None:
        from understudy.redact import load_key

        redactor = Redactor(RedactionPolicy(), Pseudonymizer(load_key()))
    capture = capture or CaptureSettings()
    inputs = check_inputs(paths, max_size=max_size)
    clock = SyntheticClock(time.time())
    read = _reader(fmt, max_size, clock)
    lo: int | None = None
    hi: int | None = None
    with StagedTape(tape) as staged:
        report = ImportReport(fmt, staged.target, created=not staged.existing, files=[])
        for source in inputs:
            fr = FileReport(source.path)
            report.files.append(fr)
            for item in read(source.path):
                row = item.reason if isinstance(item, Skip) else _row(item, capture, redactor)
                if isinstance(row, str):
                    fr.skipped[row] += 1
                    continue
                staged.add(row, row_nbytes(row))
                fr.exchanges += 1
                lo = row["ts_start"] if lo is None else min(lo, row["ts_start"])
                hi = row["ts_end"] if hi is None else max(hi, row["ts_end"])
        if lo is None or hi is None:
            names = ", ".join(str(p) for p in paths[:3]) + (" ..." if len(paths) > 3 else "")
            raise ConfigError(f"no HTTP exchange found in {names}; nothing written")
        report.started, report.ended = _iso(lo), _iso(hi)
        report.synthetic_timestamps = clock.used
        old = staged.meta
        ended = max(filter(None, [old.get("ended"), report.ended]))
        imports = [*old.get("imports", []), {
            "format": fmt,
            "files": [str(s.path) for s in inputs],
            "exchanges": report.exchanges,
            "at": utcnow(),
            "timestamps": "synthesized" if clock.used else "recorded",
        }]  # fmt: skip
        staged.commit(
            started=report.started,
            ended=ended,
            recorder_version=understudy.__version__,
            kinds=sorted({"http", *old.get("kinds", [])}),
            redaction=redactor.policy.summary(),
            imports=imports,
            synthetic_timestamps=bool(old.get("synthetic_timestamps")) or clock.used,
        )
        report.parts = len(staged.parts)
    return report
