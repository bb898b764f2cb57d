# mitmproxy is not fully annotated:
# mypy: disallow-untyped-calls=False
"""What both mitmproxy front doors (recorder and replayer proxy) start mitmproxy with.

mitmproxy logs a failed ``bind`` instead of raising, so :func:`start_master` runs a master,
waits until it reaches ``running``, checks that every server listens, and turns anything else
into :class:`~understudy.errors.ConfigError` naming the flag and mitmproxy's own message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mitmproxy import options
from mitmproxy.master import Master

from understudy.errors import ConfigError

__all__ = [
    "STARTUP_TIMEOUT",
    "ErrorLog",
    "RunningMaster",
    "StartupProbe",
    "confdir_or_default",
    "prepare_confdir",
    "start_master",
]

#: How long mitmproxy may take to bring its servers up.
STARTUP_TIMEOUT = 30.0


class StartupProbe:
    """An addon that notes when mitmproxy reaches ``running`` (servers set up)."""

    name = "understudy_startup"

    def __init__(self) -> None:
        self.started = asyncio.Event()

    def running(self) -> None:
        self.started.set()


class ErrorLog(logging.Handler):
    """Collect mitmproxy's ERROR records while it starts (bind failures are only logged)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def confdir_or_default(confdir: Path | None) -> Path:
    """``--confdir``, else mitmproxy's default (``~/.mitmproxy``)."""
    return (confdir or Path(options.CONF_DIR)).expanduser()


def prepare_confdir(confdir: Path | None) -> Path:
    """:func:`confdir_or_default`, created owner-only if missing (ConfigError if it cannot be)."""
    path = confdir_or_default(confdir)
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create --confdir {path}: {exc.strerror}") from exc
    return path


@dataclass
class RunningMaster:
    """A mitmproxy master running as a task, and the addresses its servers listen on."""

    master: Master
    task: asyncio.Task[None]
    bound: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ca_cert(self) -> Path:
        """The CA certificate clients must trust for HTTPS interception."""
        return Path(self.master.options.confdir).expanduser() / "mitmproxy-ca-cert.pem"

    async def stop(self) -> None:
        """Stop accepting, let mitmproxy run its ``done`` hooks, and wait for it."""
        if not self.task.done():
            self.master.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def start_master(
    build: Callable[[], tuple[Master, StartupProbe]],
    listen: tuple[str, int],
    *,
    timeout: float = STARTUP_TIMEOUT,
) -> RunningMaster:
    """Build a master (``build`` runs with mitmproxy's error log captured), run it, and return
    once every server listens; else stop it and raise ConfigError for ``--http HOST:PORT``."""
    from mitmproxy.addons.proxyserver import Proxyserver

    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        master, probe = build()
        task = asyncio.create_task(master.run(), name="mitmproxy")
        waiter = asyncio.create_task(probe.started.wait())
        await asyncio.wait({task, waiter}, timeout=timeout, return_when="FIRST_COMPLETED")
        waiter.cancel()
        running = RunningMaster(master, task)
        ps = master.addons.get("proxyserver")
        assert isinstance(ps, Proxyserver)
        up = not task.done() and probe.started.is_set() and len(ps.servers) > 0
        if up and all(s.is_running for s in ps.servers):
            # (reverse:https:// listens on UDP too, for HTTP/3: same address twice)
            running.bound = list(dict.fromkeys((str(a[0]), int(a[1])) for a in ps.listen_addrs()))
            return running
        await running.stop()
        why = "; ".join(errors.messages) or "it did not start its servers"
        raise ConfigError(f"--http {listen[0]}:{listen[1]}: mitmproxy could not listen: {why}")
    finally:
        root.removeHandler(errors)
