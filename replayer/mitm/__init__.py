"""The proxy-mode front door: a mitmproxy addon over the behaviour core (imports mitmproxy).

:mod:`replayer.mitm.lean` is imported first: it keeps ``mitmproxy.addons`` from importing
addons the replayer never uses, which only works before ``mitmproxy.master`` is imported.
"""

from __future__ import annotations

from replayer.mitm import lean  # noqa: F401  (first, see above)
from replayer.mitm.addon import ReplayAddon
from replayer.mitm.master import ProxyReplayer, start_proxy

__all__ = ["ProxyReplayer", "ReplayAddon", "start_proxy"]
