"""Where servers may listen: loopback unless the user asked for more with ``--listen-any``.

Both the recorder and the replayer validate their listen addresses with
:func:`check_loopback`; an exposed listener is allowed only with the explicit flag, and is
then announced on stderr, so nobody exposes a recorder of production traffic by accident.
"""

from __future__ import annotations

import ipaddress
import sys
from typing import TextIO

from understudy.errors import ConfigError

__all__ = ["check_loopback", "is_loopback"]


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses.

    >>> is_loopback("127.0.0.2"), is_loopback("::1"), is_loopback("0.0.0.0"), is_loopback("")
    (True, True, False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_loopback(
    host: str, allow_remote: bool, flag: str, what: str, *, out: TextIO | None = None
) -> None:
    """Refuse a non-loopback ``host`` for ``flag`` unless ``allow_remote`` (``--listen-any``);
    when allowed, say on ``out`` (stderr) that ``what`` is exposed.

    >>> check_loopback("127.0.0.1", False, "--http", "the recorder")
    >>> check_loopback("0.0.0.0", False, "--http", "the recorder")
    Traceback (most recent call last):
    understudy.errors.ConfigError: --http 0.0.0.0 is not a loopback address; pass --listen-any to expose the recorder beyond this machine
    """  # noqa: E501
    if is_loopback(host):
        return
    if not allow_remote:
        raise ConfigError(
            f"{flag} {host} is not a loopback address; pass --listen-any to expose {what} "
            "beyond this machine"
        )
    print(
        f"understudy: warning: {flag} {host} listens beyond this machine (--listen-any): anyone "
        f"who can reach it can use {what}",
        file=out or sys.stderr,
        flush=True,
    )
