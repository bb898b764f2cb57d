"""The environment for a helper process this project starts with ``python -m PACKAGE.MODULE``.

The recorder's SQL decoder and the replayer's index preparer run as ``sys.executable -m ...``;
they must import the project from where the parent did, installed or run from a checkout.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["child_env"]

#: The directory holding ``understudy``, ``recorder``, ``replayer`` and ``analysis``.
ROOT = str(Path(__file__).resolve().parents[1])


def child_env(**extra: str) -> dict[str, str]:
    """This process's environment plus ``extra``, with the project's root first on the path.

    Example::

        >>> env = child_env(UNDERSTUDY_KEY="00" * 16)
        >>> env["PYTHONPATH"].split(os.pathsep)[0] == ROOT, env["UNDERSTUDY_KEY"][:4]
        (True, '0000')
    """
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, **extra, "PYTHONPATH": ROOT + (os.pathsep + path if path else "")}
