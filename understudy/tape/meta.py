"""``tape.json``: what a tape is, who wrote it, and how it was redacted (never the key)."""

from __future__ import annotations

import contextlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from understudy.errors import TapeError, TapeFormatError
from understudy.tape.schema import SCHEMA_VERSION

__all__ = ["FORMAT_NAME", "TAPE_JSON", "ensure_tape_dir", "read_meta", "update_meta", "utcnow"]

FORMAT_NAME = "understudy-tape"
TAPE_JSON = "tape.json"
MAX_META_BYTES = 1024 * 1024


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def ensure_tape_dir(path: Path) -> Path:
    """Create (0700) or validate a tape directory we are about to write; return it resolved.

    Raises :class:`TapeError` with an actionable message when it cannot be used.
    """
    path = path.expanduser()
    if path.exists() and not path.is_dir():
        raise TapeError(f"tape path {path} exists and is not a directory; choose another --tape")
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise TapeError(f"cannot create tape directory {path}: {exc.strerror}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise TapeError(f"tape directory {path} is not writable by this user; fix its permissions")
    meta = path / TAPE_JSON
    if meta.exists():
        read_meta(path)  # refuse to append to a tape of a newer or foreign format
    probe = path / f".probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise TapeError(f"cannot write into tape directory {path}: {exc.strerror}") from exc
    return path.resolve()


def read_meta(path: Path) -> dict[str, Any]:
    """Read and validate ``tape.json``; an absent file yields ``{}``."""
    meta = path / TAPE_JSON
    if not meta.exists():
        return {}
    try:
        if meta.stat().st_size > MAX_META_BYTES:
            raise TapeFormatError(f"{meta}: larger than {MAX_META_BYTES} bytes; not a tape.json")
        data = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TapeFormatError(f"{meta}: unreadable ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
        raise TapeFormatError(f"{meta}: not an understudy tape (format is not {FORMAT_NAME!r})")
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise TapeFormatError(
            f"{meta}: schema version {version!r} is newer than this understudy reads "
            f"({SCHEMA_VERSION}); upgrade understudy"
        )
    return data


def update_meta(path: Path, **fields: Any) -> dict[str, Any]:
    """Merge ``fields`` into ``tape.json`` (atomically, 0600); keeps the earliest ``started``."""
    data = read_meta(path) or {"format": FORMAT_NAME, "created": utcnow()}
    started = data.get("started")
    data.update(fields)
    if started and fields.get("started"):
        data["started"] = min(started, fields["started"])
    data["format"] = FORMAT_NAME
    data["schema_version"] = SCHEMA_VERSION
    tmp = path / f".tmp-{TAPE_JSON}-{os.getpid()}"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path / TAPE_JSON)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise TapeError(f"cannot write {path / TAPE_JSON}: {exc.strerror}") from exc
    return data
