"""Helpers for tests and benchmarks: capture real results, build SQL worlds from them."""

from __future__ import annotations

from replayer.pg.testing.capture import CaptureClient, Captured
from replayer.pg.testing.worldkit import SqlWorldKit, histogram

__all__ = ["CaptureClient", "Captured", "SqlWorldKit", "histogram"]
