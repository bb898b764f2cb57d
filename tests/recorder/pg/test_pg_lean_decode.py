"""The recorder's lean Bind/DataRow decoders agree with the pgwire codec byte for byte:
same values on valid payloads, PgProtocolError (and nothing else) on the payloads the codec
refuses; and ``Framer(plain=True)`` yields the frames ``Framer()`` does, as plain tuples."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from recorder.pg.lean import datarow_values, decode_bind
from understudy.errors import PgProtocolError
from understudy.pgwire import (
    BackendCode,
    Bind,
    DataRow,
    Frame,
    Framer,
    FrontendCode,
    decode_backend,
    decode_frontend,
    encode,
    encode_all,
)

NAMES = st.text(st.characters(exclude_characters="\0", exclude_categories=("Cs",)), max_size=12)
VALUES = st.lists(st.one_of(st.none(), st.binary(max_size=24)), max_size=6).map(tuple)
FORMATS = st.lists(st.integers(0, 1), max_size=6).map(tuple)
BINDS = st.builds(Bind, NAMES, NAMES, FORMATS, VALUES, FORMATS)


def _codec_or_error(decode, payload):  # type: ignore[no-untyped-def]
    try:
        return decode(payload)
    except PgProtocolError:
        return PgProtocolError


@given(BINDS)
def test_bind_round_trip_matches_codec(bind: Bind) -> None:
    payload = encode(bind)[5:]
    lean = decode_bind(payload)
    got = (lean.portal, lean.statement, lean.param_formats, lean.params, lean.result_formats)
    assert got == (bind.portal, bind.statement, bind.param_formats, bind.params,
                   bind.result_formats)  # fmt: skip
    assert decode_frontend(FrontendCode.BIND, payload) == bind


@given(BINDS, st.data())
def test_mangled_bind_fails_like_codec(bind: Bind, data: st.DataObject) -> None:
    payload = encode(bind)[5:]
    cut = data.draw(st.integers(0, len(payload)))
    mangled = payload[:cut] + data.draw(st.binary(max_size=8))
    codec = _codec_or_error(lambda p: decode_frontend(FrontendCode.BIND, p), mangled)
    lean = _codec_or_error(decode_bind, mangled)
    if codec is PgProtocolError:
        assert lean is PgProtocolError
    else:
        assert isinstance(codec, Bind) and not isinstance(lean, type)
        assert (lean.portal, lean.statement, lean.param_formats, lean.params,
                lean.result_formats) == (codec.portal, codec.statement, codec.param_formats,
                                         codec.params, codec.result_formats)  # fmt: skip


@given(VALUES, st.data())
def test_datarow_matches_codec(values: tuple[bytes | None, ...], data: st.DataObject) -> None:
    payload = encode(DataRow(values))[5:]
    assert datarow_values(payload) == list(values)
    cut = data.draw(st.integers(0, len(payload)))
    mangled = payload[:cut] + data.draw(st.binary(max_size=6))
    codec = _codec_or_error(lambda p: decode_backend(BackendCode.DATA_ROW, p), mangled)
    lean = _codec_or_error(datarow_values, mangled)
    if codec is PgProtocolError:
        assert lean is PgProtocolError
    else:
        assert isinstance(codec, DataRow) and lean == list(codec.values)


@given(st.lists(VALUES, min_size=1, max_size=5), st.integers(1, 40))
def test_plain_framer_matches_framer(rows: list[tuple[bytes | None, ...]], step: int) -> None:
    wire = encode_all([DataRow(v) for v in rows])
    named, plain = Framer(), Framer(plain=True)
    got_named: list[Frame] = []
    got_plain: list[tuple[bytes, bytes]] = []
    for i in range(0, len(wire), step):
        got_named += named.feed(wire[i : i + step])
        got_plain += plain.feed(wire[i : i + step])
    assert got_plain == [tuple(f) for f in got_named]
    assert all(type(f) is tuple for f in got_plain)
    assert all(type(f) is Frame for f in got_named)
    assert [f.code for f in got_named] == [b"D"] * len(rows)
