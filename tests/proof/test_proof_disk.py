"""Disk full under the replayer: a session tape on a tiny tmpfs. The replayer must stop
loudly (non-zero exit, one clear line naming the tape and ENOSPC) instead of serving on
untaped, and the parts it committed stay readable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq

from understudy.tape import open_tape
from understudy.testing.postgres import free_port

UNDERSTUDY = Path(sys.executable).parent / "understudy"


def test_replayer_session_tape_disk_full(tmp_path: Path, small_tmpfs, start_recorder,
                                         upstream) -> None:  # fmt: skip
    tiny = small_tmpfs("256k")
    rec = start_recorder(tmp_path / "prod.tape", "--mode", f"reverse:{upstream.url}")
    with httpx.Client(base_url=rec.url, timeout=30) as c:
        for i in range(5):
            assert c.get(f"/random?size=60000&i={i}").status_code == 200
    assert rec.stop(signal.SIGINT) == 0
    world = tmp_path / "w"
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERSTUDY_")}
    env["UNDERSTUDY_KEY"] = "5e" * 32
    res = subprocess.run([str(UNDERSTUDY), "analyze", str(rec.tape), "--world", str(world)],
                         env=env, capture_output=True, timeout=300)  # fmt: skip
    assert res.returncode == 0, res.stderr.decode()
    port, session = free_port(), tiny / "session.tape"
    log = tmp_path / "replay.log"
    with log.open("wb") as f:
        rep = subprocess.Popen(
            [str(UNDERSTUDY), "replay", "--world", str(world), "--mode", f"reverse:{upstream.url}",
             "--http", f"127.0.0.1:{port}", "--latency", "off", "--session-tape", str(session)],
            env=env, stdout=f, stderr=f,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        served = 0
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as c:
            while rep.poll() is None:
                assert time.monotonic() < deadline, "the replayer kept serving on a full disk"
                try:
                    c.get(f"/random?size=60000&i={served % 5}")
                    served += 1
                except httpx.HTTPError:
                    time.sleep(0.05)
        assert rep.wait(30) != 0
    finally:
        if rep.poll() is None:
            rep.kill()
    text = log.read_text()
    assert "No space left on device" in text and "session tape" in text, text[-2000:]
    assert "Traceback" not in text
    assert served > 3
    t = open_tape(session)
    for part in t.parts["http"]:
        assert pq.read_table(part).num_rows > 0
