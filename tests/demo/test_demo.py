"""`understudy demo` end to end: a real PostgreSQL, the plans API, the recorder, analyze,
check and diff, run as the user runs it (a subprocess), then its artefacts inspected."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

UNDERSTUDY = Path(sys.executable).parent / "understudy"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERSTUDY_")}
    env.pop("HTTP_PROXY", None)
    env.pop("http_proxy", None)
    return env


def _processes_mentioning(text: str) -> list[str]:
    """Live processes whose command line or environment mentions ``text`` (the demo's
    directory: every child of the demo has its redaction key file there in its environment,
    the database its data directory on its command line)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            env = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (text in cmd or text in env):
            found.append(f"{pid}: {cmd}")
    return found


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("demo") / "run"
    res = subprocess.run(
        [str(UNDERSTUDY), "demo", "--dir", str(root), "--json"],
        capture_output=True, text=True, timeout=240, env=_env(), check=False,
    )  # fmt: skip
    return root, res


def test_demo_tells_the_whole_story(demo_run) -> None:
    root, res = demo_run
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-4000:]
    assert "Traceback" not in res.stdout + res.stderr
    # --json: progress on stderr, the summary (also demo.json) alone on stdout
    for step in range(1, 8):
        assert f"[{step}/7]" in res.stderr
    assert "demo complete" in res.stderr and str(root) in res.stderr
    summary = json.loads(res.stdout)
    assert summary == json.loads((root / "demo.json").read_text())
    assert [s["status"] for s in summary["steps"]] == ["ok"] * 7
    assert summary["story_holds"] is True and "problems" not in summary
    for name in ("prod.tape", "prod.world/world.json", "report.html", "verdict-v1.json",
                 "verdict-v2.json", "diff.json", "demo.json"):  # fmt: skip
        assert (root / name).exists(), name
    assert (root / "prod.tape" / "http").is_dir() and (root / "prod.tape" / "sql").is_dir()
    # owner-only: the directory and the secrets in it
    assert root.stat().st_mode & 0o777 == 0o700
    for secret in ("api-keys.json", "redaction.key", "verdict-v2.json", "demo.json"):
        assert (root / secret).stat().st_mode & 0o777 == 0o600, secret
    # the recorded keys never reached the tape in clear
    http = b"".join(p.read_bytes() for p in (root / "prod.tape" / "http").glob("*.parquet"))
    assert b"free-1" not in http and b"pro-2" not in http


def test_world_recovered_the_free_plan(demo_run) -> None:
    root, _ = demo_run
    doc = json.loads((root / "prod.world" / "world.json").read_text())
    limits = [x for x in doc["rate_limits"] if x["scope"] == "identity"]
    assert len(limits) == 1  # only the free plan was ever limited
    # the truth is 5/s burst 5 (fixtures/plans_api.py)
    assert abs(limits[0]["rate_per_s"] - 5.0) <= 0.75 and abs(limits[0]["burst"] - 5) <= 1
    refused = [(p["route"], p["status"]) for p in doc["permissions"] if not p["allowed"]]
    assert refused == [("/api/export", 403)]
    assert doc["n_plus_one"] == []  # production's v1 has none


def test_v1_passes_and_v2_fails_with_evidence(demo_run) -> None:
    root, _ = demo_run
    v1 = json.loads((root / "verdict-v1.json").read_text())
    v2 = json.loads((root / "verdict-v2.json").read_text())
    assert (v1["verdict"], v1["exit_code"], v1["counts"]["failing"]) == ("pass", 0, 0)
    assert v1["counts"]["http_requests"] > 0 and v1["counts"]["sql_statements"] > 0
    assert (v2["verdict"], v2["exit_code"]) == ("fail", 1)
    failing = {f["kind"]: f for f in v2["findings"] if f["failing"]}
    assert {"n_plus_one", "throttled"} <= set(failing)
    n1 = json.dumps(failing["n_plus_one"]["evidence"])
    assert "items" in n1 and "id = $1" in n1
    throttled = json.dumps(failing["throttled"]["evidence"])
    assert "rate_per_s" in throttled and "burst" in throttled
    summary = json.loads((root / "demo.json").read_text())
    assert summary["verdicts"]["v1"]["verdict"] == "pass"
    assert summary["verdicts"]["v2"]["failing"] == sorted(failing)


def test_diff_shows_the_n_plus_one(demo_run) -> None:
    root, _ = demo_run
    text = (root / "diff.json").read_text()
    doc = json.loads(text)
    assert doc["format"] == "understudy-diff"
    assert "items" in text and "id = $1" in text  # v2's per-item SELECT appears
    shown = (root / "logs" / "diff.log").read_text()
    assert "N+1" in shown


def test_no_child_outlives_the_demo(demo_run) -> None:
    root, _ = demo_run
    assert _processes_mentioning(str(root)) == []


def test_ctrl_c_stops_every_child(tmp_path: Path) -> None:
    root = tmp_path / "interrupted"
    proc = subprocess.Popen(
        [str(UNDERSTUDY), "demo", "--dir", str(root)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        seen = ""
        assert proc.stdout is not None
        while "[3/7]" not in seen:  # recording: the recorder, API and database are running
            line = proc.stdout.readline()
            assert line and time.monotonic() < deadline, seen
            seen += line
        time.sleep(2)
        assert _processes_mentioning(str(root))  # children are running now
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, out
    assert "interrupted" in out and "Traceback" not in out
    assert _processes_mentioning(str(root)) == []


def test_bad_directory_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("x")
    res = subprocess.run(
        [str(UNDERSTUDY), "demo", "--dir", str(tmp_path / "taken")],
        capture_output=True, text=True, timeout=60, env=_env(), check=False,
    )  # fmt: skip
    assert res.returncode == 2
    assert "not an empty directory" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["file"]
