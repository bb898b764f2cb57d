"""Benchmark ``understudy analyze`` on a large synthetic tape, and SQL fingerprinting vs pgbadger.

Generates a tape of N HTTP exchanges (several hosts, templated routes, identities on two plans
with 429s) and M SQL statements (literal-valued, pgbench-like and ORM-like shapes), times
``understudy analyze`` end to end with its peak RSS, then compares SQL fingerprinting
(``analysis.sql.with_fingerprints`` on the same M statements) with ``pgbadger -j1`` on a
PostgreSQL log holding the same statements, in the same run.

Targets: analyze within 60 s with peak RSS under 4 GB (10 M + 1 M); fingerprinting >= 10x
faster than pgbadger.

Usage::

    python benchmarks/analysis.py                # 10 M HTTP + 1 M SQL
    python benchmarks/analysis.py --quick        # 1 M HTTP + 100 k SQL
    python benchmarks/analysis.py --quick --tape /tmp/q.tape --analyze-only
                                                 # generate once into /tmp/q.tape, then reuse
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from understudy.tape.meta import ensure_tape_dir, update_meta  # noqa: E402
from understudy.tape.migrate import migrate  # noqa: E402
from understudy.tape.schema import HTTP_SCHEMA, SQL_SCHEMA  # noqa: E402
from understudy.tape.writer import commit_part  # noqa: E402

TARGETS = {
    "analyze seconds / 60 s budget": {"max": 1.0},
    "analyze peak RSS / 4 GB budget": {"max": 1.0},
    "pgbadger time / understudy fingerprint time": 10.0,
}


def machine() -> dict[str, object]:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {"cores": os.cpu_count(), "memory_gib": round(mem, 1)}


def _write(tape: Path, kind: str, df: pl.DataFrame, chunk: int = 1_000_000) -> None:
    """Write ``df`` as parts with the tape's metadata (via commit_part's naming and schema)."""
    import pyarrow.parquet as pq

    from understudy.tape.schema import META_KIND, META_SCHEMA_VERSION, SCHEMA_VERSION

    schema = (HTTP_SCHEMA if kind == "http" else SQL_SCHEMA).with_metadata(
        {META_SCHEMA_VERSION: str(SCHEMA_VERSION).encode(), META_KIND: kind.encode()}
    )
    (tape / kind).mkdir(exist_ok=True)
    commit_part(tape / kind, kind, [])  # an empty part proves the writer path works
    for i in range(0, df.height, chunk):
        table = migrate(kind, df.slice(i, chunk).to_arrow(), SCHEMA_VERSION)
        table = table.replace_schema_metadata(schema.metadata)
        pq.write_table(table, tape / kind / f"part-{i:012d}-bench.parquet", compression="zstd")


def http_frame(n: int) -> pl.DataFrame:
    idx = pl.int_range(0, n, eager=True)
    ident = idx % 200
    plan_free = ident < 120
    ts = pl.datetime(2026, 1, 1, time_zone="UTC") + pl.duration(milliseconds=idx * 2)
    route_kind = idx % 4
    df = pl.DataFrame({"i": idx}).with_columns(
        ident=ident,
        free=plan_free,
        route_kind=route_kind,
    )
    path = (
        pl.when(pl.col("route_kind") == 0)
        .then(pl.format("/api/items/{}", pl.col("i") % 5000))
        .when(pl.col("route_kind") == 1)
        .then(pl.lit("/api/orders"))
        .when(pl.col("route_kind") == 2)
        .then(pl.format("/api/users/{}/profile", pl.col("i") % 997))
        .otherwise(pl.lit("/api/export"))
    )
    status = (
        pl.when((pl.col("route_kind") == 3) & pl.col("free"))
        .then(403)
        .when((pl.col("i") % 13 == 0) & pl.col("free"))
        .then(429)
        .when(pl.col("i") % 211 == 0)
        .then(503)
        .otherwise(200)
    )
    dur = 5.0 + (pl.col("i") * 7919 % 1000).cast(pl.Float64) / 20.0
    df = df.with_columns(
        exchange_id=pl.col("i").cast(pl.String),
        ts_start=ts,
        duration_ms=dur,
        method=pl.when(pl.col("route_kind") == 1).then(pl.lit("POST")).otherwise(pl.lit("GET")),
        scheme=pl.lit("https"),
        host=pl.format("api{}.example.test", pl.col("i") % 3),
        port=pl.lit(443, pl.Int32),
        path=path,
        query=pl.lit(""),
        http_version=pl.lit("HTTP/1.1"),
        status=status.cast(pl.Int32),
        response_body=pl.concat_str(
            pl.lit('{"id":'), (pl.col("i") % 5000).cast(pl.String), pl.lit("}")
        ).cast(pl.Binary),
        response_body_size=pl.lit(12, pl.Int64),
        identity=pl.format("redacted:{}", pl.col("ident")),
        client_addr=pl.format("10.0.0.{}:5000", pl.col("ident") % 250),
        flow_kind=pl.lit("http"),
    )
    df = df.with_columns(
        ts_end=pl.col("ts_start") + pl.duration(microseconds=pl.col("duration_ms") * 1000)
    )
    cols = [c for c in HTTP_SCHEMA.names if c in df.columns]
    return df.select(cols)


def sql_texts(m: int) -> pl.DataFrame:
    idx = pl.int_range(0, m, eager=True)
    kind = idx % 3
    sql = (
        pl.when(kind == 0)
        .then(pl.format("SELECT abalance FROM pgbench_accounts WHERE aid = {}", idx % 100000))
        .when(kind == 1)
        .then(
            pl.format(
                'SELECT "users"."id", "users"."name" FROM "users" '
                'WHERE "users"."id" IN ({}, {}, {})',
                idx % 97,
                idx % 89,
                idx % 83,
            )
        )
        .otherwise(pl.format("UPDATE orders SET status = 'paid' WHERE id = {}", idx))
    )
    return pl.DataFrame({"i": idx}).with_columns(sql=sql)


def sql_frame(m: int) -> pl.DataFrame:
    df = sql_texts(m)
    ts = pl.datetime(2026, 1, 1, time_zone="UTC") + pl.duration(milliseconds=pl.col("i") * 3)
    return df.with_columns(
        statement_id=pl.col("i").cast(pl.String),
        conn_id=(pl.col("i") % 16).cast(pl.String),
        seq=pl.col("i"),
        ts_start=ts,
        ts_end=ts + pl.duration(microseconds=300),
        duration_ms=pl.lit(0.3),
        protocol=pl.lit("simple"),
        command_tag=pl.lit("SELECT 1"),
        rows=pl.lit(1, pl.Int64),
    ).select([c for c in SQL_SCHEMA.names if c in ("statement_id", "conn_id", "seq", "ts_start",
                                                     "ts_end", "duration_ms", "protocol", "sql",
                                                     "command_tag", "rows")])  # fmt: skip


class OverBudget(RuntimeError):
    """``understudy analyze`` was stopped: it went over the memory cap or the time limit."""


def _tree_rss_kib(pid: int) -> int:
    """Resident memory of ``pid`` and its children (KiB); 0 once it is gone."""
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        total += next((int(ln.split()[1]) for ln in status.splitlines()
                       if ln.startswith("VmRSS:")), 0)  # fmt: skip
        pids += [int(k) for k in kids]
    return total


def run_analyze(
    tape: Path, world: Path, *, max_rss_gib: float = 16.0, timeout_s: float = 1800.0
) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``understudy analyze`` as a child process.

    The child is watched: above ``max_rss_gib`` of resident memory or after ``timeout_s`` it is
    killed and :class:`OverBudget` says so (the benchmark then records why, instead of
    swapping the shared machine to a halt).
    """
    exe = Path(sys.executable).parent / "understudy"
    start = time.monotonic()
    proc = subprocess.Popen(
        [str(exe), "analyze", str(tape), "--world", str(world), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    peak_kib = 0
    try:
        while proc.poll() is None:
            peak_kib = max(peak_kib, _tree_rss_kib(proc.pid))
            elapsed = time.monotonic() - start
            if peak_kib > max_rss_gib * 2**20 or elapsed > timeout_s:
                proc.kill()
                proc.wait()
                raise OverBudget(
                    f"understudy analyze stopped after {elapsed:.0f} s at "
                    f"{peak_kib / 2**20:.1f} GiB RSS (caps: {max_rss_gib:g} GiB, {timeout_s:g} s)"
                )
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    elapsed = time.monotonic() - start
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        tail = (err.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"understudy analyze exited {proc.returncode}: {tail[:300]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the kernel's exact peak
    return elapsed, max(peak, peak_kib) / 1024


def ensure_pgbadger() -> str | None:
    if shutil.which("pgbadger"):
        return None
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "pgbadger"],
            check=False,
            capture_output=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
    return None if shutil.which("pgbadger") else "pgbadger is not installed and apt failed"


def time_pgbadger(texts: list[str], work: Path) -> float:
    log = work / "postgresql.log"
    with open(log, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            sec = i // 1000
            f.write(
                f"2026-01-01 00:{sec // 60 % 60:02d}:{sec % 60:02d} UTC [{100 + i % 16}]: "
                f"LOG:  duration: 0.300 ms  statement: {t}\n"
            )
    start = time.monotonic()
    subprocess.run(
        ["pgbadger", "-j", "1", "-f", "stderr", "--prefix", "%t [%p]: ", "-o",
         str(work / "out.json"), "-x", "json", str(log)],
        check=True, capture_output=True,
    )  # fmt: skip
    return time.monotonic() - start


def time_fingerprints(sql: pl.DataFrame) -> float:
    from analysis.sql import with_fingerprints

    start = time.monotonic()
    with_fingerprints(sql.lazy()).collect()
    return time.monotonic() - start


def _compare_pgbadger(
    sql: pl.DataFrame,
    work: Path,
    summary: dict[str, dict[str, dict[str, float]]],
    ratios: dict[str, float],
    notes: list[str],
) -> None:
    """Time SQL fingerprinting, then pgbadger on the same statements (when installed)."""
    print("fingerprinting the SQL statements", file=sys.stderr)
    fp_s = time_fingerprints(sql)
    summary["fingerprint"] = {"seconds": {"median": fp_s, "min": fp_s, "max": fp_s}}
    missing = ensure_pgbadger()
    if missing:
        notes.append(f"pgbadger comparison skipped: {missing}")
        return
    pb = time_pgbadger(sql["sql"].to_list(), work)
    summary["pgbadger -j1"] = {"seconds": {"median": pb, "min": pb, "max": pb}}
    ratios["pgbadger time / understudy fingerprint time"] = pb / fp_s


def _tape(path: Path, n: int, sql: pl.DataFrame) -> Path:
    """The benchmark tape at ``path``: generated there unless a complete one is already kept
    (its row counts must be ``n`` HTTP exchanges and the statements of ``sql``)."""
    from understudy.tape.reader import open_tape

    if (path / "tape.json").is_file():
        kept = open_tape(path)
        if (kept.count("http"), kept.count("sql")) != (n, sql.height):
            raise SystemExit(
                f"{path} holds {kept.count('http')} HTTP and {kept.count('sql')} SQL rows, not "
                f"{n} and {sql.height}: remove it or pass another --tape"
            )
        print(f"reusing {path}", file=sys.stderr)
        return path
    tape = ensure_tape_dir(path)
    update_meta(tape, started=datetime.now(UTC).isoformat())
    print(f"generating {n} HTTP exchanges and {sql.height} SQL statements", file=sys.stderr)
    _write(tape, "http", http_frame(n))
    _write(tape, "sql", sql)
    return tape


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--http", type=int, help="HTTP exchanges (default 10 M, quick 1 M)")
    parser.add_argument("--sql", type=int, help="SQL statements (default 1 M, quick 100 k)")
    parser.add_argument("--max-rss-gib", type=float, default=16.0,
                        help="stop analyze above this resident memory")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=1800.0, help="stop analyze after (s)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/analysis.json")
    parser.add_argument("--tape", type=Path,
                        help="keep the generated tape here; reuse it when it already exists "
                        "(its sizes must match --quick / --http / --sql)")  # fmt: skip
    parser.add_argument("--world", type=Path, help="keep the world bundle written here")
    parser.add_argument("--analyze-only", action="store_true",
                        help="time analyze alone (no fingerprinting, no pgbadger)")  # fmt: skip
    args = parser.parse_args()
    n, m = (1_000_000, 100_000) if args.quick else (10_000_000, 1_000_000)
    n, m = args.http or n, args.sql or m
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="understudy-bench-") as tmp:
        work = Path(tmp)
        sql = sql_frame(m)
        tape = _tape(args.tape or work / "big.tape", n, sql)
        print("running understudy analyze", file=sys.stderr)
        ratios: dict[str, float] = {}
        summary: dict[str, dict[str, dict[str, float]]] = {}
        try:
            seconds, rss_mb = run_analyze(
                tape,
                args.world or work / "world",
                max_rss_gib=args.max_rss_gib,
                timeout_s=args.timeout,
            )
            ratios["analyze seconds / 60 s budget"] = seconds / 60.0
            ratios["analyze peak RSS / 4 GB budget"] = rss_mb / 4096.0
            summary["analyze"] = {
                "seconds": {"median": seconds, "min": seconds, "max": seconds},
                "peak_rss_mb": {"median": rss_mb, "min": rss_mb, "max": rss_mb},
            }
        except (OverBudget, RuntimeError) as exc:
            # A result, not a crash: the table says why there is no figure.
            notes.append(str(exc))
        if args.analyze_only:
            notes.append("analyze only: SQL fingerprinting and pgbadger not timed")
        else:
            _compare_pgbadger(sql, work, summary, ratios, notes)
    result = {
        "benchmark": "analysis",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"http_exchanges": n, "sql_statements": m, "quick": args.quick},
        "summary": summary,
        "ratios": ratios,
        "targets": TARGETS,
        "notes": notes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({"ratios": ratios, "summary": summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
