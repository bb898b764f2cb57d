"""The replayer's ready file: a machine-readable "serving" signal for ``understudy check``.

``understudy replay --ready-file FILE`` writes, once every server listens and SIGINT stops the
session cleanly::

    {"http": [["127.0.0.1", 43121]], "pg": ["127.0.0.1", 40873], "seed": 7, "pid": 4242}

atomically (temp file, rename) and owner-only, so a reader polling for the file never sees it
half-written. Ports are the real bound ones, so the replayer can be started on port 0.

Example::

    on_serving = ready_writer(Path("out/ready.json"))   # replay calls it when serving
    info = read_ready(Path("out/ready.json"))            # None until it exists
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from understudy.errors import ConfigError

__all__ = ["read_ready", "ready_writer", "write_private"]


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file, fsync, rename), mode 0600.

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "x.json"
    >>> write_private(p, "{}"); oct(p.stat().st_mode & 0o777), p.read_text()
    ('0o600', '{}')
    """
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from exc


def ready_writer(path: Path) -> Callable[[dict[str, Any]], None]:
    """The ``on_serving`` callback of ``replayer.run.replay`` that writes the ready file."""

    def write(info: dict[str, Any]) -> None:
        write_private(path, json.dumps({**info, "pid": os.getpid()}) + "\n")

    return write


def read_ready(path: Path) -> dict[str, Any] | None:
    """The ready file's contents, or None while it does not exist (or is not ours).

    >>> read_ready(Path("/nonexistent/ready.json")) is None
    True
    """
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and "http" in doc else None
