"""One real mitmdump capture (HAR and flow file at once), shared by the import tests."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from io_helpers import MITMDUMP, Sent, drive

from fixtures.http_upstream import UpstreamServer
from understudy.testing.postgres import free_port


@dataclass
class Capture:
    """What mitmdump wrote while a real client talked to a real upstream through it."""

    har: Path
    flows: Path
    upstream: str
    sent: list[Sent]


@pytest.fixture(scope="session")
def mitm_capture(
    tmp_path_factory: pytest.TempPathFactory,
    mitm_confdir: Path,
    understudy_env: dict[str, str],
    wait_for_port: Callable[..., None],
) -> Capture:
    """``mitmdump --mode reverse:UPSTREAM -w FLOWS --set hardump=HAR`` over :func:`drive`."""
    d = tmp_path_factory.mktemp("io-capture")
    har, flows = d / "capture.har", d / "capture.flows"
    with UpstreamServer.start() as up, open(d / "mitmdump.log", "wb") as log:
        port = free_port()
        argv = [
            str(MITMDUMP), "-q", "--listen-host", "127.0.0.1", "-p", str(port),
            "--mode", f"reverse:{up.url}", "--set", f"confdir={mitm_confdir}",
            "-w", str(flows), "--set", f"hardump={har}",
        ]  # fmt: skip
        proc = subprocess.Popen(argv, env=understudy_env, stdout=log, stderr=log)
        try:
            wait_for_port("127.0.0.1", port, proc=proc)
            sent = drive(f"http://127.0.0.1:{port}")
            proc.send_signal(signal.SIGINT)  # the HAR is written on exit
            assert proc.wait(30) == 0, (d / "mitmdump.log").read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return Capture(har, flows, up.url, sent)
