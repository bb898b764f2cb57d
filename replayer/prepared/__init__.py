"""The HTTP index prepared in a short-lived child, so the serving process never loads Arrow.

Reading Parquet and grouping 100k exchanges needs pyarrow (about 40 MiB resident once
imported, plus what its allocator keeps); serving needs none of it. :func:`prepare_world`
runs ``python -m replayer.prepared`` (:mod:`.child`) on a private directory, reads back the
compact index it wrote (:mod:`.files`: flat arrays, JSON and one response file read on
demand) and removes the directory; the response file stays open until
:meth:`Prepared.close`. Errors in the world come back as the same :class:`WorldError` (or
:class:`ConfigError`) an in-process load raises.

Example::

    prepared = prepare_world(read_world_doc(Path("prod.world")))
    model = WorldModel.from_index(parse_doc(prepared.doc.doc), prepared.responses,
                                  prepared.index)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from replayer.core.index import ExchangeIndex
from replayer.prepared.files import load_prepared
from replayer.prepared.responses import FileResponses
from understudy.childenv import child_env
from understudy.errors import ConfigError, WorldError
from understudy.world.meta import WorldDoc

__all__ = ["Prepared", "prepare_world"]

_RESULT = "result.json"


@dataclass
class Prepared:
    """A world's HTTP index, prepared: the document (with table row counts), the index and
    its responses."""

    doc: WorldDoc
    index: ExchangeIndex
    responses: FileResponses

    def close(self) -> None:
        self.responses.close()


def prepare_world(doc: WorldDoc) -> Prepared:
    """Index the world of ``doc`` in a child process; raise WorldError / ConfigError."""
    out = Path(tempfile.mkdtemp(prefix="understudy-index-"))  # 0700, ours alone
    try:
        argv = [sys.executable, "-m", "replayer.prepared", str(doc.path), str(out)]
        done = subprocess.run(argv, env=child_env(), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              check=False)  # fmt: skip
        result = out / _RESULT
        if done.returncode != 0 or not result.is_file():
            tail = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or ["?"]
            raise WorldError(
                f"{doc.path}: indexing the world failed (exit status {done.returncode}: "
                f"{tail[0]}); rebuild the world"
            )
        status = json.loads(result.read_bytes())
        if status.get("error") == "world":
            raise WorldError(str(status.get("message")))
        if status.get("error") == "config":
            raise ConfigError(str(status.get("message")))
        try:
            rows, index, responses = load_prepared(out)
        except (OSError, ValueError) as exc:
            raise WorldError(f"{doc.path}: the prepared index is unreadable ({exc})") from exc
        doc.rows.update(rows)
        return Prepared(doc, index, responses)
    finally:
        shutil.rmtree(out, ignore_errors=True)
