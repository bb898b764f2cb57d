"""The SQL decoder process: follow a recorder's wire spool, commit statement rows to the tape.

Started by the relay (:class:`~recorder.pg.spool.SpoolWriter`), never by hand::

    python -m recorder.pg.decode --tape TAPE --prefix PID-TOKEN

It lowers its own CPU priority (``UNDERSTUDY_PG_DECODER_PRIORITY``: ``idle``, the default,
``low`` or ``normal``) and, while other processes keep the host busy, holds itself to a share
of one CPU (:mod:`recorder.pg.pace`). It decodes the spools of recorders that died on this
tape first, then follows its own recorder's segments until the recorder closes its standard
input. It writes JSON lines on standard output: ``{"ready": true}`` once it has started (the
recorder listens only then), ``{"fatal": ...}`` when the tape cannot be written (then it
exits 1), and ``{"summary": ...}`` (the counters) before a normal exit.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

from recorder.pg.capture import Row, Tracker
from recorder.pg.pace import Pace, Pacer
from recorder.pg.rows import CaptureSettings, Session
from recorder.pg.spool import (
    CLIENT,
    CLOSE,
    OPEN,
    SERVER,
    SPOOL_DIR,
    SpoolReader,
    leftover_prefixes,
    lower_priority,
    opened_connections,
    read_config,
)
from understudy.errors import TapeWriteError, UnderstudyError
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor, load_key
from understudy.sqlredact import SqlRedactor
from understudy.tape.writer import PartWriter

__all__ = ["Decoder", "main"]

_SAY = threading.Lock()


def say(**msg: Any) -> None:
    """One JSON line to the recorder."""
    line = json.dumps(msg, default=str)
    with _SAY:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def settings_from_json(data: dict[str, Any]) -> CaptureSettings:
    """The relay's :class:`CaptureSettings` (unknown or malformed fields keep defaults)."""
    known = {f.name for f in dataclasses.fields(CaptureSettings)}
    return CaptureSettings(
        **{k: int(v) for k, v in data.items() if k in known and isinstance(v, int)}
    )


class Decoder:
    """Trackers per connection of one spool, rows into one :class:`PartWriter`."""

    def __init__(
        self,
        writer: PartWriter,
        redactor: SqlRedactor,
        settings: CaptureSettings,
        counters: Counter[str],
    ) -> None:
        self.writer = writer
        self.redactor = redactor
        self.settings = settings
        self.counters = counters
        self.skip: set[str] = set()  # statement ids already in the tape (recovery)

    def _count(self, name: str, n: int) -> None:
        self.counters[name] += n

    def _emit(self, rows: list[Row]) -> None:
        append = self.writer.append
        skip = self.skip
        n = 0
        for row, nbytes in rows:
            if skip and row["statement_id"] in skip:
                continue
            append(row, nbytes)
            n += 1
        self.counters["sql.statements"] += n

    def run(self, reader: SpoolReader, pacer: Pacer | None = None) -> None:
        """Decode every record ``reader`` yields; raises :class:`TapeWriteError`.

        ``pacer`` holds the decoder back while the host is busy, until the recorder stops.
        """
        trackers: dict[int, Tracker] = {}
        last = 0.0
        emit = self._emit
        for conn, kind, ts, data in reader.records():
            last = ts
            if pacer is not None:
                pacer.tick(ts)
                if not pacer.enabled:
                    pacer = None
            if kind == SERVER:
                tracker = trackers.get(conn)
                if tracker is not None:
                    rows = tracker.server_bytes(data, ts)
                    if rows:
                        emit(rows)
            elif kind == CLIENT:
                tracker = trackers.get(conn)
                if tracker is not None:
                    tracker.client_bytes(data, ts)
            elif kind == OPEN:
                try:
                    info = json.loads(data)
                    params = {str(k): str(v) for k, v in dict(info["params"]).items()}
                    session = Session(str(info["conn_id"]), info.get("client_addr"), params)
                except (ValueError, KeyError, TypeError):
                    self.counters["sql.parse_errors"] += 1
                    continue
                trackers[conn] = Tracker(session, self.redactor, self.settings, self._count)
            elif kind == CLOSE:
                tracker = trackers.pop(conn, None)
                if tracker is not None:
                    reason = data.decode("utf-8", "replace")
                    emit(tracker.close(reason, ts))
        for tracker in trackers.values():  # the recorder died with these open
            emit(tracker.close("recorder stopped before the connection ended", last))
        if reader.truncated:
            self.counters["sql.spool_truncated_bytes"] += reader.truncated


def committed_statements(tape: Path, conn_ids: set[str]) -> set[str]:
    """The ``statement_id`` of rows of these connections already committed to ``tape``."""
    if not conn_ids:
        return set()
    from understudy.tape.reader import open_tape  # only when recovering

    parts = open_tape(tape).parts.get("sql") or []
    if not parts:
        return set()
    import polars as pl

    ids = (
        pl.scan_parquet([str(p) for p in parts])
        .filter(pl.col("conn_id").is_in(sorted(conn_ids)))
        .select("statement_id")
        .collect()
    )
    return set(ids["statement_id"].to_list())


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m recorder.pg.decode",
        description="Decode a PostgreSQL recorder's wire spool into the tape (started by the "
        "recorder).",
    )
    p.add_argument("--tape", required=True, type=Path)
    p.add_argument("--prefix", required=True)
    args = p.parse_args(argv)
    try:
        pace = Pace.from_env()
    except UnderstudyError as exc:
        say(fatal=str(exc))
        return 1
    lower_priority(pace.priority)
    directory = args.tape / SPOOL_DIR
    config = read_config(directory, args.prefix)
    counters: Counter[str] = Counter()
    failed = threading.Event()

    def on_fatal(exc: TapeWriteError) -> None:  # writer thread
        failed.set()
        say(fatal=str(exc))

    try:
        key = load_key()
        writer = PartWriter(
            args.tape, "sql", flush_interval=float(config.get("flush_interval", 1.0)),
            on_fatal=on_fatal,
        )  # fmt: skip
    except (UnderstudyError, OSError) as exc:
        say(fatal=str(exc))
        return 1
    writer.start()
    say(ready=True)  # imports and the tape writer are done: the recorder may listen now

    def decoder_for(cfg: dict[str, Any]) -> Decoder:
        policy = RedactionPolicy.from_summary(dict(cfg.get("policy") or {}))
        redactor = SqlRedactor(Redactor(policy, Pseudonymizer(key)))
        settings = settings_from_json(dict(cfg.get("capture") or {}))
        return Decoder(writer, redactor, settings, counters)

    try:
        for prefix in leftover_prefixes(directory, args.prefix):
            # A decoder that died may have committed some of these rows already.
            recover = decoder_for(read_config(directory, prefix) or config)
            recover.skip = committed_statements(args.tape, opened_connections(directory, prefix))
            recover.run(SpoolReader(directory, prefix, None, writer.flush))
            (directory / f"{prefix}.json").unlink(missing_ok=True)
            (directory / f"{prefix}.lock").unlink(missing_ok=True)
            counters["sql.recovered_spools"] += 1
        reader = SpoolReader(directory, args.prefix, sys.stdin.fileno(), writer.flush)
        pacer = Pacer(pace, stopping=reader.stopping)
        decoder_for(config).run(reader, pacer)
        writer.close()
    except TapeWriteError as exc:
        if not failed.is_set():
            say(fatal=str(exc))
        return 1
    (directory / f"{args.prefix}.json").unlink(missing_ok=True)
    summary: dict[str, Any] = writer.stats.as_dict()
    for name, value in counters.items():
        summary[name.split(".", 1)[1]] = value
    if pacer.paced_s:
        summary["decoder_paced_seconds"] = round(pacer.paced_s, 1)
    say(summary=summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
