"""Benchmark: the HTTP recorder against bare mitmproxy and mitmproxy's own recorder.

wrk (``-t1 -c8`` by default) drives a 1-line JSON response from nginx (or, without nginx, the
aiohttp test upstream) through, in alternation, round after round:

  (a) bare ``mitmdump`` in reverse mode,
  (b) ``mitmdump -w FILE`` (mitmproxy's own flow recorder),
  (c) ``understudy record`` in reverse mode,

all three quiet (``-q`` / ``--quiet``: no per-flow console output). It prints throughput and
p50/p99 latency with the ratios (c)/(a) (target >= 0.95) and (c)/(b) (target >= 1.0), and
writes median, min and max per configuration with the machine and date as JSON.

Example::

    python benchmarks/http_recorder.py --rounds 3 --duration 10
    python benchmarks/http_recorder.py --rounds 2 --duration 5 --out /tmp/http.json

When run as root it installs wrk and nginx-light with apt-get if they are missing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "http_recorder.json"
BODY = '{"ok":true,"items":[{"id":1,"name":"item 1"},{"id":2,"name":"item 2"}]}'
CONFIGS = ("mitmdump", "mitmdump -w", "understudy record")
TARGETS = {"understudy record / mitmdump": 0.95, "understudy record / mitmdump -w": 1.0}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def ensure_tools() -> None:
    """Install wrk and nginx-light with apt when missing and we are root; else explain."""
    missing = [pkg for tool, pkg in (("wrk", "wrk"), ("nginx", "nginx-light")) if not _which(tool)]
    if not missing:
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"installing {' '.join(missing)} with apt-get ...", file=sys.stderr)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env, capture_output=True)
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *missing], check=True, env=env, capture_output=True
        )
        return
    why = "not root" if os.geteuid() != 0 else "no apt-get"
    print(f"missing {' '.join(missing)} and cannot install them ({why}).", file=sys.stderr)
    if "wrk" in missing:
        sys.exit("wrk is required: install it (e.g. `sudo apt-get install wrk`)")


def _which(tool: str) -> str | None:
    return shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin")


@dataclass
class Upstream:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    path: str

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def start_upstream(tmp: Path) -> Upstream:
    port = free_port()
    nginx = _which("nginx")
    if nginx:
        prefix = tmp / "nginx"
        (prefix / "logs").mkdir(parents=True)
        conf = prefix / "nginx.conf"
        temps = " ".join(
            f"{k}_temp_path {prefix / k};"
            for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        conf.write_text(
            "worker_processes 1; daemon off; error_log stderr warn;\n"
            f"pid {prefix / 'nginx.pid'};\n"
            "events { worker_connections 1024; }\n"
            f"http {{ access_log off; {temps}\n"
            f"  server {{ listen 127.0.0.1:{port};\n"
            f"    location / {{ default_type application/json; return 200 '{BODY}'; }} }} }}\n"
        )
        proc = subprocess.Popen([nginx, "-p", str(prefix), "-c", str(conf)])
        wait_port(port, proc)
        return Upstream("nginx", port, proc, "/")
    print("nginx unavailable: using the aiohttp test upstream (slower)", file=sys.stderr)
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "fixtures" / "http_upstream.py"), "--port", str(port)]
    )
    wait_port(port, proc)
    return Upstream("aiohttp fixtures/http_upstream.py", port, proc, "/json")


def start_proxy(config: str, upstream: Upstream, tmp: Path, run: int) -> tuple[Any, int, Path]:
    port = free_port()
    target = f"http://127.0.0.1:{upstream.port}"
    confdir = tmp / "mitmproxy"
    out = tmp / f"run-{run}"
    mitm = [str(BIN / "mitmdump"), "-q", "--mode", f"reverse:{target}", "--listen-host",
            "127.0.0.1", "-p", str(port), "--set", f"confdir={confdir}"]  # fmt: skip
    if config == "mitmdump":
        argv = mitm
    elif config == "mitmdump -w":
        argv = [*mitm, "-w", str(out.with_suffix(".flows"))]
    else:
        argv = [str(BIN / "understudy"), "record", "--quiet",
                "--tape", str(out.with_suffix(".tape")), "--mode", f"reverse:{target}",
                "--http", f"127.0.0.1:{port}", "--confdir", str(confdir)]  # fmt: skip
    env = {**os.environ, "UNDERSTUDY_KEY": os.environ.get("UNDERSTUDY_KEY", "ab" * 32)}
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_port(port, proc)
    return proc, port, out


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"unexpected wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(port: int, path: str, seconds: float, threads: int, conns: int) -> dict[str, Any]:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds:g}s", "--latency",
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": _ms(pct["50"]),
        "p99_ms": _ms(pct["99"]),
        "requests": total,
        "socket_errors": errors.group(1) if errors else None,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tape_rows(tape: Path) -> int | None:
    try:
        sys.path.insert(0, str(REPO))
        from understudy.tape import open_tape

        return open_tape(tape).count("http")
    except Exception:
        return None


def stop(proc: subprocess.Popen[bytes]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return err.decode(errors="replace")


def summarize(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
    }


def machine() -> dict[str, Any]:
    mem_kib = 0
    with open("/proc/meminfo", encoding="ascii") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    versions = {}
    for name in ("mitmproxy", "understudy"):
        try:
            from importlib.metadata import version

            versions[name] = version(name)
        except Exception:
            versions[name] = None
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "memory_gib": round(mem_kib / 1024**2, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "wrk": (wrk.stdout or wrk.stderr).split("\n")[0].strip(),
        **versions,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    ensure_tools()
    runs: dict[str, list[dict[str, Any]]] = {c: [] for c in CONFIGS}
    with tempfile.TemporaryDirectory(prefix="understudy-bench-") as tmp_name:
        tmp = Path(tmp_name)
        upstream = start_upstream(tmp)
        try:
            direct = run_wrk(upstream.port, upstream.path, min(args.duration, 5), args.threads,
                             args.connections)  # fmt: skip
            print(f"direct {upstream.name}: {direct['rps']:.0f} req/s", file=sys.stderr)
            n = 0
            for rnd in range(args.rounds):
                for config in CONFIGS:
                    n += 1
                    proc, port, out = start_proxy(config, upstream, tmp, n)
                    try:
                        run_wrk(port, upstream.path, 1, args.threads, args.connections)  # warm-up
                        cpu = cpu_seconds(proc.pid)
                        res = run_wrk(port, upstream.path, args.duration, args.threads,
                                      args.connections)  # fmt: skip
                        cpu = cpu_seconds(proc.pid) - cpu
                        res["cpu_ms_per_req"] = 1000 * cpu / max(res["requests"], 1)
                    finally:
                        err = stop(proc)
                    res["round"] = rnd + 1
                    if config == "understudy record":
                        res["tape_rows"] = tape_rows(out.with_suffix(".tape"))
                        res["counters"] = [ln for ln in err.splitlines() if "http" in ln]
                        shutil.rmtree(out.with_suffix(".tape"), ignore_errors=True)
                    else:
                        out.with_suffix(".flows").unlink(missing_ok=True)
                    runs[config].append(res)
                    print(
                        f"round {rnd + 1} {config:18s} {res['rps']:8.0f} req/s  "
                        f"p50 {res['p50_ms']:6.2f} ms  p99 {res['p99_ms']:6.2f} ms  "
                        f"cpu {res['cpu_ms_per_req']:.2f} ms/req",
                        file=sys.stderr,
                    )
        finally:
            upstream.stop()
    summary = {
        c: {k: summarize([r[k] for r in rs]) for k in ("rps", "p50_ms", "p99_ms", "cpu_ms_per_req")}
        for c, rs in runs.items()
    }
    rec = summary["understudy record"]["rps"]["median"]
    ratios = {
        "understudy record / mitmdump": rec / summary["mitmdump"]["rps"]["median"],
        "understudy record / mitmdump -w": rec / summary["mitmdump -w"]["rps"]["median"],
    }
    result = {
        "benchmark": "http_recorder",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {
            "rounds": args.rounds,
            "duration_s": args.duration,
            "wrk": f"-t{args.threads} -c{args.connections}",
            "upstream": upstream.name,
            "body_bytes": len(BODY),
        },
        "direct_upstream": direct,
        "summary": summary,
        "ratios": ratios,
        "targets": TARGETS,
        "runs": runs,
        "notes": [
            "all three quiet (mitmdump -q, understudy record --quiet); wrk warms each up 1 s",
            "CPU ms/request of the proxy process (median): "
            + ", ".join(f"{c} {summary[c]['cpu_ms_per_req']['median']:.2f}" for c in CONFIGS),
        ],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"\n{'config':20s} {'req/s (median)':>15s} {'p50 ms':>8s} {'p99 ms':>8s} "
        f"{'cpu ms/req':>11s}"
    )
    for c in CONFIGS:
        s = summary[c]
        print(
            f"{c:20s} {s['rps']['median']:15.0f} {s['p50_ms']['median']:8.2f} "
            f"{s['p99_ms']['median']:8.2f} {s['cpu_ms_per_req']['median']:11.2f}"
        )
    for name, value in ratios.items():
        verdict = "ok" if value >= TARGETS[name] else "BELOW TARGET"
        print(f"{name}: {value:.3f} (target >= {TARGETS[name]}) {verdict}")
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
