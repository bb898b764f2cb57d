"""The pytest plugin: an inner pytest session served by the world, failed by its verdict."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from check_world_kit import CheckWorld

CONFTEST = """
import json, os
from pathlib import Path

def pytest_unconfigure(config):
    from understudy.pytest_plugin import VERDICT_KEY
    verdict = config.stash.get(VERDICT_KEY, None)
    Path("seen.json").write_text(json.dumps({
        "verdict": None if verdict is None else verdict["verdict"],
        "proxy_after": os.environ.get("HTTPS_PROXY"),
    }))
"""
GOOD = """
import os, httpx

def test_items_answered_by_the_world():
    assert os.environ["UNDERSTUDY_CHECK"] == "1"
    r = httpx.get(os.environ["CHECK_API"] + "/api/items/2", headers={"X-Api-Key": "pro-1"})
    assert r.status_code == 200 and r.json()["id"] == 2
"""
BAD = """
import os, requests

def test_export_on_free_plan():
    r = requests.get(os.environ["CHECK_API"] + "/api/export", headers={"X-Api-Key": "free-2"},
                     timeout=30)
    assert r.status_code == 403  # the test passes; production would refuse this code
"""


def inner_pytest(
    tmp: Path, test: str, *args: str, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    tmp.mkdir()
    (tmp / "pytest.ini").write_text("[pytest]\n")
    (tmp / "conftest.py").write_text(CONFTEST)
    (tmp / "test_inner.py").write_text(test)
    env = {k: v for k, v in env.items() if not k.lower().endswith("_proxy")}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # load exactly this plugin, installed or not
    argv = [sys.executable, "-m", "pytest", "-p", "understudy.pytest_plugin", "-q", *args]
    return subprocess.run(argv, cwd=tmp, env=env, capture_output=True, text=True, timeout=180,
                          check=False)  # fmt: skip


def test_plugin_passes_a_clean_session_and_fails_a_refused_one(
    check_world: CheckWorld, tmp_path: Path, understudy_env: dict[str, str]
) -> None:
    env = {**understudy_env, "CHECK_API": check_world.api}
    world = str(check_world.world)
    report = tmp_path / "verdict.json"
    good = inner_pytest(tmp_path / "good", GOOD, "--understudy-world", world,
                        "--understudy-report", str(report), "--understudy-seed", "3",
                        env=env)  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert "understudy check" in good.stdout and "PASS" in good.stdout
    verdict = json.loads(report.read_text())
    assert verdict["verdict"] == "pass" and verdict["seed"] == 3
    assert verdict["counts"]["http_requests"] == 1
    assert verdict["command"]["exit_status"] == 0
    seen = json.loads((tmp_path / "good" / "seen.json").read_text())
    assert seen == {"verdict": "pass", "proxy_after": None}  # stashed; environ restored

    bad = inner_pytest(tmp_path / "bad", BAD, "--understudy-world", world, env=env)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "1 passed" in bad.stdout  # the tests passed; the verdict failed the run
    assert "refused" in bad.stdout and "verdict:" in bad.stdout
    assert json.loads((tmp_path / "bad" / "seen.json").read_text())["verdict"] == "fail"


def test_plugin_is_inert_without_a_world(tmp_path: Path) -> None:
    heavy = "('analysis', 'understudy.harness', 'mitmproxy', 'pyarrow')"
    probe = ("import sys, understudy.pytest_plugin; "
             f"print(sorted(m for m in sys.modules if m.startswith({heavy})))")  # fmt: skip
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)  # fmt: skip
    assert out.stdout.strip() == "[]"
    plain = inner_pytest(tmp_path / "plain", "def test_x():\n    assert 1\n", env=dict(os.environ))
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "understudy check" not in plain.stdout


def test_plugin_bad_world_is_a_usage_error(tmp_path: Path) -> None:
    res = inner_pytest(tmp_path / "x", "def test_x():\n    pass\n", "--understudy-world",
                       str(tmp_path / "nope"), env=dict(os.environ))  # fmt: skip
    assert res.returncode == 4, res.stdout + res.stderr
    assert "no such world directory" in res.stderr and "Traceback" not in res.stderr
