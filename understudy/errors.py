"""Errors raised by understudy.

Hierarchy::

    UnderstudyError                 base of everything we raise on purpose
    ├── ConfigError                 bad option or argument, found before serving
    ├── TapeError                   reading or writing a tape
    │   ├── TapeFormatError         a file that is not a tape part, or a newer schema
    │   └── TapeWriteError          a part could not be committed (disk full, permissions)
    ├── WorldError                  reading or writing a world bundle
    └── ProtocolError               malformed bytes on a wire protocol
        └── PgProtocolError         PostgreSQL frontend/backend protocol v3

Third-party exceptions are translated at the boundary (``raise TapeError(...) from exc``);
the CLI turns any :class:`UnderstudyError` into one actionable line and a non-zero exit.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "PgProtocolError",
    "ProtocolError",
    "TapeError",
    "TapeFormatError",
    "TapeWriteError",
    "UnderstudyError",
    "WorldError",
]


class UnderstudyError(Exception):
    """Base class of every error understudy raises on purpose."""


class ConfigError(UnderstudyError):
    """An option, argument or environment value is invalid; raised before serving."""


class TapeError(UnderstudyError):
    """A tape could not be read or written."""


class TapeFormatError(TapeError):
    """A file in a tape is not a readable part of a known schema version."""


class TapeWriteError(TapeError):
    """A tape part could not be committed; the recorder must stop rather than lose traffic."""


class WorldError(UnderstudyError):
    """A world bundle is missing, corrupt, or of a schema this version cannot read."""


class ProtocolError(UnderstudyError):
    """Bytes on a wire do not follow the protocol."""


class PgProtocolError(ProtocolError):
    """Bytes do not follow the PostgreSQL frontend/backend protocol v3."""
