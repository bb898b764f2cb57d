"""Exposure: listeners bind loopback by default, anything else needs --listen-any and says so;
everything written (key file, tape, world, report) is owner-only even under umask 000; and no
module can unpickle or load YAML unsafely."""

from __future__ import annotations

import ast
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from understudy.testing.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
UNDERSTUDY = Path(sys.executable).parent / "understudy"
PACKAGES = ("understudy", "recorder", "replayer", "analysis")


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERSTUDY_")}
    env["UNDERSTUDY_KEY_FILE"] = str(tmp / "keys" / "understudy.key")  # created on first use
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _umask0() -> None:
    os.umask(0)


@pytest.mark.parametrize(
    "argv",
    [
        ["record", "--tape", "{tmp}/t.tape", "--http", "0.0.0.0:{port}"],
        ["record", "--tape", "{tmp}/t.tape", "--no-http", "--pg", "0.0.0.0:{port}",
         "--pg-upstream", "127.0.0.1:5432"],
        ["replay", "--world", "{tmp}/w", "--http", "0.0.0.0:{port}"],
        ["replay", "--world", "{tmp}/w", "--no-http", "--pg", "0.0.0.0:{port}"],
    ],
    ids=["record-http", "record-pg", "replay-http", "replay-pg"],
)  # fmt: skip
def test_non_loopback_needs_listen_any(tmp_path: Path, argv: list[str]) -> None:
    args = [a.format(tmp=tmp_path, port=free_port()) for a in argv]
    res = subprocess.run([str(UNDERSTUDY), *args], capture_output=True, text=True,
                         env=_env(tmp_path), timeout=60)
    assert res.returncode == 2
    [line] = res.stderr.strip().splitlines()
    assert "is not a loopback address" in line and "--listen-any" in line
    assert not (tmp_path / "t.tape").exists()  # refused before anything was created


def _listening(port: int) -> set[str]:
    """Local addresses of listening TCP sockets on ``port`` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:
                found.add(addr)
    return found


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> set[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the process exited before listening"
        if addrs := _listening(port):
            return addrs
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {port}")


def test_defaults_bind_loopback_and_files_are_owner_only(tmp_path: Path, upstream) -> None:
    http_port, pg_port = free_port(), free_port()
    tape = tmp_path / "t.tape"
    err = (tmp_path / "rec.err").open("wb")
    rec = subprocess.Popen(
        [str(UNDERSTUDY), "record", "--tape", str(tape), "--mode", f"reverse:{upstream.url}",
         "--http", f":{http_port}", "--pg", f":{pg_port}", "--pg-upstream", "127.0.0.1:1",
         "--confdir", str(tmp_path / "mitm"), "--flush-interval", "100ms"],
        env=_env(tmp_path), stdout=err, stderr=err, preexec_fn=_umask0,
    )  # fmt: skip
    try:
        # a bare :PORT means loopback: 0100007F is 127.0.0.1 in /proc/net/tcp
        assert _wait_listening(http_port, rec) == {"0100007F"}
        assert _wait_listening(pg_port, rec) == {"0100007F"}
        deadline = time.monotonic() + 30
        while True:  # mitmproxy may accept a moment before the recorder is ready
            try:
                r = httpx.get(f"http://127.0.0.1:{http_port}/n/1?token=s3cr3t", timeout=5)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        assert r.status_code == 200
    finally:
        rec.send_signal(signal.SIGINT)
        assert rec.wait(60) == 0
        err.close()
    world, report = tmp_path / "w", tmp_path / "report.html"
    res = subprocess.run(
        [str(UNDERSTUDY), "analyze", str(tape), "--world", str(world), "--report", str(report)],
        env=_env(tmp_path), capture_output=True, text=True, preexec_fn=_umask0, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    key = tmp_path / "keys" / "understudy.key"
    written = [key, report, *tape.rglob("*"), *world.rglob("*")]
    assert any(p.suffix == ".parquet" for p in tape.rglob("*"))
    for path in [tape, world, *written]:
        mode = stat.S_IMODE(path.stat().st_mode)
        want = 0o700 if path.is_dir() else 0o600
        assert mode == want, f"{path}: {oct(mode)} (umask was 000)"


def test_listen_any_says_it_is_exposed(tmp_path: Path) -> None:
    port = free_port()
    err = tmp_path / "err"
    with err.open("wb") as f:
        proc = subprocess.Popen(
            [str(UNDERSTUDY), "record", "--tape", str(tmp_path / "t.tape"),
             "--http", f"0.0.0.0:{port}", "--listen-any", "--confdir", str(tmp_path / "mitm")],
            env=_env(tmp_path), stdout=f, stderr=f,
        )  # fmt: skip
        try:
            assert _wait_listening(port, proc) == {"00000000"}
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
    text = err.read_text()
    assert "--http 0.0.0.0 listens beyond this machine (--listen-any)" in text


def _calls(tree: ast.AST) -> list[str]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.append(node.module)
        elif isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Name):
                out.append(f.id + "()")
            elif isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
                out.append(f"{f.value.id}.{f.attr}()")
    return out


def test_no_pickle_no_unsafe_yaml_no_eval_in_sources() -> None:
    banned = {"pickle", "cPickle", "dill", "marshal", "shelve", "eval()", "exec()",
              "yaml.load()", "yaml.unsafe_load()", "yaml.full_load()"}  # fmt: skip
    offenders = []
    files = [p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")]
    assert len(files) > 100
    for path in files:
        for name in _calls(ast.parse(path.read_text(encoding="utf-8"))):
            if name in banned or name.split(".")[0] in {"pickle", "cPickle", "dill", "shelve"}:
                offenders.append(f"{path.relative_to(REPO)}: {name}")
    assert offenders == []
