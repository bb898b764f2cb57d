"""The tape contract: atomic parts, owner-only files, leftovers skipped and named, migrations."""

from __future__ import annotations

import json
import os
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from understudy.errors import TapeError, TapeFormatError, TapeWriteError
from understudy.tape import (
    HTTP_SCHEMA,
    SCHEMA_VERSION,
    PartWriter,
    commit_part,
    ensure_tape_dir,
    open_tape,
    read_meta,
    update_meta,
)
from understudy.tape import migrate as migrate_mod


def http_row(i: int) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "exchange_id": f"ex-{i}",
        "ts_start": now,
        "ts_end": now,
        "duration_ms": 1.5,
        "method": "GET",
        "scheme": "http",
        "host": "api.test",
        "port": 80,
        "path": f"/items/{i}",
        "query": "",
        "status": 200,
        "request_headers": [{"name": "Accept", "value": "*/*"}, {"name": "X-A", "value": "1"}],
        "response_body": bytes(range(256)),
    }


def test_commit_part_is_atomic_and_owner_only(tmp_path: Path) -> None:
    tape = ensure_tape_dir(tmp_path / "t")
    (tape / "http").mkdir()
    part = commit_part(tape / "http", "http", [http_row(i) for i in range(3)])
    assert stat.S_IMODE(os.stat(tape).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(part).st_mode) == 0o600
    assert not [p for p in (tape / "http").iterdir() if p.name.startswith(".")]
    md = pq.read_metadata(part).metadata
    assert md[b"understudy.schema_version"] == str(SCHEMA_VERSION).encode()
    table = pq.read_table(part)
    assert table.schema.equals(HTTP_SCHEMA, check_metadata=False)
    assert table.column("response_body")[0].as_py() == bytes(range(256))  # bytes kept exactly
    assert table.column("request_headers")[0].as_py()[1] == {"name": "X-A", "value": "1"}


def test_writer_flushes_on_interval_and_close(tmp_path: Path) -> None:
    tape = ensure_tape_dir(tmp_path / "t")
    w = PartWriter(tape, "http", flush_interval=0.05)
    w.start()
    for i in range(10):
        w.append(http_row(i))
    deadline = time.monotonic() + 10
    while w.stats.committed < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.stats.committed == 10  # committed by the interval, before close
    w.append(http_row(10))
    w.close()
    t = open_tape(tape)
    assert t.count("http") == 11
    assert t.scan("http").select(pl.col("exchange_id").n_unique()).collect().item() == 11


def test_writer_flushes_on_row_count(tmp_path: Path) -> None:
    tape = ensure_tape_dir(tmp_path / "t")
    w = PartWriter(tape, "http", flush_rows=5, flush_interval=3600)
    w.start()
    for i in range(12):
        w.append(http_row(i))
    deadline = time.monotonic() + 10
    while w.stats.committed < 10 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.stats.committed >= 10
    w.close()
    assert open_tape(tape).count("http") == 12


def test_write_error_is_fatal_and_loud(tmp_path: Path) -> None:
    tape = ensure_tape_dir(tmp_path / "t")
    fatal: list[TapeWriteError] = []
    seen = threading.Event()

    def on_fatal(exc: TapeWriteError) -> None:
        fatal.append(exc)
        seen.set()

    w = PartWriter(tape, "http", flush_interval=0.05, on_fatal=on_fatal)
    # a fault root cannot bypass: the kind directory is replaced by a regular file
    (tape / "http").rmdir()
    (tape / "http").write_bytes(b"")
    w.start()
    w.append(http_row(1))
    assert seen.wait(10)
    assert "cannot commit 1 http rows" in str(fatal[0])
    with pytest.raises(TapeWriteError):
        w.append(http_row(2))
    with pytest.raises(TapeWriteError):
        w.close()
    assert w.stats.dropped["write error"] == 1


def test_reader_skips_and_names_leftovers(tmp_path: Path) -> None:
    tape = ensure_tape_dir(tmp_path / "t")
    update_meta(tape, started="2026-01-01T00:00:00+00:00")
    (tape / "http").mkdir()
    good = commit_part(tape / "http", "http", [http_row(1)])
    (tape / "http" / ".tmp-part-1.parquet").write_bytes(b"PAR1 half")
    (tape / "http" / "part-2.parquet").write_bytes(b"")
    footerless = good.read_bytes()[:-20]
    (tape / "http" / "part-3.parquet").write_bytes(footerless)
    foreign = tape / "http" / "part-4.parquet"
    pq.write_table(pa.table({"x": [1]}), foreign)
    newer = tape / "http" / "part-5.parquet"
    pq.write_table(
        pa.table({"x": [1]}).replace_schema_metadata(
            {"understudy.schema_version": "999", "understudy.kind": "http"}
        ),
        newer,
    )
    (tape / "http" / "part-6.parquet").symlink_to("/etc/passwd")
    t = open_tape(tape)
    assert t.parts["http"] == [good]
    reasons = {s.path.name: s.reason for s in t.skipped}
    assert "temporary" in reasons[".tmp-part-1.parquet"]
    assert "empty" in reasons["part-2.parquet"]
    assert "footer" in reasons["part-3.parquet"]
    assert "not an understudy part" in reasons["part-4.parquet"]
    assert "newer" in reasons["part-5.parquet"]
    assert "symbolic link" in reasons["part-6.parquet"]
    assert t.partial
    assert t.scan("http").collect().height == 1
    assert t.scan("sql").collect().height == 0  # absent kind: empty frame of the schema


def test_tape_is_readable_by_duckdb_and_polars(tmp_path: Path) -> None:
    tape = ensure_tape_dir(tmp_path / "t")
    (tape / "http").mkdir()
    commit_part(tape / "http", "http", [http_row(i) for i in range(4)])
    glob = str(tape / "http" / "*.parquet")
    n = duckdb.sql(f"select count(*) from read_parquet('{glob}')").fetchall()
    assert n == [(4,)]
    assert pl.scan_parquet(glob).select(pl.len()).collect().item() == 4


def test_meta_rejects_newer_and_foreign(tmp_path: Path) -> None:
    tape = tmp_path / "t"
    tape.mkdir()
    (tape / "tape.json").write_text(json.dumps({"format": "understudy-tape", "schema_version": 99}))
    with pytest.raises(TapeFormatError, match="newer"):
        read_meta(tape)
    with pytest.raises(TapeFormatError, match="newer"):
        ensure_tape_dir(tape)
    (tape / "tape.json").write_text("[]")
    with pytest.raises(TapeFormatError, match="not an understudy tape"):
        open_tape(tape)


def test_ensure_tape_dir_errors(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(TapeError, match="not a directory"):
        ensure_tape_dir(f)
    with pytest.raises(TapeError, match="cannot create"):
        ensure_tape_dir(f / "sub")


def test_open_tape_errors(tmp_path: Path) -> None:
    with pytest.raises(TapeError, match="no such tape"):
        open_tape(tmp_path / "missing")
    with pytest.raises(TapeFormatError, match="not a tape"):
        open_tape(tmp_path)


def test_migration_chain_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An old part is migrated step by step; here a fake version 0 that named `status` `code`."""
    old = pa.table({"exchange_id": ["a"], "code": pa.array([201], pa.int32())})

    def migrate_0_to_1(kind: str, table: pa.Table) -> pa.Table:
        return table.rename_columns(["status" if c == "code" else c for c in table.column_names])

    monkeypatch.setitem(migrate_mod.MIGRATIONS, 0, migrate_0_to_1)
    out = migrate_mod.migrate("http", old, 0)
    assert out.schema.equals(HTTP_SCHEMA)
    assert out.column("status").to_pylist() == [201]
    assert out.column("method").to_pylist() == [None]
    with pytest.raises(TapeFormatError):
        migrate_mod.migrate("http", old, SCHEMA_VERSION + 1)
