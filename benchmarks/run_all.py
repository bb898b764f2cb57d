"""Run every benchmark in one go and rewrite BENCHMARKS.md (``make bench``).

Each benchmark script takes ``--out FILE`` and writes JSON with at least::

    {"benchmark": NAME, "date": ISO, "machine": {...},
     "summary": {config: {metric: {"median": x, "min": x, "max": x}}},
     "ratios": {name: value}, "targets": {name: minimum}}

A benchmark that fails or cannot run still gets a row saying why, instead of disappearing.

Usage::

    python benchmarks/run_all.py                 # full forms
    python benchmarks/run_all.py --quick         # short forms (smoke run)
    python benchmarks/run_all.py --only http_recorder
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"

#: (name, script, full arguments, quick arguments)
BENCHMARKS: list[tuple[str, str, list[str], list[str]]] = [
    ("http_recorder", "http_recorder.py", ["--rounds", "3", "--duration", "10"],
     ["--rounds", "2", "--duration", "4"]),
    ("pg_recorder", "pg_recorder.py",
     ["--rounds", "3", "--seconds", "10", "--protocols", "simple,prepared"],
     ["--rounds", "2", "--seconds", "10", "--protocols", "simple,prepared", "--rss-seconds", "20"]),
    ("analysis", "analysis.py", [], ["--quick"]),
    ("http_replayer", "http_replayer.py", [], ["--quick"]),
    ("pg_replayer", "pg_replayer.py", ["--rounds", "3", "--duration", "10"],
     ["--rounds", "2", "--duration", "5"]),
]  # fmt: skip


def machine() -> dict[str, Any]:
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def _stats(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("median", "min", "max")}


def normalize(data: dict[str, Any]) -> dict[str, Any]:
    """Bring the PostgreSQL benchmarks' own JSON shapes to the common one."""
    name = data.get("benchmark", "")
    if "throughput" in data:  # pg_recorder
        summary: dict[str, Any] = {}
        ratios: dict[str, float] = {}
        for proto, configs in data["throughput"].items():
            for config, figures in configs.items():
                if isinstance(figures, dict):
                    summary[f"{proto} {config}"] = {"tps": _stats(figures)}
            ratios[f"recorder / pgbouncer TPS ({proto})"] = configs["recorder_vs_pgbouncer"]
        mem = data.get("memory") or {}
        notes = []
        if mem:
            notes.append(
                f"RSS over {mem['statements']} statements on one connection: "
                f"{mem['rss_min_kib'] // 1024}-{mem['rss_max_kib'] // 1024} MiB, slope "
                f"{mem['rss_slope_kib_per_million_statements'] / 1024:.1f} MiB per million "
                "(target: growth <= 50 MB per million)"
            )
        return {
            "benchmark": "pg_recorder",
            "date": data["date"],
            "summary": summary,
            "ratios": ratios,
            "targets": {r: 0.8 for r in ratios},
            "notes": notes,
        }
    if "modes" in data:  # pg_replayer
        summary = {}
        ratios = {}
        for mode, figures in data["modes"].items():
            summary[f"{mode} postgres"] = {"tps": _stats(figures["postgres_tps"])}
            summary[f"{mode} replay"] = {"tps": _stats(figures["replay_tps"])}
            ratios[f"replay / PostgreSQL TPS ({mode})"] = figures["ratio_median"]
        return {
            "benchmark": "pg_replayer",
            "date": data["date"],
            "summary": summary,
            "ratios": ratios,
            "targets": {r: data.get("target_ratio", 0.5) for r in ratios},
        }
    data.setdefault("benchmark", name)
    return data


def run_one(name: str, script: str, args: list[str]) -> dict[str, Any]:
    path = ROOT / "benchmarks" / script
    out = RESULTS / f"{name}.json"
    if not path.exists():
        return {"benchmark": name, "error": f"{script} does not exist yet"}
    out.unlink(missing_ok=True)
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(path), *args, "--out", str(out)],
        cwd=ROOT,
        text=True,
        stdout=sys.stdout,
        stderr=subprocess.PIPE,
        check=False,
    )
    sys.stderr.write(proc.stderr[-4000:])
    if proc.returncode != 0 or not out.exists():
        tail = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        return {"benchmark": name, "error": f"exit {proc.returncode}: {tail[0][:300]}"}
    data: dict[str, Any] = normalize(json.loads(out.read_text()))
    data.setdefault("elapsed_s", round(time.monotonic() - start, 1))
    return data


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}"
    return str(v)


def _raw(summary: dict[str, Any]) -> str:
    parts = []
    for config, metrics in summary.items():
        for metric, stats in metrics.items():
            if isinstance(stats, dict) and "median" in stats:
                parts.append(
                    f"{config} {metric} {_fmt(stats['median'])} "
                    f"({_fmt(stats['min'])}-{_fmt(stats['max'])})"
                )
    return "; ".join(parts)


def render(results: list[dict[str, Any]], quick: bool, *, rendered_only: bool = False) -> str:
    m = machine()
    how = (
        "Rendered by `benchmarks/run_all.py --render-only` from the last result of each "
        "benchmark (dates per row below)"
        if rendered_only
        else f"Written by `make bench` ({'quick' if quick else 'full'} forms)"
    )
    dates = ", ".join(f"{r.get('benchmark')} {r.get('date', '?')}" for r in results)
    lines = [
        "# Benchmarks",
        "",
        f"{how} on "
        f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}; machine: {m['cores']} cores, "
        f"{m['memory_gib']} GiB, {m['platform']}, Python {m['python']}.",
        "",
        "Every ratio compares our code with a real peer measured in the same run, alternating "
        "rounds; raw figures are median (min-max) over the rounds. The machine is shared and "
        "noisy: read the ratios, not the absolute numbers.",
        "",
        f"Runs: {dates}.",
        "",
        "| benchmark | ratio | value | target | met | raw figures |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        name = r.get("benchmark", "?")
        if "error" in r:
            lines.append(f"| {name} | - | - | - | could not run | {r['error']} |")
            continue
        targets = r.get("targets", {})
        raw = _raw(r.get("summary", {}))
        for ratio, value in r.get("ratios", {}).items():
            target = targets.get(ratio)
            if target is None:
                met, target_s = "-", "-"
            elif isinstance(target, dict):  # {"max": x} for lower-is-better ratios
                met = "yes" if value <= target["max"] else "NO"
                target_s = f"<= {target['max']}"
            else:
                met = "yes" if value >= target else "NO"
                target_s = f">= {target}"
            lines.append(f"| {name} | {ratio} | {_fmt(value)} | {target_s} | {met} | {raw} |")
            raw = ""  # print the raw figures once per benchmark
        for note in r.get("notes", []):
            lines.append(f"| {name} | note | - | - | - | {note} |")
    lines += ["", "Per-benchmark JSON (every round) is in `benchmarks/results/`.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short forms, for a smoke run")
    parser.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
    parser.add_argument(
        "--render-only", action="store_true", help="rewrite BENCHMARKS.md from saved results"
    )
    args = parser.parse_args()
    if args.render_only:
        saved = [RESULTS / f"{name}.json" for name, *_ in BENCHMARKS]
        results = [normalize(json.loads(p.read_text())) for p in saved if p.exists()]
        (ROOT / "BENCHMARKS.md").write_text(render(results, False, rendered_only=True))
        return 0
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    for name, script, full, quick in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        print(f"== {name}", file=sys.stderr, flush=True)
        results.append(run_one(name, script, quick if args.quick else full))
    if args.only:  # keep the other rows of the last full table
        for name, *_ in BENCHMARKS:
            prev = RESULTS / f"{name}.json"
            if name not in args.only and prev.exists():
                results.append(normalize(json.loads(prev.read_text())))
    (ROOT / "BENCHMARKS.md").write_text(render(results, args.quick))
    print((ROOT / "BENCHMARKS.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
