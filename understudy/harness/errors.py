"""Errors of the check harness.

Hierarchy::

    UnderstudyError (understudy.errors)
    ├── ConfigError                 bad input found before anything starts (exit 2)
    └── HarnessError                the replayer child failed to start or died (exit 1)

:class:`HarnessError` messages name the replayer's log in the artefact directory and end
with the tail of that log, so the one line the CLI prints says what went wrong.
"""

from __future__ import annotations

from understudy.errors import UnderstudyError

__all__ = ["HarnessError"]


class HarnessError(UnderstudyError):
    """The replayer child process failed to start, died mid-run, or did not stop cleanly."""
