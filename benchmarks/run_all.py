"""Run every benchmark in one go and rewrite BENCHMARKS.md as one table (``make bench``).

First ``scripts/ensure-bench-peers`` installs the peers that are missing (nginx, wrk,
pgbouncer, pgbadger; quiet when present). Then each benchmark script runs as a child process
with ``--out FILE`` and a time limit; each alternates its peers with our code in one run and
writes JSON with at least::

    {"benchmark": NAME, "date": ISO, "machine": {...},
     "summary": {config: {metric: {"median": x, "min": x, "max": x}}},
     "ratios": {name: value}, "targets": {name: minimum or {"max": x}}, "notes": [...]}

(the two PostgreSQL benchmarks have their own shapes, brought to this one by :func:`normalize`).
The table has one row per ratio: its value, target, whether it is met, our figure and the
peer's (median and min-max over the rounds) and how many rounds. A benchmark that cannot run
(a peer missing, a crash, the time limit) still gets a row saying why, and so does a target
whose ratio a benchmark could not measure.

Usage::

    python benchmarks/run_all.py                 # full forms (make bench)
    python benchmarks/run_all.py --quick         # short forms (smoke run)
    python benchmarks/run_all.py --only pg_recorder --only http_replayer
    python benchmarks/run_all.py --render-only   # rewrite BENCHMARKS.md from saved results
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@dataclass(frozen=True)
class Bench:
    """One benchmark script, its arguments (full and quick) and its time limit (s)."""

    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    timeout: float = 1200.0


BENCHMARKS: tuple[Bench, ...] = (
    Bench("http_recorder", "http_recorder.py", ("--rounds", "3", "--duration", "10"),
          ("--rounds", "2", "--duration", "4")),
    Bench("pg_recorder", "pg_recorder.py",
          ("--rounds", "5", "--seconds", "10", "--protocols", "simple,prepared",
           "--compare-unpaced"),
          ("--rounds", "2", "--seconds", "10", "--protocols", "simple,prepared",
           "--rss-seconds", "20"), timeout=1800.0),
    Bench("analysis", "analysis.py", (), ("--quick",), timeout=2700.0),
    Bench("http_replayer", "http_replayer.py", (), ("--quick",), timeout=1800.0),
    Bench("pg_replayer", "pg_replayer.py", ("--rounds", "3", "--duration", "10"),
          ("--rounds", "2", "--duration", "5")),
)  # fmt: skip

#: (benchmark, ratio) -> (our figure, the peer's figure); a figure is (config, metric) in the
#: summary, or a fixed text (a budget rather than a measured peer).
PAIRS: dict[tuple[str, str], tuple[tuple[str, str], tuple[str, str] | str]] = {
    ("http_recorder", "understudy record / mitmdump"):
        (("understudy record", "rps"), ("mitmdump", "rps")),
    ("http_recorder", "understudy record / mitmdump -w"):
        (("understudy record", "rps"), ("mitmdump -w", "rps")),
    ("analysis", "analyze seconds / 60 s budget"): (("analyze", "seconds"), "budget: 60 s"),
    ("analysis", "analyze peak RSS / 4 GB budget"): (("analyze", "peak_rss_mb"), "budget: 4096 MB"),
    ("analysis", "pgbadger time / understudy fingerprint time"):
        (("fingerprint", "seconds"), ("pgbadger -j1", "seconds")),
    ("http_replayer", "a_throughput proxy / mitmdump --server-replay"):
        (("a proxy, 100k exchanges", "rps"), ("a mitmdump --server-replay, 100k flows", "rps")),
    ("http_replayer", "a_startup mitmdump / proxy (x faster)"):
        (("a proxy, 100k exchanges", "startup_s"),
         ("a mitmdump --server-replay, 100k flows", "startup_s")),
    ("http_replayer", "a_rss mitmdump / proxy (x smaller)"):
        (("a proxy, 100k exchanges", "rss_mib"),
         ("a mitmdump --server-replay, 100k flows", "rss_mib")),
    ("http_replayer", "a_rss_recording mitmdump / proxy (x smaller, above 100 exchanges)"):
        (("a proxy, recording only", "rss_mib"), ("a mitmdump, recording only", "rss_mib")),
    ("http_replayer", "b_throughput reverse / hello world"):
        (("b reverse, 100 exchanges", "rps"), ("b hello world", "rps")),
    ("http_replayer", "b_cpu hello world / reverse"):
        (("b reverse, 100 exchanges", "cpu_us_per_req"), ("b hello world", "cpu_us_per_req")),
    ("http_replayer", "c_throughput 100k / 100 exchanges"):
        (("c reverse, 100k exchanges", "rps"), ("c reverse, 100 exchanges", "rps")),
    ("http_replayer", "c_throughput 100k (10,000 distinct) / 100 exchanges"):
        (("c reverse, 100k exchanges, 10,000 distinct requests", "rps"),
         ("c reverse, 100 exchanges", "rps")),
    ("http_replayer", "d_throughput 50 ms delay / bound"):
        (("d reverse, 50 ms delay, 50 clients", "rps"), ("d bound", "rps")),
}  # fmt: skip
for _proto in ("simple", "prepared", "extended"):
    PAIRS[("pg_recorder", f"recorder / pgbouncer TPS ({_proto})")] = (
        (f"{_proto} recorder", "tps"), (f"{_proto} pgbouncer", "tps"))  # fmt: skip
    PAIRS[("pg_recorder", f"recorder / pgbouncer TPS, within each round ({_proto})")] = (
        (f"{_proto} recorder", "tps"), (f"{_proto} pgbouncer", "tps"))  # fmt: skip
    PAIRS[("pg_recorder", f"recorder, decoder not paced / pgbouncer TPS ({_proto})")] = (
        (f"{_proto} recorder_unpaced", "tps"), (f"{_proto} pgbouncer", "tps"))  # fmt: skip
    PAIRS[("pg_recorder", f"relay without capture / pgbouncer TPS ({_proto})")] = (
        (f"{_proto} relay_no_capture", "tps"), (f"{_proto} pgbouncer", "tps"))  # fmt: skip
    PAIRS[("pg_recorder", f"pgbouncer / recorder CPU per transaction ({_proto})")] = (
        (f"{_proto} recorder", "cpu_us_per_transaction"),
        (f"{_proto} pgbouncer", "cpu_us_per_transaction"))  # fmt: skip
    PAIRS[("pg_replayer", f"replay / PostgreSQL TPS ({_proto})")] = (
        (f"{_proto} replay", "tps"), (f"{_proto} postgres", "tps"))  # fmt: skip


def machine() -> dict[str, Any]:
    """Cores, memory, CPU model and load average of this machine, now."""
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "cpu": model,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _stats(d: dict[str, Any]) -> dict[str, Any]:
    out = {k: d[k] for k in ("median", "min", "max")}
    if "runs" in d:
        out["n"] = len(d["runs"])
    return out


def _normalize_pg_recorder(data: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    targets: dict[str, Any] = {}
    notes: list[str] = list(data.get("notes", []))
    for proto, configs in data["throughput"].items():
        for config, figures in configs.items():
            if isinstance(figures, dict) and "_vs_" not in config:
                summary[f"{proto} {config}"] = {"tps": _stats(figures)}
                if "cpu_us_per_transaction" in figures:
                    cpu = _stats(figures["cpu_us_per_transaction"])
                    summary[f"{proto} {config}"]["cpu_us_per_transaction"] = cpu
        name = f"recorder / pgbouncer TPS ({proto})"
        targets[name] = 0.8
        bouncer = configs.get("pgbouncer")
        if "recorder_vs_pgbouncer" in configs:
            ratios[name] = configs["recorder_vs_pgbouncer"]
        else:
            notes.append(f"{name}: pgbouncer was not available, no ratio")
        by_round = configs.get("recorder_vs_pgbouncer_by_round")
        if by_round:
            ratios[f"recorder / pgbouncer TPS, within each round ({proto})"] = by_round["median"]
        if "recorder_unpaced_vs_pgbouncer" in configs:
            ratios[f"recorder, decoder not paced / pgbouncer TPS ({proto})"] = configs[
                "recorder_unpaced_vs_pgbouncer"
            ]
        if bouncer and "relay_no_capture" in configs:
            ratios[f"relay without capture / pgbouncer TPS ({proto})"] = round(
                configs["relay_no_capture"]["median"] / bouncer["median"], 3
            )
        rec_cpu = configs.get("recorder", {}).get("cpu_us_per_transaction")
        if bouncer and rec_cpu and "cpu_us_per_transaction" in bouncer:
            ratios[f"pgbouncer / recorder CPU per transaction ({proto})"] = round(
                bouncer["cpu_us_per_transaction"]["median"] / rec_cpu["median"], 3
            )
    dec = data.get("decoder") or {}
    if dec.get("decoder_cpu_us_per_statement"):
        notes.append(
            f"the SQL decoder process (idle CPU priority, paced to a small share of one CPU "
            f"while the host is busy) spent {dec['decoder_cpu_us_per_statement']} us CPU per "
            f"statement, outside the relay (medians over the recorder's runs, each run a "
            f"fresh recorder); "
            f"it held back {dec.get('decoder_paced_s', 0)} s of each run; when the recorder was "
            f"stopped its spool held {dec['backlog_bytes_at_stop'] / 2**20:.1f} MiB on disk "
            f"and it exited {dec['exit_seconds_after_stop']} s later, the decoder done"
        )
    mem = data.get("memory") or {}
    if mem:
        notes.append(
            f"RSS over {mem['statements']:,} statements on one connection: "
            f"{mem['rss_min_kib'] // 1024}-{mem['rss_max_kib'] // 1024} MiB, slope "
            f"{mem['rss_slope_kib_per_million_statements'] / 1024:.1f} MiB per million "
            "(target: growth <= 50 MB per million)"
            + (
                f"; the decoder process: {mem['decoder_rss_kib'][0] // 1024}-"
                f"{mem['decoder_rss_kib'][1] // 1024} MiB"
                if mem.get("decoder_rss_kib") else ""
            )
        )
    return {
        "benchmark": "pg_recorder",
        "date": data["date"],
        "machine": data.get("machine", {}),
        "settings": data.get("pgbench", {}),
        "summary": summary,
        "ratios": ratios,
        "targets": targets,
        "notes": notes,
        **{k: data[k] for k in ("elapsed_s", "quick") if k in data},
    }


def _normalize_pg_replayer(data: dict[str, Any]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    ratios: dict[str, float] = {}
    for mode, figures in data["modes"].items():
        summary[f"{mode} postgres"] = {"tps": _stats(figures["postgres_tps"])}
        summary[f"{mode} replay"] = {"tps": _stats(figures["replay_tps"])}
        ratios[f"replay / PostgreSQL TPS ({mode})"] = figures["ratio_median"]
    return {
        "benchmark": "pg_replayer",
        "date": data["date"],
        "machine": data.get("machine", {}),
        "settings": data.get("settings", {}),
        "summary": summary,
        "ratios": ratios,
        "targets": {r: data.get("target_ratio", 0.5) for r in ratios},
        "notes": list(data.get("notes", [])),
        **{k: data[k] for k in ("elapsed_s", "quick") if k in data},
    }


def _normalize_http_replayer(data: dict[str, Any]) -> dict[str, Any]:
    """Add the figures behind two ratios that are not plain summary entries."""
    details = data.get("details", {})
    summary = data.setdefault("summary", {})
    d = details.get("d", {})
    if "bound" in d:
        b = float(d["bound"])
        summary["d bound"] = {"rps": {"median": b, "min": b, "max": b}}
    grown = details.get("a", {}).get("rss_mib_for_the_recording", {})
    for key, label in (("understudy replay (proxy)", "a proxy, recording only"),
                       ("mitmdump --server-replay", "a mitmdump, recording only")):  # fmt: skip
        if key in grown:
            v = float(grown[key])
            summary[label] = {"rss_mib": {"median": v, "min": v, "max": v}}
    return data


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Bring every benchmark's JSON to the common shape."""
    if "error" in data:
        return data
    if "throughput" in data:
        return _normalize_pg_recorder(data)
    if "modes" in data:
        return _normalize_pg_replayer(data)
    if data.get("benchmark") == "http_replayer":
        return _normalize_http_replayer(data)
    return data


def _kill_group(proc: subprocess.Popen[str]) -> None:
    """Stop a benchmark we started and everything it started (its own process group)."""
    for sig, wait in ((signal.SIGINT, 30), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue


def run_one(bench: Bench, quick: bool) -> dict[str, Any]:
    """Run one benchmark script; a failure is a result saying why, never an exception."""
    path = ROOT / "benchmarks" / bench.script
    out = RESULTS / f"{bench.name}.json"
    if not path.exists():
        return {"benchmark": bench.name, "error": f"{bench.script} does not exist"}
    args = bench.quick if quick else bench.full
    load = [round(x, 2) for x in os.getloadavg()]
    tmp_out = out.with_name(f".{out.name}.running")
    tmp_out.unlink(missing_ok=True)
    start = time.monotonic()
    err_path = RESULTS / f".{bench.name}.stderr"
    with open(err_path, "w+") as err:
        proc = subprocess.Popen(
            [sys.executable, str(path), *args, "--out", str(tmp_out)],
            cwd=ROOT,
            text=True,
            stdout=sys.stderr,  # progress on the terminal; stdout stays for the final table
            stderr=err,
            start_new_session=True,  # its own process group: a timeout stops all of it
        )
        try:
            proc.wait(bench.timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            return _failed(bench, f"stopped after the {bench.timeout:.0f} s time limit", start)
        except KeyboardInterrupt:
            _kill_group(proc)
            raise
        err.seek(0)
        stderr = err.read()
    err_path.unlink(missing_ok=True)
    sys.stderr.write(stderr[-4000:])
    if proc.returncode != 0 or not tmp_out.exists():
        lines = [ln for ln in stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        return _failed(bench, f"exit {proc.returncode}: {lines[0][:300]}", start)
    try:
        data: dict[str, Any] = normalize(json.loads(tmp_out.read_text()))
    except (ValueError, KeyError) as exc:
        return _failed(bench, f"unreadable result: {type(exc).__name__}: {exc}", start)
    data["elapsed_s"] = round(time.monotonic() - start, 1)
    data["quick"] = quick
    raw = json.loads(tmp_out.read_text())
    raw.update(elapsed_s=data["elapsed_s"], quick=quick, load_average_at_start=load)
    tmp_out.write_text(json.dumps(raw, indent=2) + "\n")
    os.replace(tmp_out, out)
    return data


def _failed(bench: Bench, why: str, start: float) -> dict[str, Any]:
    return {
        "benchmark": bench.name,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "error": why,
        "elapsed_s": round(time.monotonic() - start, 1),
    }


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != v:  # NaN
            return "-"
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)


def _figure(summary: dict[str, Any], ref: tuple[str, str] | str | None) -> tuple[str, int | None]:
    """``median (min-max)`` of a (config, metric) summary entry, and its number of rounds."""
    if ref is None:
        return "-", None
    if isinstance(ref, str):
        return ref, None
    config, metric = ref
    stats = summary.get(config, {}).get(metric)
    if not isinstance(stats, dict) or "median" not in stats:
        return "-", None
    lo, hi = _fmt(stats["min"]), _fmt(stats["max"])
    text = f"{_fmt(stats['median'])} ({lo}-{hi})" if lo != hi else _fmt(stats["median"])
    unit = {"rps": " req/s", "tps": " TPS", "seconds": " s", "startup_s": " s",
            "rss_mib": " MiB", "peak_rss_mb": " MB", "cpu_us_per_req": " us CPU/req",
            "cpu_us_per_transaction": " us CPU/txn"}.get(metric, "")  # fmt: skip
    return f"{text}{unit}", stats.get("n")


def _target(target: Any, value: float | None) -> tuple[str, str]:
    if target is None:
        return "-", "-"
    if isinstance(target, dict):  # {"max": x}: lower is better
        text = f"<= {target['max']}"
        return text, "-" if value is None else ("yes" if value <= target["max"] else "NO")
    text = f">= {target}"
    return text, "-" if value is None else ("yes" if value >= target else "NO")


def _repeats(r: dict[str, Any], *ns: int | None) -> str:
    known = [n for n in ns if n]
    if known:
        return str(min(known))
    settings = r.get("settings") or {}
    rounds = settings.get("rounds")
    return str(rounds) if rounds else "1"


def table_rows(r: dict[str, Any]) -> list[str]:
    """The table rows of one benchmark result (a failure is one row saying why)."""
    name = r.get("benchmark", "?")
    if "error" in r:
        return [f"| {name} | could not run: {r['error']} | - | - | - | - | - | - |"]
    summary = r.get("summary", {})
    targets = r.get("targets", {})
    ratios = r.get("ratios", {})
    rows = []
    for ratio, value in ratios.items():
        target_s, met = _target(targets.get(ratio), value)
        ours_ref, peer_ref = PAIRS.get((name, ratio), (None, None))
        ours, n1 = _figure(summary, ours_ref)
        peer, n2 = _figure(summary, peer_ref)
        rows.append(
            f"| {name} | {ratio} | {_fmt(value)} | {target_s} | {met} | {ours} | {peer} | "
            f"{_repeats(r, n1, n2)} |"
        )
    notes = list(r.get("notes", []))
    for ratio, target in targets.items():
        if ratio not in ratios:  # a target the run could not measure still gets its row
            why = "; ".join(notes) or "not measured in this run"
            target_s, _ = _target(target, None)
            rows.append(f"| {name} | {ratio} | - | {target_s} | not measured: {why} | - | - | - |")
            notes = []
    rows += [f"| {name} | note: {note} | - | - | - | - | - | - |" for note in notes]
    return rows


def render(results: list[dict[str, Any]], how: str, at_start: dict[str, Any]) -> str:
    m = at_start
    load = ", ".join(f"{x:.2f}" for x in m["load_average"])
    dates = ", ".join(
        f"{r.get('benchmark')} {r.get('date', '?')}"
        + (" (quick)" if r.get("quick") else "")
        + (f", {r['elapsed_s']:.0f} s" if "elapsed_s" in r else "")
        for r in results
    )
    lines = [
        "# Benchmarks",
        "",
        f"{how}, {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}.",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, {m['platform']}, "
        f"Python {m['python']}; load average {m.get('load_label', 'at start')} {load} "
        "(1, 5, 15 min).",
        "",
        "Every ratio compares our code with a real peer measured in the same run, alternating "
        "rounds (or with a fixed budget); figures are the median (min-max) over the rounds. The "
        "machine is shared and noisy: read the ratios, not the absolute numbers. A benchmark "
        "that could not run, or a target that could not be measured, has a row saying why.",
        "",
        f"Runs: {dates}.",
        "",
        "| benchmark | ratio | value | target | met | ours: median (min-max) | "
        "peer: median (min-max) | rounds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines += table_rows(r)
    lines += [
        "",
        "Regenerate with `make bench` (about 40 minutes; `python benchmarks/run_all.py --quick` "
        "for a smoke run). Per-benchmark JSON with every round is in `benchmarks/results/`.",
        "",
    ]
    return "\n".join(lines)


def ensure_peers() -> None:
    script = ROOT / "scripts" / "ensure-bench-peers"
    if script.exists():
        subprocess.run([str(script)], check=False)


def _saved(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    try:
        return normalize(json.loads(path.read_text()))
    except (ValueError, KeyError) as exc:
        return {"benchmark": name, "error": f"unreadable saved result: {exc}"}


def write_markdown(text: str) -> None:
    target = ROOT / "BENCHMARKS.md"
    tmp = target.with_name(".BENCHMARKS.md.tmp")
    tmp.write_text(text)
    os.replace(tmp, target)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short forms, for a smoke run")
    names = [b.name for b in BENCHMARKS]
    parser.add_argument("--only", action="append", choices=names, help="run only this one")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite BENCHMARKS.md from saved results"
    )
    args = parser.parse_args()
    at_start = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        results = [r for b in BENCHMARKS if (r := _saved(b.name)) is not None]
        at_start["load_label"] = "when rendered"
        how = "Rendered by `benchmarks/run_all.py --render-only` from the saved results"
        write_markdown(render(results, how, at_start))
        return 0
    ensure_peers()
    results = []
    for bench in BENCHMARKS:
        if args.only and bench.name not in args.only:
            saved = _saved(bench.name)  # keep the other rows of the last table
            if saved is not None:
                results.append(saved)
            continue
        print(f"== {bench.name}", file=sys.stderr, flush=True)
        results.append(run_one(bench, args.quick))
    how = f"Written by `make bench` ({'quick' if args.quick else 'full'} forms)"
    if args.only:
        how += f"; this run: {', '.join(args.only)}, other rows from saved results"
    write_markdown(render(results, how, at_start))
    print((ROOT / "BENCHMARKS.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
