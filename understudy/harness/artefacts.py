"""The artefact directory of one check run: what the replayer and the judge leave behind.

::

    OUT/                 0700 (--out DIR, else a fresh temp dir named on stderr)
      replayer.log       the replayer child's stdout and stderr
      ready.json         written by the replayer once it serves (ports, seed, pid)
      session.json       the replayer's session report (docs/session-report.md)
      session.tape/      everything the candidate sent and received (tape format)
      mitmproxy/         the replayer's mitmproxy confdir: a CA made for this run
      verdict.json       the verdict (unless --report puts it elsewhere)

Example::

    check_out_dir(Path("ci/check"))        # validate first, create nothing
    art = Artefacts.create(Path("ci/check"))
    art.report, art.session_tape
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from understudy.errors import ConfigError

__all__ = ["Artefacts", "check_out_dir", "check_output_file"]


@dataclass(frozen=True)
class Artefacts:
    """Paths inside one run's artefact directory; ``temporary`` when we chose the place."""

    root: Path
    temporary: bool = False

    @property
    def log(self) -> Path:
        return self.root / "replayer.log"

    @property
    def ready(self) -> Path:
        return self.root / "ready.json"

    @property
    def report(self) -> Path:
        return self.root / "session.json"

    @property
    def session_tape(self) -> Path:
        return self.root / "session.tape"

    @property
    def confdir(self) -> Path:
        return self.root / "mitmproxy"

    @property
    def ca_cert(self) -> Path:
        return self.confdir / "mitmproxy-ca-cert.pem"

    @property
    def verdict(self) -> Path:
        return self.root / "verdict.json"

    @classmethod
    def create(cls, out: Path | None) -> Artefacts:
        """Create ``out`` (or a fresh temp dir) owner-only; :func:`check_out_dir` first."""
        if out is None:
            return cls(Path(tempfile.mkdtemp(prefix="understudy-check-")), temporary=True)
        out = out.expanduser()
        check_out_dir(out)
        try:
            out.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(out, 0o700)
        except OSError as exc:
            raise ConfigError(f"--out {out}: cannot create it ({exc.strerror or exc})") from exc
        return cls(out)


def check_out_dir(out: Path) -> None:
    """``--out``: absent (its nearest existing parent writable) or an empty writable directory.

    >>> import tempfile
    >>> check_out_dir(Path(tempfile.mkstemp()[1]))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    understudy.errors.ConfigError: --out /...: exists and is not a directory
    """
    out = out.expanduser()
    if out.exists():
        if not out.is_dir():
            raise ConfigError(f"--out {out}: exists and is not a directory")
        if any(out.iterdir()):
            raise ConfigError(f"--out {out}: directory is not empty; give a new or empty one")
        if not os.access(out, os.W_OK | os.X_OK):
            raise ConfigError(f"--out {out}: directory is not writable")
        return
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--out {out}: {parent} is not writable")


def check_output_file(path: Path, flag: str) -> None:
    """A file we will write (atomically, in its directory): the directory exists, writable.

    >>> check_output_file(Path("/no/such/dir/verdict.json"), "--report")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    understudy.errors.ConfigError: --report ...: directory /no/such/dir does not exist
    """
    path = path.expanduser()
    parent = path.parent
    if path.is_dir():
        raise ConfigError(f"{flag} {path}: is a directory; give a file name")
    if not parent.is_dir():
        raise ConfigError(f"{flag} {path}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{flag} {path}: directory {parent} is not writable")
