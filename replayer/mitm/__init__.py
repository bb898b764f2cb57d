"""The proxy-mode front door: a mitmproxy addon over the behaviour core (imports mitmproxy)."""

from __future__ import annotations

from replayer.mitm.addon import ReplayAddon
from replayer.mitm.master import ProxyReplayer, start_proxy

__all__ = ["ProxyReplayer", "ReplayAddon", "start_proxy"]
