"""``understudy check`` end to end: a recorded world, real candidates, real clients.

Every candidate runs as a real program (Python with httpx, requests and psycopg; a curl
script) with nothing but the environment check gives it; the API and database the world
was recorded from are gone, so every answer comes from the replayer child.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from check_world_kit import UNDERSTUDY, CheckWorld, run_check, script
from click.testing import CliRunner

from understudy.cli import cli

PY = sys.executable

OK_PY = """
import os, sys
import httpx, psycopg, requests
api = sys.argv[1]
https = api.replace("http://", "https://")  # TLS through the replayer's CA
assert os.environ["UNDERSTUDY_CHECK"] == "1"
assert (os.environ["PGUSER"], os.environ["PGDATABASE"]) == ("understudy", "understudy")
assert httpx.get(f"{api}/api/items/3", headers={"X-Api-Key": "pro-1"}).json()["id"] == 3
assert requests.get(f"{api}/api/items/4", headers={"X-Api-Key": "pro-1"},
                    timeout=30).status_code == 200
assert httpx.get(f"{https}/api/items/5", headers={"X-Api-Key": "pro-2"}).status_code == 200
assert requests.get(f"{https}/api/items/6", headers={"X-Api-Key": "pro-2"},
                    timeout=30).status_code == 200
with psycopg.connect(os.environ["DATABASE_URL"]) as conn:  # DATABASE_URL
    assert conn.execute("SELECT name, price FROM items WHERE id = %s", (3,)).fetchone() == (
        "item 3", 3)
with psycopg.connect("") as conn:  # libpq's PGHOST/PGPORT/PGUSER/PGDATABASE
    assert conn.execute("SELECT name, price FROM items WHERE id = %s", (4,)).fetchone()[0] == (
        "item 4")
print("candidate stdout: all good")
"""

BURST_PY = """
import sys, httpx
with httpx.Client(headers={"X-Api-Key": "free-1"}) as c:
    codes = [c.get(f"{sys.argv[1]}/api/items/{i}").status_code for i in range(1, 21)]
assert codes.count(429) >= 5, codes  # the candidate sees the recorded 429s
"""

EXPORT_PY = """
import sys, requests
r = requests.get(f"{sys.argv[1]}/api/export", headers={"X-Api-Key": "free-2"}, timeout=30)
assert r.status_code == 403, r.status_code
"""


def env_for(understudy_env: dict[str, str]) -> dict[str, str]:
    return {**understudy_env, "COLUMNS": "160"}


def test_clean_candidate_passes_with_http_https_and_sql(
    check_world: CheckWorld, tmp_path: Path, understudy_env: dict[str, str]
) -> None:
    cand = script(tmp_path / "ok.py", OK_PY)
    run = run_check(check_world.world, tmp_path / "out", [PY, str(cand), check_world.api],
                    "--json", "--seed", "7", env=env_for(understudy_env))  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.verdict is not None and run.verdict["verdict"] == "pass", run.stderr
    assert json.loads(run.stdout) == run.verdict  # --json: stdout holds the verdict only
    assert "candidate stdout: all good" in run.stderr
    assert run.verdict["seed"] == 7 and run.verdict["exit_code"] == 0
    assert run.verdict["counts"]["http_requests"] == 4
    assert run.verdict["counts"]["sql_statements"] >= 2
    assert run.verdict["command"]["exit_status"] == 0
    out = run.out
    assert (out.stat().st_mode & 0o777) == 0o700
    assert (out / "verdict.json").stat().st_mode & 0o777 == 0o600
    assert (out / "session.tape" / "http").is_dir() and (out / "session.tape" / "sql").is_dir()
    assert "stop with Ctrl-C" in (out / "replayer.log").read_text()


def test_bursting_past_free_limit_is_throttled(
    check_world: CheckWorld, tmp_path: Path, understudy_env: dict[str, str]
) -> None:
    cand = script(tmp_path / "burst.py", BURST_PY)
    run = run_check(check_world.world, tmp_path / "out", [PY, str(cand), check_world.api],
                    "--latency", "off", env=env_for(understudy_env))  # fmt: skip
    assert run.code == 1, run.stderr
    assert "throttled" in run.failing(), run.verdict
    throttled = next(f for f in run.verdict["findings"] if f["kind"] == "throttled")
    assert throttled["severity"] == "error" and throttled["count"] >= 5
    assert "FAIL" in run.stderr and "findings" in run.stderr  # summary and table


def test_refused_export_fails_and_fail_on_none_passes(
    check_world: CheckWorld, tmp_path: Path, understudy_env: dict[str, str]
) -> None:
    cand = script(tmp_path / "export.py", EXPORT_PY)
    cmd = [PY, str(cand), check_world.api]
    run = run_check(check_world.world, tmp_path / "a", cmd, env=env_for(understudy_env))
    assert run.code == 1, run.stderr
    assert run.failing() == {"refused"}, run.verdict
    report = tmp_path / "v.json"
    run = run_check(check_world.world, tmp_path / "b", cmd, "--fail-on", "none",
                    "--report", str(report), env=env_for(understudy_env))  # fmt: skip
    assert run.code == 0, run.stderr
    verdict = json.loads(report.read_text())
    assert verdict["verdict"] == "pass" and {f["kind"] for f in verdict["findings"]} == {"refused"}
    assert verdict["findings"][0]["severity"] == "warning"


def test_curl_script_over_http_and_https(
    check_world: CheckWorld, tmp_path: Path, understudy_env: dict[str, str]
) -> None:
    https = check_world.api.replace("http://", "https://")
    cand = script(
        tmp_path / "fetch.sh",
        f"""#!/bin/sh
set -e
curl -sSf -H 'X-Api-Key: pro-1' {check_world.api}/api/items/8 | grep -q '"id": 8'
curl -sSf -H 'X-Api-Key: pro-1' {https}/api/items/9 > /dev/null
curl -sS -o /dev/null -w '%{{http_code}}' -H 'X-Api-Key: pro-1' {check_world.api}/api/nope \\
  | grep -q 599
""",
    )
    run = run_check(check_world.world, tmp_path / "out", [str(cand)],
                    "--fail-on", "default,-miss", env=env_for(understudy_env))  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.kinds() == {"miss"} and run.verdict["counts"]["http_requests"] == 3


def test_command_failing_or_hanging_exits_3(
    check_world: CheckWorld, tmp_path: Path, understudy_env: dict[str, str]
) -> None:
    run = run_check(check_world.world, tmp_path / "a", ["sh", "-c", "exit 1"],
                    env=env_for(understudy_env))  # fmt: skip
    assert run.code == 3, run.stderr
    assert run.failing() == {"command_failed"} and run.verdict["command"]["exit_status"] == 1

    hang = script(tmp_path / "hang.sh", "#!/bin/sh\nsleep 60 &\nsleep 60\n")
    started = time.monotonic()
    run = run_check(check_world.world, tmp_path / "b", [str(hang)], "--timeout", "1s",
                    env=env_for(understudy_env))  # fmt: skip
    assert run.code == 3, run.stderr
    assert time.monotonic() - started < 55  # the group was stopped, not waited for
    command = run.verdict["command"]
    assert command["timed_out"] is True and command["signal"] == "SIGTERM"
    assert run.failing() == {"command_failed"}


def test_sigterm_is_forwarded_and_the_run_still_judged(
    check_world: CheckWorld, tmp_path: Path, understudy_env: dict[str, str]
) -> None:
    marker = tmp_path / "started"
    cand = script(tmp_path / "wait.sh", f"#!/bin/sh\ntouch {marker}\nexec sleep 60\n")
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [str(UNDERSTUDY), "check", "--world", str(check_world.world), "--out", str(out), "--",
         str(cand)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env_for(understudy_env),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not marker.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 3, err
    verdict = json.loads((out / "verdict.json").read_text())
    assert verdict["command"]["signal"] == "SIGTERM"
    assert verdict["command"]["forwarded_signals"] == ["SIGTERM"]


def test_replayer_dying_mid_run_is_one_clear_error(
    check_world: CheckWorld, tmp_path: Path, understudy_env: dict[str, str]
) -> None:
    killer = script(
        tmp_path / "kill.py",
        """
import json, os, signal, time
ready = json.load(open(os.path.join(os.environ["UNDERSTUDY_CHECK_DIR"], "ready.json")))
os.kill(ready["pid"], signal.SIGKILL)
time.sleep(60)
""",
    )
    started = time.monotonic()
    run = run_check(check_world.world, tmp_path / "out", [PY, str(killer)],
                    env=env_for(understudy_env))  # fmt: skip
    assert run.code == 1, run.stderr
    assert "the replayer stopped unexpectedly" in run.stderr
    assert str(tmp_path / "out" / "replayer.log") in run.stderr
    assert "Traceback" not in run.stderr and run.verdict is None
    assert time.monotonic() - started < 55  # the candidate was stopped too


def test_bad_input_exits_2_and_starts_nothing(check_world: CheckWorld, tmp_path: Path) -> None:
    runner = CliRunner()
    world = str(check_world.world)
    out = tmp_path / "out"
    cases = [
        (["--world", world, "--out", str(out), "--", "no-such-program-xyz"],
         "command not found: no-such-program-xyz"),
        (["--world", str(tmp_path / "nope"), "--out", str(out), "--", "true"],
         "no such world directory"),
        (["--world", world, "--fail-on", "mis", "--out", str(out), "--", "true"],
         "did you mean miss"),
        (["--world", world, "--timeout", "soon", "--out", str(out), "--", "true"],
         "invalid duration"),
        (["--world", world, "--report", str(tmp_path / "no" / "v.json"), "--", "true"],
         "does not exist"),
        (["--world", world, "--out", str(out)], "no command given"),
    ]  # fmt: skip
    for args, message in cases:
        res = runner.invoke(cli, ["check", *args])
        assert res.exit_code == 2, (args, res.output)
        assert message in res.output, (args, res.output)
        assert "Traceback" not in res.output
        assert not out.exists()
    full = tmp_path / "full"
    full.mkdir()
    (full / "x").write_text("x")
    res = runner.invoke(cli, ["check", "--world", world, "--out", str(full), "--", "true"])
    assert res.exit_code == 2 and "not empty" in res.output


def test_help_has_an_example() -> None:
    res = CliRunner().invoke(cli, ["check", "-h"])
    assert res.exit_code == 0 and "understudy check --world" in res.output
    assert res.output.index("Example:") < res.output.index("Options:")
