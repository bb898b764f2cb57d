"""Units of the replay server: the lexer's fast path against sqlfp, value conversions, the
index (faults, representatives, parameter types), native statements, settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from replayer.pg import Behaviour, PgReplaySettings, SqlIndex
from replayer.pg.driver_queries import classify_select
from replayer.pg.native import classify
from replayer.pg.results import Column, Result
from replayer.pg.state import SessionState, initial_settings
from replayer.pg.testing import Captured, SqlWorldKit
from understudy.errors import ConfigError
from understudy.pgwire import BackendParser, DataRow, RowDescription
from understudy.sqlfp import fingerprint_with_params
from understudy.sqlfp.lexer import split
from understudy.sqlfp.shapes import Fingerprinter
from understudy.world import load_world

_TEMPLATES = [
    "SELECT a, b FROM t WHERE id = {} AND name = {}",
    "UPDATE accounts SET balance = {} WHERE id = {}",
    "select * from t where a in ({}, {}) order by 1",
    "INSERT INTO t (a, b) VALUES ({}, {})",
    "SELECT {} + {} AS x -- note ; here",
    "/* app */ SELECT x FROM y WHERE z > {} LIMIT {}",
]
_LITERAL = st.one_of(
    st.integers(0, 10**12).map(str),
    st.decimals(0, 10**6, places=2, allow_nan=False).map(str),
    st.text(st.characters(blacklist_characters="\x00", codec="utf-8"), max_size=12).map(
        lambda s: "'" + s.replace("'", "''") + "'"
    ),
    st.sampled_from(["NULL", "true", "-5", "$$dollar$$"]),
)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_TEMPLATES), _LITERAL, _LITERAL)
def test_fast_path_agrees_with_sqlfp(template: str, a: str, b: str) -> None:
    """Whatever the fast path answers for a shape, sqlfp answers for the text."""
    fingerprinter = Fingerprinter()
    warm = template.format("1", "'w'")
    fingerprinter.analyze(split(warm)[0])  # the first text of a shape is checked with sqlfp
    text = template.format(a, b)
    [piece] = split(text)
    info, values = fingerprinter.analyze(piece)
    fp, params = fingerprint_with_params(piece.text)
    assert info.fingerprint == fp.fingerprint
    assert values == params


def test_split_respects_quotes_and_comments() -> None:
    pieces = split("SELECT ';'; SELECT $a$ ; $a$; /* ; */ SELECT \"x;y\" -- ;\n; ;")
    assert [p.text for p in pieces] == [
        "SELECT ';'",
        "SELECT $a$ ; $a$",
        '/* ; */ SELECT "x;y" -- ;',
    ]
    assert split("  -- only a comment") == []


def test_result_conversions_between_formats() -> None:
    r = Result(
        [Column("n", 23), Column("t", 25), Column("d", 1700)],
        [(b"42", b"hi", b"12.50"), (None, b"", b"-1")],
        "SELECT 2",
    )
    rows = BackendParser().feed(r.body((1,)))
    assert rows[0] == DataRow(
        (b"\x00\x00\x00\x2a", b"hi", bytes.fromhex("0002000000000002000c1388"))
    )
    back = Result(r.columns, [m.values for m in rows[:2]], "SELECT 2", formats=(1, 1, 1))  # type: ignore[union-attr]
    assert [m.values for m in BackendParser().feed(back.body())[:2]] == [  # type: ignore[union-attr]
        (b"42", b"hi", b"12.50"),
        (None, b"", b"-1"),
    ]
    [desc] = BackendParser().feed(r.describe((0, 1, 0)))
    assert isinstance(desc, RowDescription) and [f.format_code for f in desc.fields] == [0, 1, 0]
    odd = Result([Column("iv", 1186)], [(b"1 day",)], "SELECT 1")
    with pytest.raises(Exception, match="cannot be served in binary"):
        odd.body((1,))
    user = Result([Column("mood", 70000)], [(b"happy",)], "SELECT 1")
    [desc] = BackendParser().feed(user.describe())
    assert desc.fields[0].type_oid == 25  # type: ignore[union-attr]


def _world(tmp_path: Path) -> SqlIndex:
    kit = SqlWorldKit()
    ok = Captured(
        "SELECT v FROM k WHERE id = 1",
        "simple",
        columns=[Column("v", 25)],
        formats=[0],
        rows=[(b"a",)],
        tag="SELECT 1",
    )
    for _ in range(3):
        kit.add(ok)
    kit.add(
        Captured(
            "SELECT v FROM k WHERE id = 2",
            "simple",
            sqlstate="40001",
            error_message="could not serialize access",
        )
    )
    kit.add(Captured("SELECT v FROM k WHERE id = $1", "extended", params=("12345",)))
    return SqlIndex.from_world(load_world(kit.write(tmp_path / "w")))


def test_index_faults_and_transient_errors(tmp_path: Path) -> None:
    index = _world(tmp_path)
    [entry] = index.entries.values()
    assert entry.fault_rate == pytest.approx(1 / 5)
    assert entry.param_types == (20,)  # inferred: every recorded value is an integer
    off = Behaviour(index, PgReplaySettings(listen=("127.0.0.1", 0), latency="off"))
    plan = off.plans("SELECT v FROM k WHERE id = 2")[0]
    # the serialization failure is timing, not the statement: never an exact answer
    assert off.answer(plan).kind == "approximate"
    observed = Behaviour(
        index, PgReplaySettings(listen=("127.0.0.1", 0), faults="observed", seed=1)
    )
    kinds = [observed.answer(observed.plans("SELECT v FROM k WHERE id = 1")[0]) for _ in range(400)]
    faults = [a for a in kinds if a.kind == "fault"]
    assert 40 < len(faults) < 120
    assert {a.result.sqlstate for a in faults} == {"40001"}  # type: ignore[union-attr]


def test_native_classification() -> None:
    assert classify("BEGIN", "BEGIN ISOLATION LEVEL SERIALIZABLE") is not None
    assert classify("COMMIT", "COMMIT PREPARED 'x'") is None
    assert classify("SELECT", "SELECT 1") is None
    assert classify_select("select 1") is not None
    assert classify_select("SELECT pg_catalog.version()") is not None
    assert classify_select("SELECT 1 FROM t") is None
    state = SessionState(initial_settings({}, {"user": "u", "DateStyle": "SQL"}, "u"))
    assert state.settings["DateStyle"] == "SQL"
    native = classify("SET", "SET LOCAL search_path TO a, b")
    assert native is not None
    state.status = state.status.IN_TRANSACTION
    native.run(state)
    assert state.settings["search_path"] == "a, b"
    state.end_transaction()
    assert state.settings["search_path"] == '"$user", public'


def test_settings_validation() -> None:
    with pytest.raises(ConfigError, match="forward:HOST:PORT"):
        PgReplaySettings.from_options(on_miss="somewhere")
    with pytest.raises(ConfigError, match="listen-any"):
        PgReplaySettings.from_options(listen="10.0.0.1:6432")
    with pytest.raises(ConfigError, match="not HOST:PORT"):
        PgReplaySettings.from_options(listen="nowhere")
    s = PgReplaySettings.from_options(listen="[::1]:0", on_miss="forward:db")
    assert s.forward_to == ("db", 5432) and s.describe()["on_miss"] == "forward:db:5432"


@pytest.mark.parametrize(
    "module",
    ["settings", "auth", "index", "behaviour", "results"],
)
def test_module_doctests(module: str) -> None:
    """The examples in the docstrings run (replayer/ is not in pytest's doctest paths)."""
    import doctest
    import importlib

    mod = importlib.import_module(f"replayer.pg.{module}")
    failed, _ = doctest.testmod(mod, optionflags=doctest.ELLIPSIS)
    assert failed == 0
