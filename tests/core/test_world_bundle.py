"""World bundles: written atomically, validated on load, hostile bundles refused clearly."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pyarrow as pa
import pytest

from understudy.errors import WorldError
from understudy.world import TABLES, load_world, write_world

DOC = {
    "schema_version": 1,
    "source": {"tapes": []},
    "routes": [],
    "rate_limits": [],
    "identity_classes": [],
    "permissions": [],
    "sql": [],
    "n_plus_one": [],
}


def responses() -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "response_id": "r1",
                "status": 200,
                "headers": [],
                "body": b"\x00{}",
                "body_truncated": False,
            }
        ],
        schema=TABLES["http_responses"],
    )


def test_round_trip(tmp_path: Path) -> None:
    w = write_world(tmp_path / "w", DOC, {"http_responses": responses()})
    assert stat.S_IMODE(os.stat(w).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(w / "world.json").st_mode) == 0o600
    world = load_world(w)
    assert world.doc["format"] == "understudy-world"
    assert world.table("http_responses").column("body").to_pylist() == [b"\x00{}"]
    assert world.table("sql_calls").num_rows == 0
    assert not world.has_http and not world.has_sql


def test_missing_keys_refused_on_write(tmp_path: Path) -> None:
    with pytest.raises(WorldError, match="routes"):
        write_world(tmp_path / "w", {k: v for k, v in DOC.items() if k != "routes"}, {})


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(schema_version=99), "schema version 99"),
        (lambda d: d.update(format="other"), "not an understudy world"),
        (lambda d: d.pop("sql"), "missing keys sql"),
        (lambda d: d["tables"].update(http_responses={"file": "../../etc/passwd"}), "escapes"),
    ],
)
def test_bad_worlds_refused(tmp_path: Path, mutate, message: str) -> None:
    w = write_world(tmp_path / "w", DOC, {"http_responses": responses()})
    doc = json.loads((w / "world.json").read_text())
    mutate(doc)
    (w / "world.json").write_text(json.dumps(doc))
    with pytest.raises(WorldError, match=message):
        load_world(w)


def test_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(WorldError, match="no such world"):
        load_world(tmp_path / "nope")
    w = write_world(tmp_path / "w", DOC, {"http_responses": responses()})
    (w / "http_responses.parquet").write_bytes(b"garbage")
    with pytest.raises(WorldError, match="corrupt world table"):
        load_world(w)
    (w / "world.json").write_text("{not json")
    with pytest.raises(WorldError, match="corrupt"):
        load_world(w)
