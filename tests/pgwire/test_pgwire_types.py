"""Values in text and binary format, checked against what PostgreSQL itself sends.

The golden pairs below were captured from PostgreSQL 15 (``SELECT $1::text::TYPE`` asked once
in text and once in binary format, ``TimeZone=UTC``); the property tests check the same
conversions against independent oracles (Python's ``datetime`` and ``Decimal``).
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from understudy.errors import PgProtocolError
from understudy.pgwire import Oid, binary_to_text, text_to_binary, text_to_value, value_to_text

PROPERTY = settings(max_examples=200, deadline=None, database=None)

GOLDEN = [
    (Oid.BOOL, "01", "t"),
    (Oid.BOOL, "00", "f"),
    (Oid.INT2, "8000", "-32768"),
    (Oid.INT4, "0000002a", "42"),
    (Oid.INT8, "8000000000000000", "-9223372036854775808"),
    (Oid.OID, "ffffffff", "4294967295"),
    (Oid.FLOAT4, "49742400", "1e+06"),
    (Oid.FLOAT4, "4cd4d62e", "1.11587696e+08"),  # not 1.115877e+08: that is a midpoint
    (Oid.FLOAT4, "3dcccccd", "0.1"),
    (Oid.FLOAT4, "ff800000", "-Infinity"),
    (Oid.FLOAT4, "7fc00000", "NaN"),
    (Oid.FLOAT8, "44b52d02c7e14af6", "9.999999999999999e+22"),  # Python says 1e+23
    (Oid.FLOAT8, "430c6bf526340000", "1e+15"),
    (Oid.FLOAT8, "42d6bcc41e900000", "100000000000000"),
    (Oid.FLOAT8, "3f1a36e2eb1c432d", "0.0001"),
    (Oid.FLOAT8, "3ee4f8b588e368f1", "1e-05"),
    (Oid.FLOAT8, "8000000000000000", "-0"),
    (Oid.FLOAT8, "3ff8000000000000", "1.5"),
    # numeric: ndigits, weight, sign, dscale, then base-10000 digits
    (Oid.NUMERIC, "0003000100000003000109291a7c", "12345.678"),
    (Oid.NUMERIC, "0001ffff400000011388", "-0.5"),
    (Oid.NUMERIC, "0000000000000002", "0.00"),
    (Oid.NUMERIC, "00010005000000000001", "100000000000000000000"),
    (Oid.NUMERIC, "0001fffd0000000903e8", "0.000000001"),
    (Oid.NUMERIC, "00000000c0000000", "NaN"),
    (Oid.NUMERIC, "00000000d0000020", "Infinity"),
    (Oid.NUMERIC, "00000000f0000020", "-Infinity"),
    (Oid.TEXT, "68c3a96c6c6f", "héllo"),
    (Oid.VARCHAR, "76", "v"),
    (Oid.BPCHAR, "61622020", "ab  "),
    (Oid.NAME, "70675f636c617373", "pg_class"),
    (Oid.BYTEA, "deadbeef", "\\xdeadbeef"),
    # date: days since 2000-01-01
    (Oid.DATE, "00000000", "2000-01-01"),
    (Oid.DATE, "00002279", "2024-02-29"),
    (Oid.DATE, "fff49d7b", "0044-03-15 BC"),
    (Oid.DATE, "7fffffff", "infinity"),
    (Oid.DATE, "7fda970c", "5874897-12-31"),
    # timestamp: microseconds since 2000-01-01 00:00:00
    (Oid.TIMESTAMP, "0000000000000000", "2000-01-01 00:00:00"),
    (Oid.TIMESTAMP, "0002b0e060cf6608", "2024-01-01 12:34:56.789"),
    (Oid.TIMESTAMP, "fffc96188bae6101", "1969-07-20 20:17:40.000001"),
    (Oid.TIMESTAMP, "ff1af9e8fb46d000", "0044-03-15 12:00:00 BC"),
    (Oid.TIMESTAMP, "8000000000000000", "-infinity"),
    (Oid.TIMESTAMPTZ, "0002b0dbc4a36008", "2024-01-01 07:04:56.789+00"),
    (Oid.UUID, "a0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
    (Oid.JSON, "7b2261223a205b312c20325d7d", '{"a": [1, 2]}'),
    (Oid.JSONB, "017b2261223a205b312c20322e35305d2c202262223a20317d", '{"a": [1, 2.50], "b": 1}'),
]


@pytest.mark.parametrize(("oid", "binary", "text"), GOLDEN)
def test_binary_to_text_as_postgresql_prints(oid: Oid, binary: str, text: str) -> None:
    assert binary_to_text(oid, bytes.fromhex(binary)) == text


@pytest.mark.parametrize(("oid", "binary", "text"), GOLDEN)
def test_text_to_binary_as_postgresql_sends(oid: Oid, binary: str, text: str) -> None:
    assert text_to_binary(oid, text).hex() == binary


@pytest.mark.parametrize(
    ("oid", "text", "binary"),
    [
        (Oid.BOOL, "yes", "01"),
        (Oid.BOOL, " OFF ", "00"),
        (Oid.OID, "-1", "ffffffff"),  # oidin wraps negative int4
        (Oid.NUMERIC, "1.5e3", "000100000000000005dc"),  # 1500: one digit, dscale 0
        (Oid.BYTEA, "a\\\\b\\001", "615c6201"),  # the escape format
        (Oid.BYTEA, "\\xDE AD", "dead"),
        (Oid.UUID, "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}", "a0eebc999c0b4ef8bb6d6bb9bd380a11"),
        (Oid.DATE, "1999-12-31", "ffffffff"),
        (Oid.TIMESTAMP, "2000-01-01T00:00:01+05", "00000000000f4240"),  # offset ignored
        (Oid.TIMESTAMPTZ, "2000-01-01 05:00:01+05", "00000000000f4240"),
        (Oid.TIMESTAMPTZ, "2000-01-01 00:00:01Z", "00000000000f4240"),
        (Oid.TIMESTAMPTZ, "2000-01-01 00:00:01", "00000000000f4240"),  # read as UTC
        (Oid.TIMESTAMP, "1999-12-31 23:59:59.9999995", "0000000000000000"),  # rounds half even
        (Oid.FLOAT8, "inf", "7ff0000000000000"),
    ],
)
def test_text_forms_postgresql_accepts(oid: Oid, text: str, binary: str) -> None:
    assert text_to_binary(oid, text).hex() == binary


@pytest.mark.parametrize(
    ("oid", "binary"),
    [
        (Oid.INT4, "000000"),
        (Oid.BOOL, ""),
        (Oid.NUMERIC, "0001000000000000"),  # one digit announced, none sent
        (Oid.NUMERIC, "000100000000000027 10"),  # digit 10000
        (Oid.NUMERIC, "0000000012340000"),  # bad sign
        (Oid.JSONB, "027b7d"),  # jsonb version 2
        (Oid.UUID, "00"),
        (Oid.DATE, "80000001"),  # before 4713 BC
        (Oid.TIMESTAMP, "7ffffffffffffffe"),  # after 294276 AD
        (Oid.FLOAT8, "3ff0"),
    ],
)
def test_bad_binary_values(oid: Oid, binary: str) -> None:
    with pytest.raises(PgProtocolError):
        binary_to_text(oid, bytes.fromhex(binary))


@pytest.mark.parametrize(
    ("oid", "text"),
    [
        (Oid.INT2, "40000"),
        (Oid.INT4, "abc"),
        (Oid.BOOL, "maybe"),
        (Oid.NUMERIC, "1.2.3"),
        (Oid.NUMERIC, "sNaN"),
        (Oid.NUMERIC, "1e999999"),
        (Oid.FLOAT4, "1e39"),
        (Oid.DATE, "2023-02-29"),
        (Oid.DATE, "0000-01-01 BC"),
        (Oid.TIMESTAMP, "2024-01-01 24:00:01"),
        (Oid.TIMESTAMP, "yesterday"),
        (Oid.UUID, "not-a-uuid"),
        (Oid.BYTEA, "\\9"),
        (Oid.BYTEA, "\\xabc"),
        (1186, "1 day"),  # interval: no binary conversion known
    ],
)
def test_bad_text_values(oid: int, text: str) -> None:
    with pytest.raises(PgProtocolError):
        text_to_binary(oid, text)


def test_unknown_types_print_as_hex() -> None:
    assert binary_to_text(1186, b"\x00\x01") == "\\x0001"


def test_values_in_either_format() -> None:
    assert value_to_text(Oid.INT4, b"\x00\x00\x00\x2a", 1) == "42"
    assert value_to_text(Oid.INT4, b"42", 0) == "42"
    assert value_to_text(Oid.INT4, None, 1) is None
    assert text_to_value(Oid.INT4, "42", 1) == b"\x00\x00\x00\x2a"
    assert text_to_value(Oid.INT4, "42", 0) == b"42"
    assert text_to_value(Oid.INT4, None, 0) is None


# -- properties against independent oracles ---------------------------------------------------

EPOCH = dt.datetime(2000, 1, 1)
PY_MIN = (dt.datetime(1, 1, 1) - EPOCH) // dt.timedelta(microseconds=1)
PY_MAX = (dt.datetime(9999, 12, 31, 23, 59, 59, 999999) - EPOCH) // dt.timedelta(microseconds=1)


@PROPERTY
@given(st.integers(PY_MIN, PY_MAX))
def test_timestamps_agree_with_datetime(usecs: int) -> None:
    stamp = EPOCH + dt.timedelta(microseconds=usecs)
    expected = stamp.isoformat(" ")
    if "." in expected:
        expected = expected.rstrip("0")
    binary = struct.pack("!q", usecs)
    assert binary_to_text(Oid.TIMESTAMP, binary) == expected
    assert text_to_binary(Oid.TIMESTAMP, expected) == binary
    assert text_to_binary(Oid.TIMESTAMPTZ, binary_to_text(Oid.TIMESTAMPTZ, binary)) == binary


@PROPERTY
@given(st.integers(-2451545, 2147483494 - 2451545 - 1))
def test_every_date_round_trips(days: int) -> None:
    binary = struct.pack("!i", days)
    text = binary_to_text(Oid.DATE, binary)
    assert text_to_binary(Oid.DATE, text) == binary
    if dt.date.min.toordinal() <= days + 730120 <= dt.date.max.toordinal():
        assert text == dt.date.fromordinal(days + 730120).isoformat()


@PROPERTY
@given(st.integers(-211813488000000000, 9223371331200000000 - 1))
def test_every_timestamp_round_trips(usecs: int) -> None:
    binary = struct.pack("!q", usecs)
    assert text_to_binary(Oid.TIMESTAMP, binary_to_text(Oid.TIMESTAMP, binary)) == binary


@PROPERTY
@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_numerics_agree_with_decimal(value: Decimal) -> None:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    try:
        binary = text_to_binary(Oid.NUMERIC, str(value))
    except PgProtocolError:  # beyond the binary format: weight is an Int16 of 4 digits
        assert abs(value.adjusted()) >= 4 * 32767 or -exponent > 0x3FFF
        return
    text = binary_to_text(Oid.NUMERIC, binary)
    assert Decimal(text) == value
    assert len(text.partition(".")[2]) == max(0, -exponent)  # the scale is kept
    assert text_to_binary(Oid.NUMERIC, text) == binary


@PROPERTY
@given(st.binary(min_size=8, max_size=8))
def test_float8_text_reads_back_exactly(binary: bytes) -> None:
    (x,) = struct.unpack("!d", binary)
    text = binary_to_text(Oid.FLOAT8, binary)
    if math.isnan(x):
        assert text == "NaN"
        return
    assert text_to_binary(Oid.FLOAT8, text) == binary
    assert len(text.lstrip("-").replace(".", "").split("e")[0].strip("0")) <= 17


@PROPERTY
@given(st.binary(min_size=4, max_size=4))
def test_float4_text_reads_back_exactly(binary: bytes) -> None:
    (x,) = struct.unpack("!f", binary)
    text = binary_to_text(Oid.FLOAT4, binary)
    if math.isnan(x):
        assert text == "NaN"
        return
    assert text_to_binary(Oid.FLOAT4, text) == binary


@PROPERTY
@given(st.sampled_from(Oid), st.binary(max_size=24))
def test_any_binary_value_gives_text_or_a_protocol_error(oid: Oid, binary: bytes) -> None:
    try:
        binary_to_text(oid, binary)
    except PgProtocolError:
        pass


@PROPERTY
@given(st.sampled_from(Oid), st.text(max_size=24))
def test_any_text_value_gives_binary_or_a_protocol_error(oid: Oid, text: str) -> None:
    try:
        text_to_binary(oid, text)
    except PgProtocolError:
        pass
