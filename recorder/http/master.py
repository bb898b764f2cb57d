# mitmproxy is not fully annotated:
# mypy: disallow-untyped-calls=False
"""Build and run the mitmproxy master that carries the HTTP recorder.

The master is mitmdump's minus its console output, replay and rewriting addons (see
:data:`LEFT_OUT`): proxy server, TLS interception with the CA in ``--confdir``, HTTP/2,
WebSocket, proxy and upstream authentication, plus :class:`Recorder`.
Like mitmdump, ``CONFDIR/config.yaml`` is read first, so any mitmproxy option (e.g.
``ssl_verify_upstream_trusted_ca``, ``stream_large_bodies``) can be set there; the recorder's
own settings (mode, listen address, confdir) always win.

mitmproxy logs a failed ``bind`` instead of raising, so :func:`start_http` checks after
start-up that every server is running and turns a failure into :class:`ConfigError`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from mitmproxy import addons, exceptions, options, optmanager
from mitmproxy.master import Master

from recorder.config import RecorderConfig
from recorder.http.addon import Recorder
from recorder.http.rows import CaptureSettings
from recorder.sink import TapeSink
from understudy.errors import ConfigError
from understudy.mitm import (
    STARTUP_TIMEOUT,
    RunningMaster,
    StartupProbe,
    confdir_or_default,
    prepare_confdir,
    start_master,
)

__all__ = ["STARTUP_TIMEOUT", "HttpRecorder", "build_master", "start_http"]

#: mitmproxy's default addons that a recorder leaves out: UI helpers, replay, DNS mode, and
#: traffic rewriting (a tape shows what production sent, not a rewrite of it). Every addon in
#: the chain costs a dispatch on every hook of every flow, so fewer is also faster.
LEFT_OUT: Final = frozenset(
    {
        "AntiCache", "AntiComp", "Browser", "ClientPlayback", "CommandHistory", "Comment",
        "Cut", "DnsResolver", "Export", "MapLocal", "MapRemote", "ModifyBody", "ModifyHeaders",
        "Save", "SaveHar", "ServerPlayback", "StickyAuth", "StickyCookie",
        "StripDnsHttpsRecords",
    }
)  # fmt: skip

logger = logging.getLogger(__name__)


def recorder_addons() -> list[object]:
    """mitmproxy's default addons minus :data:`LEFT_OUT` (proxy, TLS, HTTP/2, auth...)."""
    return [a for a in addons.default_addons() if type(a).__name__ not in LEFT_OUT]


def confdir_of(config: RecorderConfig) -> Path:
    return confdir_or_default(config.confdir)


def build_master(config: RecorderConfig, recorder: Recorder) -> tuple[Master, StartupProbe]:
    """A mitmproxy master for ``config`` with ``recorder`` loaded. Needs a running loop."""
    assert config.http_listen is not None
    host, port = config.http_listen
    confdir = prepare_confdir(config.confdir)
    own = {"confdir": str(confdir), "mode": [config.mode], "listen_host": host, "listen_port": port}
    try:
        opts = options.Options(**own)
        optmanager.load_paths(opts, confdir / "config.yaml", confdir / "config.yml")
        opts.update(**own)
        opts.update_defer(termlog_verbosity="error" if config.quiet else "warn")
        master = Master(opts, with_termlog=True)
        probe = StartupProbe()
        master.addons.add(*recorder_addons())
        master.addons.add(recorder, probe)
    except exceptions.OptionsError as exc:
        raise ConfigError(f"mitmproxy refused its options: {exc}") from exc
    if opts.deferred:
        unused = ", ".join(sorted(opts.deferred))
        logger.warning(
            f"understudy: ignoring mitmproxy options the recorder does not use: {unused}"
        )
    return master, probe


@dataclass
class HttpRecorder(RunningMaster):
    """A running mitmproxy master with the recorder addon."""

    recorder: Recorder = field(kw_only=True)


async def start_http(config: RecorderConfig, sink: TapeSink) -> HttpRecorder:
    """Start mitmproxy with the recorder; return once it listens, or raise ConfigError."""
    assert config.http_listen is not None
    recorder = Recorder(sink, CaptureSettings(max_body=config.max_body))
    running = await start_master(lambda: build_master(config, recorder), config.http_listen)
    return HttpRecorder(running.master, running.task, running.bound, recorder=recorder)
