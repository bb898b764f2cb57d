"""The demo's directory: one owner-only directory holding every artefact, and the paths in it.

By default a fresh ``understudy-demo-YYYYmmdd-HHMMSS`` under the system's temporary
directory (``$TMPDIR``, else ``/tmp``), so running the demo from a checkout leaves the
checkout clean; ``--dir DIR`` picks another one, which must not exist yet or be empty.

Example:

>>> import tempfile
>>> ws = Workspace.create(Path(tempfile.mkdtemp()) / "demo")
>>> ws.world.name, oct(ws.root.stat().st_mode & 0o777)
('prod.world', '0o700')
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from understudy.errors import ConfigError

__all__ = ["API_KEYS", "CUSTOMERS", "Workspace", "default_dir", "repo_root"]

#: The demo customers' API keys (the fixture API reads the plan from the key's prefix).
API_KEYS: dict[int, str] = {1: "free-1", 2: "pro-1", 3: "free-2", 4: "pro-2"}
CUSTOMERS = "1,2,3,4"


def default_dir(now: dt.datetime | None = None) -> Path:
    """``$TMPDIR/understudy-demo-YYYYmmdd-HHMMSS`` (``-2``, ``-3``... if taken)."""
    stamp = (now or dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    base = Path(tempfile.gettempdir()) / f"understudy-demo-{stamp}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def repo_root() -> Path:
    """The source checkout holding ``fixtures/`` (the demo's services live there)."""
    root = Path(__file__).resolve().parents[2]
    needed = ("demo_service.py", "demo_traffic.py", "plans_api.py", "demo_schema.sql")
    if not all((root / "fixtures" / name).is_file() for name in needed):
        raise ConfigError(
            f"the demo needs the source checkout's fixtures/ (looked in {root / 'fixtures'}); "
            "run it from a clone: pip install -e '.[test]' && understudy demo"
        )
    return root


@dataclass(frozen=True)
class Workspace:
    """Paths of one demo run (all inside ``root``)."""

    root: Path

    @classmethod
    def create(cls, root: Path) -> Workspace:
        """Make ``root`` (0700) with ``logs/``; refuse a non-empty existing directory."""
        root = root.expanduser().absolute()
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ConfigError(f"{root} exists and is not an empty directory: choose a new --dir")
        try:
            root.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.chmod(root, 0o700)
            (root / "logs").mkdir(mode=0o700, exist_ok=True)
        except OSError as exc:
            raise ConfigError(f"cannot create {root}: {exc.strerror}") from None
        return cls(root)

    @property
    def tape(self) -> Path:
        """The production tape."""
        return self.root / "prod.tape"

    @property
    def world(self) -> Path:
        """The world bundle."""
        return self.root / "prod.world"

    @property
    def report_html(self) -> Path:
        """The analysis' HTML report."""
        return self.root / "report.html"

    @property
    def pg(self) -> Path:
        """The production PostgreSQL cluster (removed at the end unless ``--keep``)."""
        return self.root / "pg"

    @property
    def logs(self) -> Path:
        """Each child's output."""
        return self.root / "logs"

    @property
    def confdir(self) -> Path:
        """Mitmproxy's confdir (its CA)."""
        return self.root / "mitmproxy"

    @property
    def keys(self) -> Path:
        """The service's secrets file."""
        return self.root / "api-keys.json"

    @property
    def redaction_key(self) -> Path:
        """The run's redaction key."""
        return self.root / "redaction.key"

    @property
    def diff_json(self) -> Path:
        """``understudy diff --json``."""
        return self.root / "diff.json"

    @property
    def summary_json(self) -> Path:
        """The run's summary."""
        return self.root / "demo.json"

    def verdict(self, version: str) -> Path:
        return self.root / f"verdict-{version}.json"

    def check_dir(self, version: str) -> Path:
        return self.root / f"check-{version}"

    def write_secret(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` (0600, created fresh)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)

    def write_secrets(self) -> None:
        """The service's API keys file and the redaction key every child shares."""
        keys = {str(cid): key for cid, key in API_KEYS.items()}
        self.write_secret(self.keys, json.dumps(keys, indent=2).encode())
        self.write_secret(self.redaction_key, secrets.token_bytes(32))

    def child_env(self) -> dict[str, str]:
        """The environment of every child: ours without proxies or understudy settings,
        plus the run's redaction key, so recorder, analysis and replayer agree on
        pseudonyms."""
        drop = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "database_url"}
        env = {
            k: v
            for k, v in os.environ.items()
            if k.lower() not in drop and not k.startswith(("UNDERSTUDY_", "PG"))
        }
        env.update(
            UNDERSTUDY_KEY_FILE=str(self.redaction_key),
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
        )
        if os.environ.get("UNDERSTUDY_PG_BIN"):
            env["UNDERSTUDY_PG_BIN"] = os.environ["UNDERSTUDY_PG_BIN"]
        return env

    def python(self) -> str:
        return sys.executable
