"""Small pieces both mitmproxy front doors (recorder and replayer proxy) start mitmproxy with."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from mitmproxy import options

__all__ = ["ErrorLog", "StartupProbe", "confdir_or_default"]


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
