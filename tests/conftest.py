"""Shared fixtures: free ports, tape directories, a real upstream, the recorder as a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from understudy.testing.postgres import free_port

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # fixtures/ is a directory of the repository, not a package
    sys.path.insert(0, str(REPO))

from fixtures.http_upstream import UpstreamServer, make_self_signed  # noqa: E402

#: A fixed redaction key for tests (never a real one): pseudonyms are reproducible.
TEST_KEY_HEX = "5e" * 32
UNDERSTUDY = Path(sys.executable).parent / "understudy"


def wait_port(host: str, port: int, timeout: float = 30.0, proc: Any = None) -> None:
    """Wait until ``host:port`` accepts connections (or ``proc`` exits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"{host}:{port} did not accept connections within {timeout} s")


@dataclass
class RecorderProc:
    """``understudy record`` running as a real subprocess."""

    proc: subprocess.Popen[bytes]
    tape: Path
    port: int
    confdir: Path
    stderr_path: Path
    args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGINT, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def wait_ready(rec: RecorderProc, timeout: float = 30.0) -> None:
    """Wait for the recorder's banner line (printed once start-up is complete)."""
    deadline = time.monotonic() + timeout
    while "understudy: writing to" not in rec.stderr:
        if rec.proc.poll() is not None:
            raise RuntimeError(f"recorder exited with {rec.proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError("recorder did not finish start-up")
        time.sleep(0.05)


def recorder_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("UNDERSTUDY_")}
    env.update(UNDERSTUDY_KEY=TEST_KEY_HEX, PYTHONUNBUFFERED="1", **extra)
    return env


def run_recorder(
    tape: Path, *args: str, confdir: Path, port: int | None = None, wait: bool = True
) -> RecorderProc:
    """Start ``understudy record --tape TAPE --http 127.0.0.1:PORT ARGS...``; wait for it."""
    port = port or free_port()
    stderr_path = tape.parent / f"{tape.name}.recorder-{port}.stderr"
    argv = [
        str(UNDERSTUDY), "record", "--tape", str(tape), "--http", f"127.0.0.1:{port}",
        "--confdir", str(confdir), *args,
    ]  # fmt: skip
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(argv, stdout=err, stderr=err, env=recorder_env())
    rec = RecorderProc(proc, tape, port, confdir, stderr_path, argv)
    if wait:
        try:
            wait_port("127.0.0.1", port, proc=proc)
            if "--quiet" not in args and "-q" not in args:
                wait_ready(rec)  # start-up finished: CA written, banner printed
        except (RuntimeError, TimeoutError) as exc:
            rec.kill()
            raise RuntimeError(f"{exc}; stderr:\n{rec.stderr}") from None
    return rec


@pytest.fixture(scope="session")
def mitm_confdir(
    tmp_path_factory: pytest.TempPathFactory, upstream_cert: tuple[Path, Path]
) -> Path:
    """One mitmproxy confdir (and so one CA) per test session; never ~/.mitmproxy.

    Its ``config.yaml`` (read by the recorder like mitmdump reads it) makes mitmproxy trust
    the TLS upstreams' self-signed certificate and stream bodies above 2 MB.
    """
    confdir = tmp_path_factory.mktemp("mitmproxy-confdir")
    (confdir / "config.yaml").write_text(
        f"ssl_verify_upstream_trusted_ca: {upstream_cert[0]}\nstream_large_bodies: 2m\n"
    )
    return confdir


@pytest.fixture
def tape_dir(tmp_path: Path) -> Path:
    """A path for a tape that does not exist yet."""
    return tmp_path / "test.tape"


@pytest.fixture(scope="session")
def upstream() -> Iterator[UpstreamServer]:
    """The test upstream over plain HTTP."""
    with UpstreamServer.start() as server:
        yield server


@pytest.fixture(scope="session")
def upstream_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_self_signed(tmp_path_factory.mktemp("upstream-tls"))


@pytest.fixture(scope="session")
def tls_upstream(upstream_cert: tuple[Path, Path]) -> Iterator[UpstreamServer]:
    """The test upstream over HTTPS with a self-signed certificate (``upstream_cert``)."""
    with UpstreamServer.start(cert=upstream_cert) as server:
        yield server


def _recorder_starter(confdir: Path) -> tuple[Callable[..., RecorderProc], list[RecorderProc]]:
    started: list[RecorderProc] = []

    def start(tape: Path, *args: str, **kwargs: Any) -> RecorderProc:
        kwargs.setdefault("confdir", confdir)
        rec = run_recorder(tape, *args, **kwargs)
        started.append(rec)
        return rec

    return start, started


@pytest.fixture(scope="session")
def h2_upstream(upstream_cert: tuple[Path, Path]) -> Iterator[UpstreamServer]:
    """A minimal HTTP/2-only upstream over TLS (mitmproxy mirrors its ALPN to clients)."""
    with UpstreamServer.start(cert=upstream_cert, http2_only=True) as server:
        yield server


@pytest.fixture
def start_recorder(mitm_confdir: Path) -> Iterator[Callable[..., RecorderProc]]:
    """Start recorders as subprocesses; any still running at the end are killed."""
    start, started = _recorder_starter(mitm_confdir)
    yield start
    for rec in started:
        rec.kill()


@pytest.fixture(scope="module")
def start_module_recorder(mitm_confdir: Path) -> Iterator[Callable[..., RecorderProc]]:
    """Like ``start_recorder``, for recorders shared by the tests of a module."""
    start, started = _recorder_starter(mitm_confdir)
    yield start
    for rec in started:
        rec.kill()


@pytest.fixture(scope="session")
def understudy_env() -> dict[str, str]:
    """Environment for understudy and mitmdump subprocesses (fixed test redaction key)."""
    return recorder_env()


@pytest.fixture(scope="session")
def test_key() -> bytes:
    """The redaction key the recorder subprocesses use."""
    return bytes.fromhex(TEST_KEY_HEX)


@pytest.fixture(scope="session")
def wait_for_port() -> Callable[..., None]:
    """``wait_for_port(host, port, proc=None)``: block until something listens there."""
    return wait_port


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Callable[[str], Path]]:
    """Mount owner-only tmpfs file systems of a given size (``"256k"``, ``"1m"``) for disk-full
    tests; skips the test where mounting is not permitted. All are unmounted at the end."""
    mounts: list[Path] = []

    def mount(size: str) -> Path:
        mnt = tmp_path / f"tmpfs-{len(mounts)}"
        mnt.mkdir()
        res = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(mnt)],
            capture_output=True, check=False,
        )  # fmt: skip
        if res.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
        mounts.append(mnt)
        return mnt

    yield mount
    for mnt in mounts:
        subprocess.run(["umount", "-l", str(mnt)], check=False)
