"""HTTP capture: a mitmproxy addon that adapts each flow into one redacted tape row."""

from __future__ import annotations

from recorder.http.addon import Recorder, ScriptSettings
from recorder.http.decode import Decoded, decode_body
from recorder.http.rows import CaptureSettings, error_text, flow_to_row

__all__ = [
    "CaptureSettings",
    "Decoded",
    "Recorder",
    "ScriptSettings",
    "decode_body",
    "error_text",
    "flow_to_row",
]
