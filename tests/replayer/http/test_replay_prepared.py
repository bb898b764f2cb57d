"""The prepared index: built in a child process, equal to the in-process one, and the
serving process never loads Arrow (real ``understudy replay`` processes, /proc/PID/maps)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from http_worlds import HOST, WorldBuilder, auth, empty_doc

from replayer.core import WorldModel
from replayer.core.index import ExactEntry, ExchangeIndex
from replayer.prepared import prepare_world
from replayer.prepared.exact import CompactExact
from replayer.prepared.files import load_prepared
from understudy.errors import WorldError
from understudy.world import TABLES, load_world
from understudy.world.meta import TABLE_NAMES, read_world_doc


def _value(v: ExactEntry | int) -> object:
    return v if isinstance(v, int) else (v.rows, v.by_identity, v.by_class)


def _parts(idx: ExchangeIndex) -> dict[str, object]:
    return {
        "exact": {k: _value(v) for k, v in idx.exact.items()},
        "representatives": idx.representatives,
        "by_status": [(k, list(v.items())) for k, v in idx.by_status.items()],
        "host_status": idx.host_status,
        "durations_ms": idx.durations_ms,
        "near": idx.near,
        "routes": idx.routes,
        "class_counts": list(idx.class_counts.items()),
        "exchanges": idx.exchanges,
    }


def test_prepared_index_equals_the_in_process_one(world_dir: Path) -> None:
    world = load_world(world_dir)
    model = WorldModel.from_world(world)
    prepared = prepare_world(read_world_doc(world_dir))
    try:
        assert _parts(prepared.index) == _parts(model.index)
        assert any(isinstance(v, ExactEntry) for v in prepared.index.exact.values())
        assert prepared.doc.rows == {k: t.num_rows for k, t in world.tables.items()}
        assert len(prepared.responses) == len(model.store)
        for row in range(len(model.store)):
            mine, theirs = prepared.responses.get(row), model.store.get(row)
            assert (mine.status, mine.headers, mine.body, mine.response_id, mine.truncated) == (
                theirs.status, theirs.headers, theirs.body, theirs.response_id, theirs.truncated
            )  # fmt: skip
            assert prepared.responses.get(row) is mine  # materialised once
    finally:
        prepared.close()


def test_the_arrow_free_table_names_are_the_schemas_names() -> None:
    assert tuple(TABLES) == TABLE_NAMES


def test_compact_exact_is_a_mapping() -> None:
    entry = ExactEntry((4, 5), {"id-a": (5,)}, None)
    source: dict[str, ExactEntry | int] = {
        f"GET\0{HOST}\0/items/{i}\0\0": i for i in range(300)
    } | {"POST\0h\0/ünï\0a=1\0k": entry, "GET\0h\0/\0\0": 0}  # fmt: skip
    exact = CompactExact.from_dict(source)
    assert len(exact) == len(source) and list(exact) == list(source)
    assert all(exact[k] == v for k, v in source.items() if isinstance(v, int))
    assert exact["POST\0h\0/ünï\0a=1\0k"] is entry
    assert exact.get("GET\0h\0/missing\0\0") is None and "GET\0h\0/\0\0" in exact
    assert exact.get("GET\0h\0/\udcff\0\0") is None  # a lone surrogate misses, never raises
    with pytest.raises(KeyError):
        exact["nope"]


def test_a_damaged_prepared_index_is_refused(world_dir: Path, tmp_path: Path) -> None:
    from replayer.prepared.child import prepare_into

    out = tmp_path / "prepared"
    out.mkdir()
    prepare_into(world_dir, out)
    rows, _, responses = load_prepared(out)
    responses.close()
    assert rows["http_exchanges"] > 0
    slots = out / "exact-slots.bin"
    slots.write_bytes(slots.read_bytes()[:-8])
    with pytest.raises(ValueError, match="exact index"):
        load_prepared(out)


def test_a_corrupt_table_is_a_world_error_from_the_child(tmp_path: Path) -> None:
    b = WorldBuilder()
    b.exchange("GET", "/a", "/a", b.response(200, b"ok"))
    world = b.write(tmp_path / "w", empty_doc())
    (world / "http_responses.parquet").write_bytes(b"not parquet")
    with pytest.raises(WorldError, match="corrupt world table"):
        prepare_world(read_world_doc(world))


def _arrow_mapped(pid: int) -> list[str]:
    maps = Path(f"/proc/{pid}/maps").read_text()
    return sorted({line.split()[-1] for line in maps.splitlines() if "arrow" in line.lower()})


@pytest.mark.parametrize("mode", ["reverse", "proxy"])
def test_the_serving_process_never_loads_arrow(
    world_dir: Path, start_replayer, tmp_path: Path, mode: str
) -> None:
    if mode == "reverse":
        rep = start_replayer(world_dir, "--mode", f"reverse:http://{HOST}", "--latency", "off")
        r = httpx.get(f"{rep.url}/api/items/2", headers=auth("pro-key-1"))
    else:
        rep = start_replayer(world_dir, "--latency", "off", confdir=tmp_path / "mitmproxy")
        with httpx.Client(proxy=rep.url) as c:
            r = c.get(f"http://{HOST}/api/items/2", headers=auth("pro-key-1"))
    assert r.status_code == 200
    assert r.content == b'{"id": 2, "name": "item 2", "tags": ["x"]}'
    assert _arrow_mapped(rep.proc.pid) == []
    assert rep.stop()["totals"]["exact"] == 1
