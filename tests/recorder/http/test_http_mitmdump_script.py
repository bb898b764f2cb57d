"""People who already run mitmproxy load the same addon: `mitmdump -s recorder/mitm_addon.py`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from http_tape_helpers import header, marker, wait_rows, with_query

from understudy.testing.postgres import free_port

REPO = Path(__file__).resolve().parents[3]
MITMDUMP = Path(sys.executable).parent / "mitmdump"
SCRIPT = REPO / "recorder" / "mitm_addon.py"


def mitmdump(
    env: dict[str, str], port: int, confdir: Path, *sets: str, **kw
) -> subprocess.Popen[bytes]:
    argv = [str(MITMDUMP), "-q", "-s", str(SCRIPT), "--listen-host", "127.0.0.1", "-p", str(port),
            "--set", f"confdir={confdir}"]  # fmt: skip
    for s in sets:
        argv += ["--set", s]
    return subprocess.Popen(argv, env=env, **kw)


def wait_script_loaded(tape: Path, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """mitmproxy loads scripts asynchronously, possibly after it listens: wait for the tape."""
    deadline = time.monotonic() + timeout
    while not (tape / "http").is_dir():
        assert proc.poll() is None and time.monotonic() < deadline, "the script did not load"
        time.sleep(0.05)


def test_mitmdump_records_into_a_tape(
    tmp_path, mitm_confdir, upstream, understudy_env, wait_for_port
) -> None:
    tape = tmp_path / "mitmdump.tape"
    port = free_port()
    err = open(tmp_path / "stderr", "wb")
    proc = mitmdump(
        understudy_env, port, mitm_confdir,
        f"mode=reverse:{upstream.url}", f"understudy_tape={tape}",
        "understudy_flush_interval=100ms", "understudy_max_body=10",
        "understudy_redact_header=X-Session", "understudy_identity_header=X-Session",
        stdout=err, stderr=err,
    )  # fmt: skip
    try:
        wait_for_port("127.0.0.1", port, proc=proc)
        wait_script_loaded(tape, proc)
        m = marker()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as c:
            for session in ("s-1", "s-1", "s-2"):
                assert c.get(f"/json?m={m}", headers={"X-Session": session}).status_code == 200
        rows = wait_rows(tape, with_query(m), n=3)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        err.close()
    assert all(len(r["response_body"]) == 10 and r["response_body_truncated"] for r in rows)
    assert all(header(r["request_headers"], "x-session").startswith("redacted:") for r in rows)
    assert len({r["identity"] for r in rows}) == 2
    stderr = (tmp_path / "stderr").read_text()
    assert "understudy: 3 http exchanges committed to the tape" in stderr
    assert (tape / "tape.json").exists()


def test_mitmdump_without_a_tape_says_what_to_set(mitm_confdir, understudy_env) -> None:
    proc = mitmdump(
        understudy_env, free_port(), mitm_confdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert b"understudy_tape is not set: add --set understudy_tape=DIR" in out


def test_mitmdump_bad_size_is_refused(tmp_path, mitm_confdir, understudy_env) -> None:
    proc = mitmdump(
        understudy_env, free_port(), mitm_confdir,
        f"understudy_tape={tmp_path / 't'}", "understudy_max_body=lots",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and b"invalid size 'lots'" in out


def test_mitmdump_unusable_tape_stops_start_up(tmp_path, mitm_confdir, understudy_env) -> None:
    (tmp_path / "file").write_text("x")
    proc = mitmdump(
        understudy_env, free_port(), mitm_confdir, f"understudy_tape={tmp_path / 'file' / 't'}",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0 and b"cannot create tape directory" in out


def test_mitmdump_stops_when_the_tape_fails(
    tmp_path, mitm_confdir, upstream, understudy_env, wait_for_port
) -> None:
    tape = tmp_path / "t.tape"
    port = free_port()
    proc = mitmdump(
        understudy_env, port, mitm_confdir, f"mode=reverse:{upstream.url}",
        f"understudy_tape={tape}", "understudy_flush_interval=100ms",
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_for_port("127.0.0.1", port, proc=proc)
        wait_script_loaded(tape, proc)
        (tape / "http").rename(tape / "moved")
        (tape / "http").write_text("x")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as c:
            for _ in range(200):
                if proc.poll() is not None:
                    break
                try:
                    c.get("/json")
                except httpx.HTTPError:
                    pass
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1
    assert b"understudy: recording failed: cannot commit" in out and b"Not a directory" in out
