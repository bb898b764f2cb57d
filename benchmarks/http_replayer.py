"""Benchmark: the HTTP replayer against mitmproxy's server replay and a hello-world server.

One run, four measurements, each configuration alternated round after round (the machine is
shared: medians of interleaved rounds, plus CPU time per request, which noise moves less):

  (a) proxy mode (``understudy replay``, mode regular) vs ``mitmdump --server-replay FLOWS``
      over the same recorded traffic (a flows file written with ``mitmproxy.io.FlowWriter``
      and the equivalent world): throughput (target >= 1.0x), and start-up time and RSS with
      100k recorded exchanges (target <= 1/5 of mitmdump's);
  (b) reverse mode vs a hello-world ``asyncio.Protocol`` server on the same stack (uvloop)
      answering a fixed response: throughput (target >= 0.8x);
  (c) scaling: reverse-mode throughput with 100k recorded exchanges vs 100 (target >= 0.95x),
      the load cycling over 100 recorded requests spread over each world; the same load over
      10,000 distinct requests of the 100k world is reported too;
  (d) 50 concurrent clients on a route with a calibrated 50 ms delay: throughput (target
      >= 0.9x of min(50 / 0.05 s, the no-delay throughput)).

Load comes from wrk (``-t1``; ``-c8`` unless said), through the proxy with absolute-form
request lines (plain HTTP, so both proxies do the same work). Latency is off except in (d).

Example::

    python benchmarks/http_replayer.py                       # 3 rounds x 8 s
    python benchmarks/http_replayer.py --quick --out /tmp/http_replayer.json

Not a test: it asserts nothing, prints a table and writes JSON to ``--out``.
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
sys.path.insert(0, str(REPO))
BIN = Path(sys.executable).parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "http_replayer.json"
HOST = "api.example.test"
KEY_HEX = "ab" * 32
TARGETS = {
    "a_throughput proxy / mitmdump --server-replay": 1.0,
    "a_startup mitmdump / proxy (x faster)": 5.0,
    "a_rss mitmdump / proxy (x smaller)": 5.0,
    "b_throughput reverse / hello world": 0.8,
    "c_throughput 100k / 100 exchanges": 0.95,
    "d_throughput 50 ms delay / bound": 0.9,
}
REPLAY = (
    "import sys; from understudy.cli.replay import replay; "
    "replay.main(sys.argv[1:], prog_name='understudy replay')"
)
HELLO = '''
import asyncio, sys, uvloop
BODY = b'{"id": 1, "name": "item 1", "price": 10, "tags": ["a", "b"]}'
RESP = (b"HTTP/1.1 200 OK\\r\\ncontent-type: application/json\\r\\ncontent-length: %d\\r\\n\\r\\n"
        % len(BODY)) + BODY
class Hello(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buf = transport, b""
    def data_received(self, data):
        self.buf += data
        while (i := self.buf.find(b"\\r\\n\\r\\n")) >= 0:
            self.buf = self.buf[i + 4:]
            self.transport.write(RESP)
async def main():
    await asyncio.get_running_loop().create_server(Hello, "127.0.0.1", int(sys.argv[1]))
    await asyncio.Event().wait()
uvloop.run(main())
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body_of(i: int) -> bytes:
    return json.dumps({"id": i, "name": f"item {i}", "price": 10 + i % 90, "tags": ["a", "b"],
                       "description": f"recorded item number {i} " + "x" * (i % 64)}).encode()


# -- recorded traffic: a world and the equivalent mitmproxy flows -------------------------------
def write_world(path: Path, n: int, *, delay_ms: float | None = None) -> Path:
    import pyarrow as pa

    from understudy.matchkey import body_key
    from understudy.world import TABLES, write_world

    hist = [[delay_ms, delay_ms, n]] if delay_ms is not None else [[0.5, 1.0, n]]
    doc = {"schema_version": 1, "source": {"tapes": []}, "identity_classes": [],
           "rate_limits": [], "permissions": [], "sql": [], "n_plus_one": [],
           "routes": [{"host": HOST, "method": "GET", "route": "/items/{id}", "count": n,
                       "latency_ms": {"histogram": hist}, "status_counts": {"200": n},
                       "errors": {}}]}  # fmt: skip
    ids = [f"r{i}" for i in range(n)]
    responses = pa.table({
        "response_id": ids, "status": [200] * n,
        "headers": [[{"name": "content-type", "value": "application/json"}]] * n,
        "body": [body_of(i) for i in range(n)], "body_truncated": [False] * n,
    }, schema=TABLES["http_responses"])  # fmt: skip
    exchanges = pa.table({
        "host": [HOST] * n, "method": ["GET"] * n, "route": ["/items/{id}"] * n,
        "path": [f"/items/{i}" for i in range(n)], "query": [""] * n,
        "body_key": [body_key(b"")] * n, "identity": [None] * n, "identity_class": [None] * n,
        "seq": [0] * n, "status": [200] * n, "error": [None] * n, "response_id": ids,
        "duration_ms": [1.0] * n,
    }, schema=TABLES["http_exchanges"])  # fmt: skip
    return write_world(path, doc, {"http_exchanges": exchanges, "http_responses": responses})


def write_flows(path: Path, n: int) -> Path:
    """``n`` flows in mitmproxy's format. One flow is built with mitmproxy's own classes and
    written with :class:`mitmproxy.io.FlowWriter`; the others are that flow's state with the
    path, body and ids changed (building 100k flow objects takes minutes here)."""
    import copy
    import uuid

    from mitmproxy import http, io
    from mitmproxy.io import tnetstring
    from mitmproxy.test import tflow

    flow = http.HTTPFlow(tflow.tclient_conn(), tflow.tserver_conn())
    flow.request = http.Request.make("GET", f"http://{HOST}/items/0")
    flow.response = http.Response.make(200, body_of(0), {"content-type": "application/json"})
    with open(path, "wb") as f:
        io.FlowWriter(f).add(flow)
        template = flow.get_state()
        for i in range(1, n):
            state = copy.copy(template)
            state["id"] = str(uuid.UUID(int=i))
            state["request"] = {**template["request"], "path": f"/items/{i}".encode()}
            body = body_of(i)
            state["response"] = {
                **template["response"], "content": body,
                "headers": ((b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())),
            }  # fmt: skip
            tnetstring.dump(state, f)
    return path


def wrk_script(path: Path, urls: list[str]) -> Path:
    """A wrk script cycling over ``urls``; absolute URLs (proxy requests) get their Host."""
    lines = ", ".join(f'"{u}"' for u in urls)
    host = f"{{['Host'] = '{HOST}'}}" if urls[0].startswith("http") else "nil"
    path.write_text(f"local urls = {{{lines}}}\nlocal i = 0\n"
                    "request = function()\n  i = i % #urls + 1\n"
                    f"  return wrk.format('GET', urls[i], {host})\nend\n")  # fmt: skip
    return path


# -- processes -------------------------------------------------------------------------------------
@dataclass
class Proc:
    name: str
    proc: subprocess.Popen[bytes]
    port: int
    startup_s: float
    rss_mib: float

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def probe(port: int, request: bytes) -> bool:
    """One request; True when an HTTP 200 came back."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(request)
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def launch(name: str, argv: list[str], port: int, request: bytes, timeout: float = 600) -> Proc:
    """Start ``argv``; start-up time is until it answers ``request`` with a 200."""
    env = {**os.environ, "UNDERSTUDY_KEY": KEY_HEX}
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not probe(port, request):
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with {proc.returncode}: {argv}")
        if time.perf_counter() - start > timeout:
            proc.kill()
            raise TimeoutError(f"{name} did not answer within {timeout} s")
        time.sleep(0.02)
    startup = time.perf_counter() - start
    return Proc(name, proc, port, startup, rss_mib(proc.pid))


def proxy_request(port: int) -> bytes:
    return f"GET http://{HOST}/items/1 HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()


def direct_request(port: int) -> bytes:
    return f"GET /items/1 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()


def start_replay(world: Path, tmp: Path, *args: str, proxy: bool = False) -> Proc:
    port = free_port()
    mode = [] if proxy else ["--mode", f"reverse:http://{HOST}"]
    argv = [sys.executable, "-c", REPLAY, "--world", str(world), "--http", f"127.0.0.1:{port}",
            "-q", *mode, *args]  # fmt: skip
    if proxy:
        argv += ["--confdir", str(tmp / "mitmproxy")]
    name = "understudy replay" + (" (proxy)" if proxy else "")
    req = proxy_request(port) if proxy else direct_request(port)
    return launch(name, argv, port, req)


def start_mitmdump(flows: Path, tmp: Path) -> Proc:
    port = free_port()
    argv = [str(BIN / "mitmdump"), "-q", "--listen-host", "127.0.0.1", "-p", str(port),
            "--set", f"confdir={tmp / 'mitmproxy'}", "--set", "connection_strategy=lazy",
            "--server-replay", str(flows), "--server-replay-reuse",
            "--set", "server_replay_extra=404"]  # fmt: skip
    return launch("mitmdump --server-replay", argv, port, proxy_request(port))


def start_hello(tmp: Path) -> Proc:
    port = free_port()
    script = tmp / "hello.py"
    script.write_text(HELLO)
    return launch("hello world", [sys.executable, str(script), str(port)], port,
                  direct_request(port))  # fmt: skip


# -- load --------------------------------------------------------------------------------------
def run_wrk(proc: Proc, seconds: float, script: Path | None = None, *, conns: int = 8,
            path: str = "/items/1") -> dict[str, Any]:  # fmt: skip
    args = ["wrk", "-t1", f"-c{conns}", f"-d{seconds:g}s", "--latency"]
    if script is not None:
        args += ["-s", str(script)]
    cpu = cpu_seconds(proc.proc.pid)
    out = subprocess.run([*args, f"http://127.0.0.1:{proc.port}{path}"], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    cpu = cpu_seconds(proc.proc.pid) - cpu
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "requests": total, "cpu_us_per_req": 1e6 * cpu / max(total, 1),
            "non_2xx": int(non2xx.group(1)) if non2xx else 0}  # fmt: skip


def summarize(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return {"nproc": os.cpu_count(), "memory_gib": round(mem, 1),
            "platform": platform.platform(), "python": platform.python_version(),
            "mitmproxy": version("mitmproxy"), "uvloop": version("uvloop"),
            "wrk": (wrk.stdout or wrk.stderr).split("\n")[0].strip(),
            "load_average": os.getloadavg()}  # fmt: skip


def ensure_wrk() -> None:
    if shutil.which("wrk"):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=True, env=env,
                       capture_output=True)  # fmt: skip
        return
    sys.exit("wrk is required: install it (e.g. `sudo apt-get install wrk`)")


# -- the four measurements ---------------------------------------------------------------------
def rounds(procs: list[Proc], n: int, seconds: float, scripts: dict[str, Path | None],
           **wrk: Any) -> dict[str, list[dict[str, Any]]]:  # fmt: skip
    """``n`` interleaved rounds of wrk against each process (after a 1 s warm-up each)."""
    for p in procs:
        run_wrk(p, 1, scripts.get(p.name), **wrk)
    out: dict[str, list[dict[str, Any]]] = {p.name: [] for p in procs}
    for r in range(n):
        for p in procs:
            res = run_wrk(p, seconds, scripts.get(p.name), **wrk)
            out[p.name].append(res)
            print(f"  round {r + 1} {p.name:38s} {res['rps']:9.0f} req/s  "
                  f"{res['cpu_us_per_req']:7.1f} us cpu/req  non-2xx {res['non_2xx']}",
                  file=sys.stderr)  # fmt: skip
    return out


def bench_a(tmp: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    print(f"(a) proxy mode vs mitmdump --server-replay, {n} recorded exchanges", file=sys.stderr)
    world = write_world(tmp / "a.world", n)
    flows = write_flows(tmp / "a.flows", n)
    urls = [f"http://{HOST}/items/{i}" for i in range(0, n, max(1, n // 100))][:100]
    script = wrk_script(tmp / "a.lua", urls)
    ours, theirs = "understudy replay (proxy)", "mitmdump --server-replay"
    starts: dict[str, list[float]] = {ours: [], theirs: []}
    rss: dict[str, list[float]] = {k: [] for k in starts}
    runs: dict[str, list[dict[str, Any]]] = {}
    for n_start in range(args.start_rounds):
        procs = []
        try:
            for start in (lambda: start_replay(world, tmp, "--latency", "off", proxy=True),
                          lambda: start_mitmdump(flows, tmp)):  # fmt: skip
                p = start()
                procs.append(p)
                starts[p.name].append(p.startup_s)
                rss[p.name].append(p.rss_mib)
                print(f"  {p.name:38s} start-up {p.startup_s:6.2f} s  RSS {p.rss_mib:7.1f} MiB",
                      file=sys.stderr)  # fmt: skip
            if n_start == 0:  # throughput: both running, interleaved rounds
                runs = rounds(procs, args.rounds, args.duration, {p.name: script for p in procs})
        finally:
            for p in procs:
                p.stop()
    base = {}  # the same processes with 100 recorded exchanges: what the recording costs
    small_world = write_world(tmp / "a100.world", 100)
    small_flows = write_flows(tmp / "a100.flows", 100)
    for start in (lambda: start_replay(small_world, tmp, "--latency", "off", proxy=True),
                  lambda: start_mitmdump(small_flows, tmp)):  # fmt: skip
        p = start()
        base[p.name] = p.rss_mib
        p.stop()
    grown = {k: statistics.median(v) - base[k] for k, v in rss.items()}
    rps = {k: summarize([r["rps"] for r in v]) for k, v in runs.items()}
    return {
        "exchanges": n,
        "rss_mib_with_100_exchanges": base,
        "rss_mib_for_the_recording": grown,
        "startup_s": {k: summarize(v) for k, v in starts.items()},
        "rss_mib": {k: summarize(v) for k, v in rss.items()},
        "rps": rps,
        "cpu_us_per_req": {k: summarize([r["cpu_us_per_req"] for r in v])
                           for k, v in runs.items()},
        "runs": runs,
        "ratios": {
            "a_throughput proxy / mitmdump --server-replay":
                rps[ours]["median"] / rps[theirs]["median"],
            "a_startup mitmdump / proxy (x faster)":
                statistics.median(starts[theirs]) / statistics.median(starts[ours]),
            "a_rss mitmdump / proxy (x smaller)":
                statistics.median(rss[theirs]) / statistics.median(rss[ours]),
            "a_rss_recording mitmdump / proxy (x smaller, above 100 exchanges)":
                grown[theirs] / max(grown[ours], 1.0),
        },
    }


def bench_bc(tmp: Path, n: int, args: argparse.Namespace) -> dict[str, Any]:
    print("(b) reverse mode vs hello world; (c) 100k vs 100 exchanges", file=sys.stderr)
    small = write_world(tmp / "c100.world", 100)
    big = write_world(tmp / "c100k.world", n)
    spread = wrk_script(tmp / "c-spread.lua",
                        [f"/items/{i}" for i in range(0, n, n // 100)][:100])  # fmt: skip
    small_script = wrk_script(tmp / "c-small.lua", [f"/items/{i}" for i in range(100)])
    many = wrk_script(tmp / "c-many.lua", [f"/items/{i}" for i in range(0, n, n // 10_000)])
    hello = start_hello(tmp)
    rev_small = start_replay(small, tmp, "--latency", "off")
    rev_small.name = "reverse, 100 exchanges"
    rev_big = start_replay(big, tmp, "--latency", "off")
    rev_big.name = "reverse, 100k exchanges"
    try:
        b = rounds([hello, rev_small], args.rounds, args.duration, {})
        c = rounds([rev_small, rev_big], args.rounds, args.duration,
                   {rev_small.name: small_script, rev_big.name: spread})  # fmt: skip
        c_many = rounds([rev_big], args.rounds, args.duration, {rev_big.name: many})
        big_rss = rss_mib(rev_big.proc.pid)
    finally:
        for p in (hello, rev_small, rev_big):
            p.stop()
    med = {f"b {k}": summarize([r["rps"] for r in v]) for k, v in b.items()}
    med |= {f"c {k}": summarize([r["rps"] for r in v]) for k, v in c.items()}
    med["c reverse, 100k exchanges, 10,000 distinct requests"] = summarize(
        [r["rps"] for r in c_many[rev_big.name]])
    cpu = {f"b {k}": summarize([r["cpu_us_per_req"] for r in v]) for k, v in b.items()}
    cpu |= {f"c {k}": summarize([r["cpu_us_per_req"] for r in v]) for k, v in c.items()}
    return {
        "rps": med,
        "cpu_us_per_req": cpu,
        "startup_s": {"reverse, 100 exchanges": rev_small.startup_s,
                      "reverse, 100k exchanges": rev_big.startup_s},
        "rss_mib_100k": big_rss,
        "runs": {"b": b, "c": c, "c_many": c_many},
        "ratios": {
            "b_throughput reverse / hello world":
                med["b reverse, 100 exchanges"]["median"] / med["b hello world"]["median"],
            "b_cpu hello world / reverse": cpu["b hello world"]["median"]
                / cpu["b reverse, 100 exchanges"]["median"],
            "c_throughput 100k / 100 exchanges": med["c reverse, 100k exchanges"]["median"]
                / med["c reverse, 100 exchanges"]["median"],
            "c_throughput 100k (10,000 distinct) / 100 exchanges":
                med["c reverse, 100k exchanges, 10,000 distinct requests"]["median"]
                / med["c reverse, 100 exchanges"]["median"],
        },
    }  # fmt: skip


def bench_d(tmp: Path, args: argparse.Namespace, no_delay_rps: float) -> dict[str, Any]:
    print("(d) 50 clients, 50 ms calibrated delay", file=sys.stderr)
    world = write_world(tmp / "d.world", 100, delay_ms=50.0)
    p = start_replay(world, tmp)
    p.name = "reverse, 50 ms delay, 50 clients"
    script = wrk_script(tmp / "d.lua", [f"/items/{i}" for i in range(100)])
    try:
        runs = rounds([p], args.rounds, args.duration, {p.name: script}, conns=50)[p.name]
    finally:
        p.stop()
    bound = min(50 / 0.05, no_delay_rps)
    rps = summarize([r["rps"] for r in runs])
    return {"rps": rps, "bound": bound, "runs": runs,
            "ratios": {"d_throughput 50 ms delay / bound": rps["median"] / bound}}  # fmt: skip


def _print_ratios(ratios: dict[str, float], out: Path) -> int:
    """One line per ratio, with its target and whether it is met; 0."""
    for name, value in ratios.items():
        target = TARGETS.get(name)
        verdict = "" if target is None else ("ok" if value >= target else "BELOW TARGET")
        want = "" if target is None else f"(target >= {target})"
        print(f"{name:55s} {value:7.3f} {want:18s} {verdict}")
    print(f"results: {out}")
    return 0


def _report_a(a: dict[str, Any], args: argparse.Namespace) -> int:
    """``--only-a``: part (a)'s figures and ratios (the other targets are not measured)."""
    result = {"benchmark": "http_replayer (a) only",
              "date": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(),
              "settings": {"rounds": args.rounds, "duration_s": args.duration,
                           "exchanges": args.exchanges, "wrk": "-t1 -c8"},
              "ratios": a["ratios"], "targets": TARGETS, "details": {"a": a}}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    for name in ("rss_mib_with_100_exchanges", "rss_mib", "startup_s", "rps"):
        print(f"{name}: {json.dumps(a[name])}")
    return _print_ratios(a["ratios"], args.out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--start-rounds", type=int, default=2, help="start-ups measured in (a)")
    parser.add_argument("--exchanges", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="2 rounds of 4 s, one start-up")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--only-a", action="store_true", help="run part (a) alone")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.duration, args.start_rounds = 2, 4.0, 1
    ensure_wrk()
    with tempfile.TemporaryDirectory(prefix="understudy-bench-") as tmp_name:
        tmp = Path(tmp_name)
        a = bench_a(tmp, args.exchanges, args)
        if args.only_a:
            return _report_a(a, args)
        bc = bench_bc(tmp, args.exchanges, args)
        d = bench_d(tmp, args, bc["rps"]["b reverse, 100 exchanges"]["median"])
    ratios = {**a["ratios"], **bc["ratios"], **d["ratios"]}
    summary = {
        "a proxy, 100k exchanges": {
            "rps": a["rps"]["understudy replay (proxy)"],
            "startup_s": a["startup_s"]["understudy replay (proxy)"],
            "rss_mib": a["rss_mib"]["understudy replay (proxy)"]},
        "a mitmdump --server-replay, 100k flows": {
            "rps": a["rps"]["mitmdump --server-replay"],
            "startup_s": a["startup_s"]["mitmdump --server-replay"],
            "rss_mib": a["rss_mib"]["mitmdump --server-replay"]},
        **{k: {"rps": v, **({"cpu_us_per_req": bc["cpu_us_per_req"][k]}
                            if k in bc["cpu_us_per_req"] else {})}
           for k, v in bc["rps"].items()},
        "d reverse, 50 ms delay, 50 clients": {"rps": d["rps"]},
    }  # fmt: skip
    ours, theirs = "understudy replay (proxy)", "mitmdump --server-replay"
    rss_theirs = a["rss_mib"][theirs]["median"]
    cpu_b = {k: v["median"] for k, v in bc["cpu_us_per_req"].items()}
    notes = [
        f"load average at the end of the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())}",
        f"(a) RSS with 100 recorded exchanges: ours {a['rss_mib_with_100_exchanges'][ours]:.0f}"
        f" MiB, mitmdump {a['rss_mib_with_100_exchanges'][theirs]:.0f} MiB; the 1/5 target is"
        f" <= {rss_theirs / 5:.0f} MiB with {args.exchanges:,} (mitmproxy is loaded either way;"
        " pyarrow only in the short-lived child that prepares our index)",
        f"(b) CPU per request (median): reverse {cpu_b['b reverse, 100 exchanges']:.1f} us,"
        f" hello world {cpu_b['b hello world']:.1f} us",
    ]  # fmt: skip
    result = {
        "benchmark": "http_replayer",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "settings": {"rounds": args.rounds, "duration_s": args.duration,
                     "exchanges": args.exchanges, "wrk": "-t1 -c8 (d: -c50)"},
        "summary": summary,
        "ratios": ratios,
        "targets": TARGETS,
        "details": {"a": a, "bc": bc, "d": d},
        "notes": notes,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    return _print_ratios(ratios, args.out)


if __name__ == "__main__":
    sys.exit(main())
