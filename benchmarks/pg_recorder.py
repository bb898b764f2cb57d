"""Benchmark the PostgreSQL recorder relay against a direct connection and pgbouncer.

``pgbench -S -c 8 -j 2 -T SECONDS`` (select-only) runs against three targets in one run,
alternating in rounds: the server directly, pgbouncer in session mode, the recorder
(``understudy record --no-http --pg``, recording into a tape) and the same relay without
capture (``python -m recorder.pg --relay-only``). Then one long-lived connection runs
``pgbench -S -c 1 -M prepared`` through a fresh relay while its RSS is sampled, to show that
memory stays flat over hundreds of thousands of statements.

Example::

    .venv/bin/python benchmarks/pg_recorder.py                   # 5 rounds x 10 s, 60 s RSS run
    .venv/bin/python benchmarks/pg_recorder.py --rounds 2 --seconds 10 --rss-seconds 30

Not a test: it asserts nothing, prints a table and writes JSON to ``--out``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from understudy.testing.postgres import PostgresServer, free_port  # noqa: E402

TPS = re.compile(r"tps = ([\d.]+) \(without initial connection time\)")
PROCESSED = re.compile(r"number of transactions actually processed: (\d+)")


def wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port}")


def pgbench(pg: PostgresServer, port: int, *args: str) -> tuple[float, int]:
    """Run pgbench against ``port``; return (TPS, transactions processed)."""
    env = {**os.environ, **pg.env, "PGPORT": str(port)}
    out = subprocess.run(["pgbench", "-n", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"pgbench {args} on {port} failed: {out.stderr[-2000:]}")
    tps, done = TPS.search(out.stdout), PROCESSED.search(out.stdout)
    assert tps is not None and done is not None, out.stdout
    return float(tps.group(1)), int(done.group(1))


def ensure_pgbouncer() -> str | None:
    """The pgbouncer binary, installed with apt when missing and we are root."""
    found = shutil.which("pgbouncer")
    if found or os.geteuid() != 0:
        return found
    print("installing pgbouncer with apt-get ...", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "pgbouncer"],
        check=False,
        capture_output=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("pgbouncer")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextlib.contextmanager
def run_pgbouncer(binary: str, pg: PostgresServer, workdir: Path) -> Iterator[tuple[int, int]]:
    """pgbouncer in session mode, trust auth, on a free port (as ``postgres`` when root)."""
    port = free_port()
    workdir.mkdir(mode=0o777, exist_ok=True)
    os.chmod(workdir, 0o777)
    (workdir / "userlist.txt").write_text(f'"{pg.user}" ""\n')
    ini = workdir / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host=127.0.0.1 port={pg.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'userlist.txt'}\n"
        "pool_mode = session\nmax_client_conn = 200\ndefault_pool_size = 40\n"
        f"logfile = {workdir / 'pgbouncer.log'}\n"
        "ignore_startup_parameters = extra_float_digits\n"
    )
    kwargs: dict[str, Any] = {}
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        pw = pwd.getpwnam("postgres")
        for f in workdir.iterdir():
            os.chown(f, pw.pw_uid, pw.pw_gid)
        kwargs = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    proc = subprocess.Popen(
        [binary, str(ini)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs
    )
    try:
        wait_port(port)
        yield port, proc.pid
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)


def children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            out += [int(c) for c in (task / "children").read_text().split()]
    return out


def spool_bytes(tape: Path) -> int:
    """Bytes of spool on disk (the decoder deletes a segment once it has decoded all of it)."""
    return sum(p.stat().st_size for p in (tape / ".spool").glob("*.seg"))


@contextlib.contextmanager
def run_recorder(
    pg: PostgresServer,
    tape: Path,
    *extra: str,
    stats: dict[str, Any] | None = None,
    env_extra: dict[str, str] | None = None,
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """``understudy record --no-http --pg`` on a free port, recording into ``tape``.

    With ``--relay-only`` in ``extra``: ``python -m recorder.pg --relay-only`` (the same relay
    on the same uvloop, forwarding without capture), to measure the relay itself.

    ``stats`` receives, at the end: the decoder process's CPU seconds, the statements it
    committed, the spool backlog when the recorder was told to stop, and how long the
    recorder then took to exit (the decoder finishing the backlog).
    """
    port = free_port()
    env = {**os.environ, "UNDERSTUDY_KEY": "5e" * 32, "PYTHONPATH": str(REPO), **(env_extra or {})}
    if "--relay-only" in extra:
        argv = [sys.executable, "-m", "recorder.pg", "--listen", f"127.0.0.1:{port}",
                "--upstream", f"127.0.0.1:{pg.port}", "--tape", str(tape), *extra]  # fmt: skip
    else:
        argv = [sys.executable, "-m", "understudy", "record", "--no-http", "--quiet",
                "--pg", f"127.0.0.1:{port}", "--pg-upstream", f"127.0.0.1:{pg.port}",
                "--tape", str(tape), *extra]  # fmt: skip
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_port(port)
        yield port, proc
    finally:
        decoders = children(proc.pid)
        backlog = spool_bytes(tape) if tape.exists() else 0
        stopped = time.monotonic()
        proc.send_signal(signal.SIGINT)
        decoder_cpu = 0.0
        while proc.poll() is None:
            for pid in decoders:
                with contextlib.suppress(OSError):
                    decoder_cpu = max(decoder_cpu, cpu_seconds(pid))
            time.sleep(0.02)
        exit_s = time.monotonic() - stopped
        _, err = proc.communicate(timeout=600)
        text = err.decode()
        if stats is not None and decoders:
            found = re.search(r"(\d+) sql statements committed", text)
            committed = int(found.group(1)) if found else 0
            paced = re.search(r"([\d.]+) sql decoder paced seconds", text)
            stats.update(
                decoder_cpu_s=round(decoder_cpu, 2),
                statements=committed,
                decoder_cpu_us_per_statement=round(decoder_cpu / committed * 1e6, 1)
                if committed else None,
                decoder_paced_s=float(paced.group(1)) if paced else 0.0,
                backlog_bytes_at_stop=backlog,
                exit_seconds_after_stop=round(exit_s, 2),
            )  # fmt: skip
        elif proc.returncode:
            print("   recorder failed:", text[-500:], file=sys.stderr)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
        "runs": [round(v, 1) for v in values],
    }


# Recorders are started afresh for each of their runs and stopped (the decoder drained)
# before the next target runs: a decoder catching up on its backlog must not run during
# another target's turn. "recorder_unpaced" (with --compare-unpaced) is the same recorder
# with the decoder's pacing off (recorder.pg.pace), to show what pacing buys.
RECORDERS: dict[str, dict[str, str]] = {
    "recorder": {},
    "recorder_unpaced": {"UNDERSTUDY_PG_DECODER_SHARE": "1"},
}


def throughput(
    pg: PostgresServer, args: argparse.Namespace, work: Path, bouncer: str | None
) -> dict[str, Any]:
    """Alternate the targets for ``args.rounds`` rounds per protocol.

    Besides TPS, the CPU time the proxy process spent per transaction is recorded: on a
    shared machine TPS moves with the neighbours' load, CPU per transaction much less.
    """
    results: dict[str, Any] = {}
    bench = ["-S", "-c", str(args.clients), "-j", str(args.threads), "-T", str(args.seconds)]
    decoder_runs: list[dict[str, Any]] = []
    with contextlib.ExitStack() as stack:
        targets: dict[str, tuple[int, int | None]] = {"direct": (pg.port, None)}
        if bouncer:
            targets["pgbouncer"] = stack.enter_context(run_pgbouncer(bouncer, pg, work / "pgb"))
        if args.relay_only:
            bare_port, bare = stack.enter_context(
                run_recorder(pg, work / "unused.tape", "--relay-only")
            )
            targets["relay_no_capture"] = (bare_port, bare.pid)
        names = [*targets, "recorder"] + (["recorder_unpaced"] if args.compare_unpaced else [])
        for protocol in args.protocols:
            tps: dict[str, list[float]] = {name: [] for name in names}
            cpu: dict[str, list[float]] = {name: [] for name in names if name != "direct"}
            for r in range(args.rounds):
                for name in names[r % len(names) :] + names[: r % len(names)]:
                    with contextlib.ExitStack() as run:
                        stats: dict[str, Any] = {}
                        if name in RECORDERS:
                            tape = work / f"{name}-{protocol}-{r}.tape"
                            port, rec = run.enter_context(
                                run_recorder(pg, tape, stats=stats, env_extra=RECORDERS[name])
                            )
                            pid: int | None = rec.pid
                        else:
                            port, pid = targets[name]
                        before = cpu_seconds(pid) if pid else 0.0
                        value, done = pgbench(pg, port, *bench, "-M", protocol)
                        spent = cpu_seconds(pid) - before if pid else 0.0
                    tps[name].append(value)
                    line = f"  {protocol:8} round {r + 1} {name:16} {value:8.0f} TPS"
                    if pid:
                        cpu[name].append(spent / done * 1e6)
                        line += f", proxy CPU {cpu[name][-1]:5.1f} us/transaction"
                    if stats:
                        decoder_runs.append({"target": name, "protocol": protocol, **stats})
                        line += (
                            f"; decoder {stats['decoder_cpu_us_per_statement']} us/statement, "
                            f"paced {stats['decoder_paced_s']} s, spool at stop "
                            f"{stats['backlog_bytes_at_stop'] / 2**20:.1f} MiB, drained in "
                            f"{stats['exit_seconds_after_stop']} s"
                        )
                    print(line, file=sys.stderr)
            res: dict[str, Any] = {name: summary(v) for name, v in tps.items()}
            for name, values in cpu.items():
                res[name]["cpu_us_per_transaction"] = summary(values)
            for name in RECORDERS:
                if name not in res:
                    continue
                rec_tps = res[name]["median"]
                res[f"{name}_vs_direct"] = round(rec_tps / res["direct"]["median"], 3)
                if "pgbouncer" in res:
                    res[f"{name}_vs_pgbouncer"] = round(rec_tps / res["pgbouncer"]["median"], 3)
                    # The same ratio taken within each round, then the median: the neighbours'
                    # load drifts over minutes, less within one round.
                    paired = [a / b for a, b in zip(tps[name], tps["pgbouncer"], strict=True)]
                    res[f"{name}_vs_pgbouncer_by_round"] = {
                        "median": round(statistics.median(paired), 3),
                        "runs": [round(x, 3) for x in paired],
                    }
            results[protocol] = res
    results["decoder"] = decoder_summary(decoder_runs)
    return results


def decoder_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The paced recorder's decoder over its runs (medians), with every run kept."""
    own = [r for r in runs if r["target"] == "recorder"]
    if not own:
        return {}
    out: dict[str, Any] = {"runs": runs}
    for key in ("decoder_cpu_us_per_statement", "decoder_paced_s", "backlog_bytes_at_stop",
                "exit_seconds_after_stop"):  # fmt: skip
        values = [r[key] for r in own if r.get(key) is not None]
        if values:
            out[key] = round(statistics.median(values), 2)
    return out


def memory(pg: PostgresServer, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """RSS of a fresh relay while one connection runs ``pgbench -S -M prepared``."""
    with run_recorder(pg, work / "rss.tape") as (port, proc):
        pgbench(pg, port, "-S", "-c", "1", "-M", "prepared", "-T", "3")  # warm up
        start = rss_kib(proc.pid)
        samples: list[tuple[float, int]] = []
        env = {**os.environ, **pg.env, "PGPORT": str(port)}
        t0 = time.monotonic()
        bench = subprocess.Popen(
            ["pgbench", "-n", "-S", "-c", "1", "-M", "prepared", "-T", str(args.rss_seconds)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        decoder_rss: list[int] = []
        while bench.poll() is None:
            samples.append((round(time.monotonic() - t0, 1), rss_kib(proc.pid)))
            for pid in children(proc.pid):
                with contextlib.suppress(OSError):
                    decoder_rss.append(rss_kib(pid))
            time.sleep(1.0)
        out, _ = bench.communicate()
        end = rss_kib(proc.pid)
    done_match = PROCESSED.search(out)
    statements = int(done_match.group(1)) if done_match else 0
    # Least-squares slope of RSS over time, scaled to statements: the endpoints alone move
    # with the writer's batches (a part is built every second) and say little.
    slope_per_s = 0.0
    if len(samples) >= 3:
        slope_per_s = statistics.linear_regression(
            [t for t, _ in samples], [float(r) for _, r in samples]
        ).slope
    rate = statements / args.rss_seconds if statements else 0.0
    per_million = slope_per_s / rate * 1_000_000 if rate else 0.0
    values = [r for _, r in samples] or [start]
    return {
        "statements": statements,
        "seconds": args.rss_seconds,
        "rss_start_kib": start,
        "rss_end_kib": end,
        "rss_min_kib": min(values),
        "rss_max_kib": max(values),
        "rss_slope_kib_per_million_statements": round(per_million, 1),
        "decoder_rss_kib": [min(decoder_rss), max(decoder_rss)] if decoder_rss else None,
        "samples": samples,
    }


def machine() -> dict[str, Any]:
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(int(mem) / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--rounds", type=int, default=5,
        help="per target and protocol (the median is reported; the shared machine drifts)",
    )
    p.add_argument("--seconds", type=int, default=10, help="per pgbench run (>= 10 for figures)")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--protocols", type=lambda s: s.split(","), default=["simple"],
                   help="comma-separated pgbench -M modes (simple,extended,prepared)")  # fmt: skip
    p.add_argument("--rss-seconds", type=int, default=60, help="0 skips the memory run")
    p.add_argument("--scale", type=int, default=1)
    p.add_argument(
        "--relay-only",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the relay without capture, to show what parsing costs",
    )
    p.add_argument(
        "--compare-unpaced",
        action="store_true",
        help="also run the recorder with the decoder's pacing off (UNDERSTUDY_PG_DECODER_SHARE=1)",
    )
    p.add_argument("--out", type=Path, default=REPO / "benchmarks/results/pg_recorder.json")
    args = p.parse_args()
    bouncer = ensure_pgbouncer()
    if bouncer is None:
        print("pgbouncer not available: comparing with direct only", file=sys.stderr)
    with (
        tempfile.TemporaryDirectory(prefix="pg-recorder-bench-") as tmp,
        PostgresServer.start(
            settings={"max_connections": "200", "shared_buffers": "'256MB'"}
        ) as pg,
    ):
        work = Path(tmp)
        os.chmod(work, 0o755)
        subprocess.run(
            ["pgbench", "-i", "-q", "-s", str(args.scale)],
            env={**os.environ, **pg.env}, check=True, capture_output=True,
        )  # fmt: skip
        version = pg.psql("SHOW server_version").stdout.decode().strip()
        print(f"PostgreSQL {version} on port {pg.port}; pgbench -S -c {args.clients} "
              f"-j {args.threads} -T {args.seconds}", file=sys.stderr)  # fmt: skip
        results: dict[str, Any] = {
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {**machine(), "postgresql": version},
            "pgbench": {"clients": args.clients, "threads": args.threads,
                        "seconds": args.seconds, "rounds": args.rounds, "scale": args.scale},
            "throughput": throughput(pg, args, work, bouncer),
        }  # fmt: skip
        results["decoder"] = results["throughput"].pop("decoder", {})
        if args.rss_seconds:
            results["memory"] = memory(pg, args, work)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    decoder = results["decoder"]
    shown = ("direct", "pgbouncer", "relay_no_capture", *RECORDERS)
    for protocol, res in results["throughput"].items():
        line = ", ".join(f"{name} {res[name]['median']:.0f}" for name in shown if name in res)
        ratio = res.get("recorder_vs_pgbouncer")
        print(f"{protocol}: median TPS {line}; recorder/pgbouncer {ratio}, "
              f"recorder/direct {res['recorder_vs_direct']}")  # fmt: skip
        if "recorder_unpaced_vs_pgbouncer" in res:
            print(f"{protocol}: without pacing, recorder/pgbouncer "
                  f"{res['recorder_unpaced_vs_pgbouncer']}")  # fmt: skip
        cpu = ", ".join(
            f"{name} {res[name]['cpu_us_per_transaction']['median']:.1f}"
            for name in shown[1:]
            if name in res
        )
        print(f"{protocol}: proxy CPU us per transaction (median): {cpu}")
    if decoder:
        backlog = decoder["backlog_bytes_at_stop"] / 2**20
        print(f"decoder (medians per run): {decoder.get('decoder_cpu_us_per_statement')} us CPU "
              f"per statement (idle priority), held back {decoder.get('decoder_paced_s')} s; "
              f"spool on disk at stop {backlog:.1f} MiB, recorder exited "
              f"{decoder['exit_seconds_after_stop']} s after SIGINT")  # fmt: skip
    if "memory" in results:
        m = results["memory"]
        print(f"RSS over {m['statements']} statements on one connection: "
              f"{m['rss_start_kib']} -> {m['rss_end_kib']} KiB (range {m['rss_min_kib']}-"
              f"{m['rss_max_kib']}), slope {m['rss_slope_kib_per_million_statements']} KiB "
              "per million statements")  # fmt: skip
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
