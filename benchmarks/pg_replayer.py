"""Benchmark: pgbench -S against the PostgreSQL replay server vs the real server it recorded.

One run, alternating targets so both see the same machine state::

    python benchmarks/pg_replayer.py                 # 3 rounds x 10 s, simple and extended
    python benchmarks/pg_replayer.py --duration 5 --rounds 1    # the short form

Steps: start a throwaway PostgreSQL 15, ``pgbench -i -s 1``; record pgbench's start-up queries
and ``SELECT abalance ... WHERE aid = N`` for every aid (so every replayed answer is exact);
start ``python -m replayer.pg --latency off`` (uvloop) in a subprocess; then, per round and
protocol (``-M simple``, ``-M extended``), run ``pgbench -n -S -c 8 -j 2 -T N`` against the
real server and against the replay server. Target: replay TPS >= 0.5 x real TPS.

Writes JSON (median/min/max TPS per target and protocol, the ratio, the replay server's
match counts, machine facts and the date) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from replayer.pg.testing import CaptureClient, SqlWorldKit  # noqa: E402
from understudy.testing.postgres import PostgresServer, free_port  # noqa: E402

PGBENCH_STARTUP = [
    "select count(*) from pgbench_branches",
    "select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c "
    "join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral "
    "(select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) "
    "left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join "
    "pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = 'pgbench_accounts' "
    "and o.n is not null group by 1, 2 order by 1 asc limit 1",
]
_TPS = re.compile(r"tps = ([0-9.]+) \(without initial connection time\)")


def machine() -> dict[str, Any]:
    mem = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "memory_gib": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def record_world(pg: PostgresServer, path: Path, aids: int) -> Path:
    kit = SqlWorldKit()
    with CaptureClient.connect(pg.host, pg.port, pg.user, pg.database) as c:
        for sql in PGBENCH_STARTUP:
            for r in c.simple(sql):
                kit.add(r)
        for aid in range(1, aids + 1):
            for r in c.simple(f"SELECT abalance FROM pgbench_accounts WHERE aid = {aid};"):
                kit.add(r)
        params = c.parameters
    return kit.write(path, pg_parameters=params)


def pgbench(
    host: str, port: int, mode: str, args: argparse.Namespace, env: dict[str, str]
) -> float:
    cmd = [
        "pgbench",
        "-n",
        "-S",
        "-M",
        mode,
        "-c",
        str(args.clients),
        "-j",
        str(args.threads),
        "-T",
        str(args.duration),
        "-h",
        host,
        "-p",
        str(port),
        "-U",
        env["PGUSER"],
        env["PGDATABASE"],
    ]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    m = _TPS.search(res.stdout)
    if res.returncode != 0 or m is None:
        raise RuntimeError(f"pgbench failed ({res.returncode}): {res.stderr[-800:]}")
    return float(m.group(1))


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
        "runs": [round(v, 1) for v in values],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=int, default=10, help="seconds per pgbench run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--aids", type=int, default=100_000, help="aids recorded (scale 1: 100000)")
    ap.add_argument("--modes", default="simple,extended")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/pg_replayer.json")
    args = ap.parse_args()
    modes = args.modes.split(",")
    tps: dict[str, dict[str, list[float]]] = {m: {"postgres": [], "replay": []} for m in modes}
    with (
        tempfile.TemporaryDirectory(prefix="pg-replay-bench-") as tmp,
        PostgresServer.start(settings={"max_connections": "200", "shared_buffers": "128MB"}) as pg,
    ):
        env = {**os.environ, **pg.env}
        subprocess.run(["pgbench", "-i", "-s", "1", "-q"], env=env, check=True, capture_output=True)
        t0 = time.perf_counter()
        world = record_world(pg, Path(tmp) / "world", args.aids)
        print(f"recorded {args.aids} aids in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        port = free_port()
        report_path = Path(tmp) / "report.json"
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "replayer.pg",
                "--world",
                str(world),
                "--listen",
                f"127.0.0.1:{port}",
                "--latency",
                "off",
                "--report",
                str(report_path),
            ],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stderr is not None
            banner = server.stderr.readline()
            if "replaying PostgreSQL" not in banner:
                raise RuntimeError(f"replay server did not start: {banner}")
            for r in range(args.rounds):
                for mode in modes:
                    for target, p in (("postgres", pg.port), ("replay", port)):
                        value = pgbench("127.0.0.1", p, mode, args, env)
                        tps[mode][target].append(value)
                        print(
                            f"round {r + 1} {mode:8s} {target:8s} {value:10.1f} tps",
                            file=sys.stderr,
                        )
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
        report = json.loads(report_path.read_text()) if report_path.exists() else {}
    results = {
        "benchmark": "pgbench -n -S, replay server (latency off) vs PostgreSQL 15",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "duration_s": args.duration,
            "rounds": args.rounds,
            "clients": args.clients,
            "threads": args.threads,
            "aids_recorded": args.aids,
            "scale": 1,
        },
        "modes": {
            m: {
                "postgres_tps": summary(v["postgres"]),
                "replay_tps": summary(v["replay"]),
                "ratio_median": round(
                    statistics.median(v["replay"]) / statistics.median(v["postgres"]), 3
                ),
            }
            for m, v in tps.items()
        },
        "target_ratio": 0.5,
        "replay_matched": report.get("matched"),
        "replay_statements": report.get("statements"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results["modes"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
