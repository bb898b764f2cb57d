"""Answers waiting their turn on a reverse-mode connection, and how a connection is reset."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import Final

from replayer.core.types import Decision, Request, StoredResponse
from replayer.session.log import Outcome

__all__ = ["OUTCOMES", "Slot", "reset"]

#: How an exchange ends, by the decision's action.
OUTCOMES: Final[dict[str, Outcome]] = {"respond": "served", "close": "closed", "reset": "reset"}


class Slot:
    """An answer that cannot leave yet (delayed, forwarded, or behind one that is)."""

    __slots__ = ("abort", "arrived", "close", "data", "decision", "error", "noted", "outcome",
                 "ready", "request", "response", "server_addr", "timer")  # fmt: skip

    def __init__(self, request: Request, decision: Decision, arrived: float) -> None:
        self.request = request
        self.decision = decision
        self.arrived = arrived
        self.data: bytes | None = None
        self.close = False
        self.abort = False
        self.ready = False
        self.outcome: Outcome = "served"
        self.response: StoredResponse | None = decision.response
        self.error: str | None = None
        self.server_addr: str | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.noted = True  # False for the error answer that follows a refused request


def reset(transport: asyncio.Transport) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed upstream would."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
