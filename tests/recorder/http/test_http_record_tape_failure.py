"""Losing capture is loud: when the tape cannot be written the recorder refuses and stops.

Faults are real and bypass nothing root could: the kind directory replaced by a regular file
(rename fails with ENOTDIR), and a full tmpfs (ENOSPC) when mounting is permitted.
"""

from __future__ import annotations

import contextlib
import time

import httpx
import pytest
from http_tape_helpers import marker, wait_rows, with_query
from mitmproxy.test import tflow

from recorder.http.addon import Recorder
from recorder.http.rows import CaptureSettings
from recorder.sink import TapeSink
from understudy.errors import TapeWriteError
from understudy.redact import Pseudonymizer, RedactionPolicy, Redactor


def drive_until_exit(rec, path: str, timeout: float = 20.0) -> int:
    """Send requests until the recorder exits; return its exit status."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=rec.url, timeout=5) as c:
        while rec.proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                c.get(path)
            time.sleep(0.02)
    return rec.proc.wait(10)


def assert_stopped_loudly(rec, *needles: str) -> None:
    err = rec.stderr
    errors = [line for line in err.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, err
    assert errors[0].startswith("Error: recording stopped, the tape can no longer be written: ")
    for needle in needles:
        assert needle in errors[0], errors[0]
    assert "Traceback" not in err
    assert "http exchanges dropped (" in err  # with the reasons
    with pytest.raises(httpx.ConnectError):  # nothing listens any more
        httpx.get(rec.url, timeout=2)


def test_kind_directory_replaced_by_a_file(tmp_path, start_recorder, upstream) -> None:
    tape = tmp_path / "t.tape"
    rec = start_recorder(tape, "--mode", f"reverse:{upstream.url}", "--flush-interval", "100ms")
    m = marker()
    httpx.get(f"{rec.url}/json?m={m}")
    wait_rows(tape, with_query(m))
    (tape / "http").rename(tape / "http.moved")
    (tape / "http").write_text("a file where the recorder expects its directory\n")
    assert drive_until_exit(rec, "/json") == 1
    assert_stopped_loudly(rec, str(tape / "http"), "Not a directory")
    assert "write error" in rec.stderr


def test_disk_full(small_tmpfs, start_recorder, upstream) -> None:
    tape = small_tmpfs("256k") / "t.tape"
    rec = start_recorder(tape, "--mode", f"reverse:{upstream.url}", "--flush-interval", "100ms")
    assert drive_until_exit(rec, "/random?size=60000") == 1
    assert_stopped_loudly(rec, str(tape), "No space left on device")


def test_flows_are_killed_once_the_tape_fails(tmp_path) -> None:
    """In process: after a real write failure, new flows are killed, never forwarded."""
    redactor = Redactor(RedactionPolicy(), Pseudonymizer(b"k" * 32))
    sink = TapeSink(tmp_path / "t", redactor, flush_interval=0.05)
    sink.open(("http",))
    addon = Recorder(sink, CaptureSettings())
    (tmp_path / "t" / "http").rename(tmp_path / "t" / "moved")
    (tmp_path / "t" / "http").write_text("x")
    addon.response(tflow.tflow(resp=True))  # queued, then its commit fails
    deadline = time.monotonic() + 10
    while sink.healthy and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not sink.healthy
    refused = tflow.tflow()
    addon.requestheaders(refused)
    assert refused.error is not None and refused.error.msg == "Connection killed."
    late = tflow.tflow(resp=True)
    addon.response(late)  # a response arriving now is not delivered either
    assert late.error is not None and not late.live
    with pytest.raises(TapeWriteError):
        sink.close()
    dropped = sink.summary()["http"]
    assert dropped["dropped"] == {"write error": 1}
    assert dropped["dropped.refused (tape unwritable)"] == 1
