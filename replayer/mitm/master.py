# mitmproxy is not fully annotated:
# mypy: disallow-untyped-calls=False
"""Build and run the mitmproxy master that carries the proxy-mode replayer.

mitmdump's default addons (proxy server, TLS interception with the CA in ``--confdir``,
HTTP/2...) plus :class:`~replayer.mitm.addon.ReplayAddon`. ``CONFDIR/config.yaml`` is read
first, like mitmdump does; the replayer's own settings always win, among them
``connection_strategy=lazy`` and ``upstream_cert=false``: mitmproxy then never connects to an
upstream unless a flow is let through (``--on-miss forward``), so HTTPS to hosts that do not
exist (or must not be reached) works. mitmproxy logs a failed bind instead of raising, so
:func:`start_proxy` checks its servers and turns a failure into :class:`ConfigError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from mitmproxy import addons, exceptions, options, optmanager
from mitmproxy.addons.proxyserver import Proxyserver
from mitmproxy.master import Master

from replayer.mitm.addon import ReplayAddon
from understudy.errors import ConfigError
from understudy.mitm import ErrorLog, StartupProbe, confdir_or_default

__all__ = ["ProxyReplayer", "confdir_or_default", "start_proxy"]

STARTUP_TIMEOUT = 30.0


@dataclass
class ProxyReplayer:
    """A running mitmproxy master with the replay addon."""

    master: Master
    task: asyncio.Task[None]
    bound: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ca_cert(self) -> Path:
        return Path(self.master.options.confdir).expanduser() / "mitmproxy-ca-cert.pem"

    async def stop(self) -> None:
        if not self.task.done():
            self.master.shutdown()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def _build(
    addon: ReplayAddon, listen: tuple[str, int], confdir: Path, max_body: int, quiet: bool
) -> tuple[Master, StartupProbe]:
    try:
        confdir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create --confdir {confdir}: {exc.strerror}") from exc
    host, port = listen
    own = {
        "confdir": str(confdir), "mode": ["regular"], "listen_host": host, "listen_port": port,
        "connection_strategy": "lazy", "upstream_cert": False,
        "body_size_limit": str(max_body),
    }  # fmt: skip
    try:
        opts = options.Options()
        master = Master(opts, with_termlog=True)
        probe = StartupProbe()
        master.addons.add(*addons.default_addons())
        master.addons.add(addon, probe)
        optmanager.load_paths(opts, confdir / "config.yaml", confdir / "config.yml")
        opts.update(**own)
        opts.update_defer(termlog_verbosity="error" if quiet else "warn")
    except exceptions.OptionsError as exc:
        raise ConfigError(f"mitmproxy refused its options: {exc}") from exc
    return master, probe


async def start_proxy(
    addon: ReplayAddon,
    listen: tuple[str, int],
    *,
    confdir: Path | None = None,
    max_body: int = 16 * 1024 * 1024,
    quiet: bool = False,
) -> ProxyReplayer:
    """Start mitmproxy with ``addon``; return once it listens, or raise ConfigError."""
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    try:
        master, probe = _build(addon, listen, confdir_or_default(confdir), max_body, quiet)
        task = asyncio.create_task(master.run(), name="mitmproxy")
        waiter = asyncio.create_task(probe.started.wait())
        await asyncio.wait({task, waiter}, timeout=STARTUP_TIMEOUT, return_when="FIRST_COMPLETED")
        waiter.cancel()
        proxy = ProxyReplayer(master, task)
        ps = master.addons.get("proxyserver")
        assert isinstance(ps, Proxyserver)
        up = not task.done() and probe.started.is_set() and len(ps.servers) > 0
        if up and all(s.is_running for s in ps.servers):
            proxy.bound = [(str(a[0]), int(a[1])) for a in ps.listen_addrs()]
            return proxy
        await proxy.stop()
        why = "; ".join(errors.messages) or "it did not start its servers"
        raise ConfigError(f"--http {listen[0]}:{listen[1]}: mitmproxy could not listen: {why}")
    finally:
        root.removeHandler(errors)
