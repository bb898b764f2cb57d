"""What a replay session served: counters (the report) and, optionally, a session tape.

``SessionTape`` is imported on first use: it pulls in the tape package, which a session
without ``--session-tape`` does not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from replayer.session.log import Outcome, Served, Session
from replayer.session.report import build_report, summary_rows, write_report

if TYPE_CHECKING:
    from replayer.session.tape import SessionTape

__all__ = [
    "Outcome",
    "Served",
    "Session",
    "SessionTape",
    "build_report",
    "summary_rows",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name == "SessionTape":
        from replayer.session.tape import SessionTape

        return SessionTape
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
