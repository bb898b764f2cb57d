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

The addons are :func:`replayer.mitm.lean.replay_addons`: mitmdump's defaults without the
onboarding app, proxy authentication and ``map_local`` (see :mod:`replayer.mitm.lean`); a
``config.yaml`` that sets one of their options is refused rather than silently ignored.
"""

from __future__ import annotations

from pathlib import Path

from mitmproxy import exceptions, options, optmanager
from mitmproxy.master import Master

from replayer.mitm.addon import ReplayAddon
from replayer.mitm.lean import LEFT_OUT, replay_addons
from understudy.errors import ConfigError
from understudy.mitm import (
    RunningMaster,
    StartupProbe,
    confdir_or_default,
    prepare_confdir,
    start_master,
)

__all__ = ["ProxyReplayer", "confdir_or_default", "start_proxy"]


class ProxyReplayer(RunningMaster):
    """A running mitmproxy master with the replay addon."""


def _build(
    addon: ReplayAddon, listen: tuple[str, int], confdir: Path, max_body: int, quiet: bool
) -> tuple[Master, StartupProbe]:
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
        master.addons.add(*replay_addons())
        master.addons.add(addon, probe)
        optmanager.load_paths(opts, confdir / "config.yaml", confdir / "config.yml")
        refused = sorted(LEFT_OUT & set(opts.deferred))
        if refused:
            raise ConfigError(
                f"{confdir / 'config.yaml'} sets {', '.join(refused)}, which the replayer's "
                "proxy does not support; remove it or use another --confdir"
            )
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
    path = prepare_confdir(confdir)
    running = await start_master(lambda: _build(addon, listen, path, max_body, quiet), listen)
    return ProxyReplayer(running.master, running.task, running.bound)
