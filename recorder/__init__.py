"""The recorder: capture HTTP (through mitmproxy) and PostgreSQL (through a relay) into a tape.

``recorder.run.record`` runs one process; ``recorder.http`` holds the mitmproxy addon;
``recorder.pg`` the PostgreSQL relay. Heavy imports (mitmproxy) happen only when used.
"""

from __future__ import annotations

from recorder.config import RecorderConfig, check_loopback, validate_mode
from recorder.sink import TapeSink

__all__ = ["RecorderConfig", "TapeSink", "check_loopback", "validate_mode"]
