"""Errors of the PostgreSQL replay server, and the SQLSTATEs it sends for replay outcomes.

Hierarchy::

    understudy.errors.UnderstudyError
    ├── ConfigError                  bad settings (from understudy.errors), before serving
    └── PgReplayError                the PostgreSQL replay server
        ├── StatementFailed          a statement is answered by an ErrorResponse (internal:
        │                            raised deep in a handler, turned into the response by
        │                            the connection state machine)
        └── UpstreamError            ``--pg-on-miss forward``: the shadow database failed

Replay-specific SQLSTATEs live in the class ``UN`` ("understudy"). PostgreSQL reserves
classes starting with ``5``-``9`` and ``I``-``Z`` for implementations, and no standard or
PostgreSQL code uses ``UN``, so a client never mistakes them for a recorded error.
"""

from __future__ import annotations

from enum import StrEnum

from understudy.errors import UnderstudyError
from understudy.pgwire import ErrorResponse

__all__ = ["PgReplayError", "ReplaySqlState", "StatementFailed", "UpstreamError"]


class ReplaySqlState(StrEnum):
    """SQLSTATEs the replay server invents (documented in docs/pg-replay.md)."""

    #: The statement's fingerprint is not in the world: a miss.
    NOT_RECORDED = "UN001"
    #: ``--pg-on-miss forward``: the shadow database could not be reached or failed.
    FORWARD_FAILED = "UN002"
    #: A recorded value cannot be served in the format the client asked for.
    FORMAT_UNAVAILABLE = "UN003"


class PgReplayError(UnderstudyError):
    """Base of the errors of the PostgreSQL replay server."""


class StatementFailed(PgReplayError):
    """The current statement fails with ``response`` (an ErrorResponse to send)."""

    def __init__(self, response: ErrorResponse) -> None:
        super().__init__(response.message or "statement failed")
        self.response = response


class UpstreamError(PgReplayError):
    """The shadow database of ``--pg-on-miss forward`` failed (connect, auth, IO)."""
