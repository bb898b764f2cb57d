"""The decoder's pacing: it holds back while the host is busy, never loses a statement, and
stops holding back when the recorder stops or the tape trails too far behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from recorder.pg.pace import HostLoad, Pace
from understudy.errors import ConfigError
from understudy.testing.postgres import free_port

UNDERSTUDY = Path(sys.executable).parent / "understudy"


def _stat(path: Path, busy: int, idle: int) -> None:
    # user nice system idle iowait irq softirq steal: busy split over user and system
    path.write_text(f"cpu  {busy // 2} 0 {busy - busy // 2} {idle} 0 0 0 50\ncpu0 1 2 3 4\n")


def test_host_load_is_the_others_share_of_all_cpus(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    _stat(stat, busy=1000, idle=1000)
    load = HostLoad(path=str(stat), window=0.0)
    assert load.sample() is None  # the first sample is the baseline
    _stat(stat, busy=1000 + 600, idle=1000 + 400)  # steal moved by 0: not counted either way
    share = load.sample()
    assert share is not None and share == pytest.approx(0.6, abs=0.02)
    _stat(stat, busy=1600 + 100, idle=1400 + 900)
    assert load.sample() == pytest.approx(0.1, abs=0.02)


def test_host_load_subtracts_the_decoders_own_cpu(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    tick = os.sysconf("SC_CLK_TCK")
    _stat(stat, busy=0, idle=0)
    load = HostLoad(path=str(stat), window=0.0)
    load.sample()
    start = time.process_time()
    while time.process_time() - start < 0.3:  # our own work: 0.3 s of CPU
        pass
    own = round((time.process_time() - start) * tick)
    _stat(stat, busy=own + 2 * tick // 10, idle=2 * tick - own - 2 * tick // 10)
    # Of 2 s of CPU: 0.3 s ours, 0.2 s the others', the rest idle.
    assert load.sample() == pytest.approx(0.1, abs=0.03)


def test_host_load_without_proc_stat_never_counts_as_busy(tmp_path: Path) -> None:
    load = HostLoad(path=str(tmp_path / "missing"), window=0.0)
    assert load.sample() is None and load.sample() is None
    (tmp_path / "garbage").write_text("not a stat file\n")
    assert HostLoad(path=str(tmp_path / "garbage"), window=0.0).sample() is None


@pytest.mark.parametrize(
    ("name", "value", "needle"),
    [
        ("UNDERSTUDY_PG_DECODER_SHARE", "0", "(0, 1]"),
        ("UNDERSTUDY_PG_DECODER_SHARE", "lots", "expected a number"),
        ("UNDERSTUDY_PG_DECODER_BUSY", "-0.5", "[0, 1]"),
        ("UNDERSTUDY_PG_DECODER_MAX_LAG", "-1", "[0, inf]"),
        ("UNDERSTUDY_PG_DECODER_PRIORITY", "realtime", "idle, low, normal"),
    ],
)
def test_bad_decoder_settings_are_refused(name: str, value: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=name) as err:
        Pace.from_env({name: value})
    assert needle in str(err.value)


def test_decoder_settings_from_the_environment() -> None:
    pace = Pace.from_env(
        {"UNDERSTUDY_PG_DECODER_SHARE": "0.5", "UNDERSTUDY_PG_DECODER_MAX_LAG": "5"}
    )
    assert (pace.share, pace.busy, pace.max_lag) == (0.5, Pace().busy, 5.0)


def test_the_recorder_refuses_a_bad_setting_before_it_listens(
    pg, understudy_env: dict[str, str], tmp_path: Path
) -> None:
    port = free_port()
    res = subprocess.run(
        [str(UNDERSTUDY), "record", "--no-http", "--pg", f"127.0.0.1:{port}",
         "--pg-upstream", f"{pg.host}:{pg.port}", "--tape", str(tmp_path / "tape")],
        capture_output=True, text=True, timeout=60,
        env={**understudy_env, "UNDERSTUDY_PG_DECODER_SHARE": "2"},
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "UNDERSTUDY_PG_DECODER_SHARE=2.0" in res.stderr and "Traceback" not in res.stderr


def _run_statements(rec, n: int, seconds: float = 2.0) -> int:
    """At least ``n`` statements over at least ``seconds`` (the pacer looks at the host
    every 0.1 s); returns how many ran."""
    i = 0
    start = time.monotonic()
    with psycopg.connect(rec.dsn(), autocommit=True) as conn:
        while i < n or time.monotonic() - start < seconds:
            conn.execute(f"SELECT {i} AS paced").fetchone()
            i += 1
    return i


def test_a_paced_decoder_holds_back_and_still_commits_everything(
    pg, record, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Busy threshold 0: the host always counts as busy, so the decoder keeps to 2% of a CPU.
    monkeypatch.setenv("UNDERSTUDY_PG_DECODER_BUSY", "0")
    monkeypatch.setenv("UNDERSTUDY_PG_DECODER_SHARE", "0.02")
    rec = record()
    ran = _run_statements(rec, 3000)
    df = rec.stop()  # the recorder stopping lifts the pacing: the rest is decoded at once
    got = sorted(int(s.split()[1]) for s in df["sql"].to_list() if s.endswith(" AS paced"))
    assert got == list(range(ran))
    assert rec.summary["sql"]["decoder_paced_seconds"] > 0
    assert not list((rec.tape / ".spool").glob("*.seg"))


def test_no_pacing_once_the_tape_trails_by_max_lag(pg, record, monkeypatch) -> None:
    monkeypatch.setenv("UNDERSTUDY_PG_DECODER_BUSY", "0")
    monkeypatch.setenv("UNDERSTUDY_PG_DECODER_SHARE", "0.02")
    monkeypatch.setenv("UNDERSTUDY_PG_DECODER_MAX_LAG", "0")  # every record is "too old"
    rec = record()
    ran = _run_statements(rec, 3000)
    df = rec.stop()
    assert df.filter(df["sql"].str.ends_with(" AS paced")).height == ran
    assert "decoder_paced_seconds" not in rec.summary["sql"]
