"""understudy: record production traffic, mine it into a world model, replay it to candidates.

The core package owns what the components share: the tape and world formats, the PostgreSQL
wire codec, redaction, errors and the command line. ``recorder``, ``analysis`` and
``replayer`` import from here and never from each other.
"""

from __future__ import annotations

from understudy.errors import (
    ConfigError,
    PgProtocolError,
    ProtocolError,
    TapeError,
    TapeFormatError,
    TapeWriteError,
    UnderstudyError,
    WorldError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "PgProtocolError",
    "ProtocolError",
    "TapeError",
    "TapeFormatError",
    "TapeWriteError",
    "UnderstudyError",
    "WorldError",
    "__version__",
]
