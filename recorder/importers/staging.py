"""All of an import or none of it: parts are staged, then moved into the tape whole.

A new tape is built in a hidden sibling directory (``.NAME.import-XXXX``) and renamed into
place once every input has been read, so the tape either appears complete or not at all.
When importing into an existing tape, parts are staged in a hidden directory inside it
(ignored by readers) and each is renamed into ``http/`` at commit: a reader only ever sees
whole parts. Any failure before :meth:`StagedTape.commit` removes the staging directory.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as d:
...     staged = StagedTape(Path(d) / "new.tape")
...     staged.abort()
...     sorted(p.name for p in Path(d).iterdir())
[]
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

from understudy.errors import ConfigError, TapeError
from understudy.tape.meta import TAPE_JSON, read_meta, update_meta
from understudy.tape.writer import commit_part, fsync_dir

__all__ = ["PART_BYTES", "PART_ROWS", "StagedTape"]

PART_ROWS: Final = 20_000
PART_BYTES: Final = 16 * 1024 * 1024
_KIND: Final = "http"


class StagedTape:
    """Rows of one import, committed as whole parts into ``target`` only on :meth:`commit`.

    Raises :class:`ConfigError` at construction when ``target`` cannot be a tape.
    """

    def __init__(
        self, target: Path, *, part_rows: int = PART_ROWS, part_bytes: int = PART_BYTES
    ) -> None:
        self.target = target.expanduser()
        self.part_rows = part_rows
        self.part_bytes = part_bytes
        self.existing = self._check_target()
        self.meta = read_meta(self.target) if self.existing else {}
        token = secrets.token_hex(4)
        #: Directories this import created above the tape, removed again if it fails.
        self._made: list[Path] = []
        if self.existing:
            self.staging = self.target / f".import-{token}"
        else:
            parent = self.target.parent
            self._made = [p for p in (parent, *parent.parents) if not p.exists()]
            try:
                parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise ConfigError(f"cannot create {parent}: {exc.strerror or exc}") from None
            self.staging = parent / f".{self.target.name}.import-{token}"
        try:
            self.staging.mkdir(mode=0o700)
            (self.staging / _KIND).mkdir(mode=0o700)
        except OSError as exc:
            self.abort()
            raise ConfigError(
                f"cannot write next to {self.target}: {exc.strerror or exc}"
            ) from None
        self.parts: list[Path] = []
        self.rows = 0
        self._batch: list[Mapping[str, Any]] = []
        self._bytes = 0
        self._done = False

    def _check_target(self) -> bool:
        """True to append to an existing tape, False to create one."""
        t = self.target
        if not t.exists():
            if t.is_symlink():
                raise ConfigError(f"--tape {t} is a dangling symbolic link; choose another path")
            return False
        if not t.is_dir():
            raise ConfigError(f"--tape {t} exists and is not a directory; choose another path")
        if not (t / TAPE_JSON).exists() and any(t.iterdir()):
            raise ConfigError(
                f"--tape {t} is a non-empty directory without tape.json; choose a new path"
            )
        try:
            read_meta(t)  # refuse a foreign or newer tape
        except TapeError as exc:
            raise ConfigError(str(exc)) from None
        if not os.access(t, os.W_OK | os.X_OK):
            raise ConfigError(f"--tape {t} is not writable by this user")
        return True

    # -- rows -------------------------------------------------------------------------------
    def add(self, row: Mapping[str, Any], nbytes: int) -> None:
        """Queue one row; a full batch is committed as a part in the staging directory."""
        self._batch.append(row)
        self._bytes += nbytes
        self.rows += 1
        if len(self._batch) >= self.part_rows or self._bytes >= self.part_bytes:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            self.parts.append(commit_part(self.staging / _KIND, _KIND, self._batch))
            self._batch, self._bytes = [], 0

    # -- outcome ----------------------------------------------------------------------------
    def commit(self, **meta: Any) -> Path:
        """Move every staged part into the tape and merge ``meta`` into its ``tape.json``."""
        self._flush()
        if self.existing:
            kind_dir = self.target / _KIND
            kind_dir.mkdir(mode=0o700, exist_ok=True)
            for part in self.parts:
                os.rename(part, kind_dir / part.name)
            fsync_dir(kind_dir)
            update_meta(self.target, **meta)
            self.abort()  # the now empty staging directory
        else:
            update_meta(self.staging, **meta)
            try:
                os.rename(self.staging, self.target)
            except OSError as exc:
                raise TapeError(
                    f"cannot create tape {self.target}: {exc.strerror or exc} "
                    "(did something else create it meanwhile?)"
                ) from None
            fsync_dir(self.target.parent)
        self._done = True
        return self.target

    def abort(self) -> None:
        """Remove the staging directory and everything in it (nothing reaches the tape)."""
        with contextlib.suppress(OSError):
            shutil.rmtree(self.staging)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self._done:
            self.abort()
            for made in self._made:  # innermost first; only while still empty
                try:
                    made.rmdir()
                except OSError:
                    break
