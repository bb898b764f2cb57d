"""Human sizes and durations on the command line: ``64KiB``, ``1MB``, ``500ms``."""

from __future__ import annotations

import re

from understudy.errors import ConfigError

__all__ = ["parse_duration", "parse_hostport", "parse_size"]

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
_DURATION_UNITS = {"": 1.0, "s": 1.0, "ms": 0.001, "us": 0.000001, "m": 60.0, "min": 60.0}


def parse_size(text: str | int) -> int:
    """Parse a byte size.

    >>> parse_size("64KiB"), parse_size("1MB"), parse_size("1500"), parse_size(7)
    (65536, 1000000, 1500, 7)
    """
    if isinstance(text, int):
        if text < 0:
            raise ConfigError(f"invalid size {text}: must not be negative")
        return text
    m = _SIZE.match(text)
    unit = m.group(2).lower() if m else ""
    if not m or unit not in _UNITS:
        raise ConfigError(
            f"invalid size {text!r}: use a number with an optional unit (B, KB, KiB, MB, MiB, GB)"
        )
    return int(float(m.group(1)) * _UNITS[unit])


def parse_duration(text: str | float) -> float:
    """Parse a duration in seconds.

    >>> parse_duration("500ms"), parse_duration("2"), parse_duration("1.5s")
    (0.5, 2.0, 1.5)
    """
    if isinstance(text, int | float):
        value = float(text)
    else:
        m = _SIZE.match(text)
        unit = m.group(2).lower() if m else ""
        if not m or unit not in _DURATION_UNITS:
            raise ConfigError(f"invalid duration {text!r}: use e.g. 1, 1.5s, 500ms")
        value = float(m.group(1)) * _DURATION_UNITS[unit]
    if value <= 0:
        raise ConfigError(f"invalid duration {text!r}: must be positive")
    return value


def parse_hostport(text: str, *, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """Parse ``HOST:PORT``, ``:PORT`` or ``PORT`` (``[::1]:PORT`` for IPv6).

    >>> parse_hostport("127.0.0.1:8080"), parse_hostport("6432"), parse_hostport("[::1]:5432")
    (('127.0.0.1', 8080), ('127.0.0.1', 6432), ('::1', 5432))
    """
    text = text.strip()
    host, port_s = default_host, text
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or text[end + 1 : end + 2] != ":":
            raise ConfigError(f"invalid address {text!r}: use [IPV6]:PORT")
        host, port_s = text[1:end], text[end + 2 :]
    elif ":" in text:
        host, _, port_s = text.rpartition(":")
        host = host or default_host
    try:
        port = int(port_s)
    except ValueError:
        raise ConfigError(f"invalid address {text!r}: expected HOST:PORT") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"invalid port {port} in {text!r}: must be 0-65535")
    return host, port
