"""Values of common types in text and binary format, as PostgreSQL reads and prints them.

The recorder turns binary parameters and results into text (:func:`binary_to_text`); the
replayer serves text-recorded results to a client that asked for binary
(:func:`text_to_binary`). Text follows the server defaults: ``DateStyle=ISO``,
``bytea_output=hex``, ``extra_float_digits=1`` (shortest exact floats) and, for
timestamptz, ``TimeZone=UTC``. Both functions raise :class:`PgProtocolError` on a value that
is not valid for its type; text is UTF-8 with ``surrogateescape``, as everywhere in pgwire.

Example::

    >>> from understudy.pgwire.types import Oid, binary_to_text, text_to_binary
    >>> binary_to_text(Oid.NUMERIC, bytes.fromhex("0003000100000003 0001 0929 1a7c"))
    '12345.678'
    >>> text_to_binary(Oid.TIMESTAMP, "2000-01-02 00:00:00").hex()
    '000000141dd76000'
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from decimal import Decimal
from enum import IntEnum

from understudy.errors import PgProtocolError
from understudy.pgwire._datetime import format_date, format_timestamp, parse_date, parse_timestamp
from understudy.pgwire._floats import float4_text, float8_text
from understudy.pgwire._wire import decode_str, encode_str

__all__ = ["Oid", "binary_to_text", "text_to_binary", "text_to_value", "value_to_text"]


class Oid(IntEnum):
    """OIDs of the built-in types this module converts."""

    BOOL = 16
    BYTEA = 17
    NAME = 19
    INT8 = 20
    INT2 = 21
    INT4 = 23
    TEXT = 25
    OID = 26
    JSON = 114
    FLOAT4 = 700
    FLOAT8 = 701
    BPCHAR = 1042
    VARCHAR = 1043
    DATE = 1082
    TIMESTAMP = 1114
    TIMESTAMPTZ = 1184
    NUMERIC = 1700
    UUID = 2950
    JSONB = 3802


_INTS = {
    Oid.INT2: struct.Struct("!h"),
    Oid.INT4: struct.Struct("!i"),
    Oid.INT8: struct.Struct("!q"),
    Oid.OID: struct.Struct("!I"),
}
_F4 = struct.Struct("!f")
_F8 = struct.Struct("!d")
_I32 = struct.Struct("!i")
_I64 = struct.Struct("!q")
_NUMERIC_HEAD = struct.Struct("!HhHH")
_NUMERIC_POS, _NUMERIC_NEG = 0x0000, 0x4000
_NUMERIC_SPECIAL = {0xC000: "NaN", 0xD000: "Infinity", 0xF000: "-Infinity"}
# Special values as (sign, dscale); PostgreSQL sends dscale 32 for the infinities (bits of
# their packed header read as a short-format dscale), and so do we, byte for byte.
_NUMERIC_SPECIAL_IN = {
    "nan": (0xC000, 0),
    "infinity": (0xD000, 32),
    "+infinity": (0xD000, 32),
    "inf": (0xD000, 32),
    "+inf": (0xD000, 32),
    "-infinity": (0xF000, 32),
    "-inf": (0xF000, 32),
}
_TRUE = frozenset({"t", "tr", "tru", "true", "y", "ye", "yes", "on", "1"})
_FALSE = frozenset({"f", "fa", "fal", "fals", "false", "n", "no", "of", "off", "0"})
_JSONB_VERSION = b"\x01"


# -- binary -> text ---------------------------------------------------------------------------


def _int_text(oid: Oid) -> Callable[[bytes], str]:
    st = _INTS[oid]

    def convert(data: bytes) -> str:
        if len(data) != st.size:
            raise PgProtocolError(f"{oid.name.lower()} is {st.size} bytes, not {len(data)}")
        return str(st.unpack(data)[0])

    return convert


def _bool_text(data: bytes) -> str:
    if len(data) != 1:
        raise PgProtocolError(f"bool is 1 byte, not {len(data)}")
    return "t" if data[0] else "f"


def _numeric_text(data: bytes) -> str:
    # get_str_from_var() in src/backend/utils/adt/numeric.c: base-10000 digits, truncated
    # (not rounded) to dscale decimals.
    ndigits, weight, sign, dscale = _NUMERIC_HEAD.unpack_from(data)
    if len(data) != 8 + 2 * ndigits:
        raise PgProtocolError(f"numeric of {ndigits} digits cannot be {len(data)} bytes")
    if sign in _NUMERIC_SPECIAL:
        return _NUMERIC_SPECIAL[sign]
    if sign not in (_NUMERIC_POS, _NUMERIC_NEG) or dscale > 0x3FFF:
        raise PgProtocolError(f"invalid numeric sign {sign:#x} or scale {dscale}")
    digits = struct.unpack_from(f"!{ndigits}h", data, 8)
    if any(not 0 <= d < 10000 for d in digits):
        raise PgProtocolError("invalid numeric digit: each is 0 to 9999")

    def group(i: int) -> int:
        return digits[i] if 0 <= i < ndigits else 0

    out = "-" if sign == _NUMERIC_NEG else ""
    if weight < 0:
        out += "0"
    else:
        out += str(group(0)) + "".join(f"{group(i):04d}" for i in range(1, weight + 1))
    if dscale:
        first = weight + 1
        fraction = "".join(f"{group(i):04d}" for i in range(first, first + (dscale + 3) // 4))
        out += "." + fraction[:dscale]
    return out


def _jsonb_text(data: bytes) -> str:
    if data[:1] != _JSONB_VERSION:
        raise PgProtocolError(f"unsupported jsonb version {data[:1]!r}: expected b'\\x01'")
    return decode_str(data[1:])


def _uuid_text(data: bytes) -> str:
    if len(data) != 16:
        raise PgProtocolError(f"uuid is 16 bytes, not {len(data)}")
    return str(uuid.UUID(bytes=data))


def _date_text(data: bytes) -> str:
    return format_date(_I32.unpack(data)[0])


_TO_TEXT: dict[int, Callable[[bytes], str]] = {
    Oid.BOOL: _bool_text,
    Oid.BYTEA: lambda data: "\\x" + data.hex(),
    Oid.INT2: _int_text(Oid.INT2),
    Oid.INT4: _int_text(Oid.INT4),
    Oid.INT8: _int_text(Oid.INT8),
    Oid.OID: _int_text(Oid.OID),
    Oid.FLOAT4: float4_text,
    Oid.FLOAT8: float8_text,
    Oid.NUMERIC: _numeric_text,
    Oid.DATE: _date_text,
    Oid.TIMESTAMP: lambda data: format_timestamp(_I64.unpack(data)[0], utc_offset=False),
    Oid.TIMESTAMPTZ: lambda data: format_timestamp(_I64.unpack(data)[0], utc_offset=True),
    Oid.UUID: _uuid_text,
    Oid.JSONB: _jsonb_text,
    **dict.fromkeys((Oid.TEXT, Oid.VARCHAR, Oid.BPCHAR, Oid.NAME, Oid.JSON), decode_str),
}


# -- text -> binary ---------------------------------------------------------------------------


def _int_binary(oid: Oid) -> Callable[[str], bytes]:
    st = _INTS[oid]

    def convert(text: str) -> bytes:
        value = int(text.strip())
        if oid == Oid.OID and -(2**31) <= value < 0:
            value += 2**32  # oidin accepts a negative int4 and wraps it, as PostgreSQL does
        return st.pack(value)  # struct.error when out of range

    return convert


def _bool_binary(text: str) -> bytes:
    word = text.strip().lower()
    if word in _TRUE:
        return b"\x01"
    if word in _FALSE:
        return b"\x00"
    raise PgProtocolError(f"invalid bool {text!r}")


def _numeric_binary(text: str) -> bytes:
    special = _NUMERIC_SPECIAL_IN.get(text.strip().lower())
    if special is not None:
        return _NUMERIC_HEAD.pack(0, 0, *special)
    value = Decimal(text.strip())
    if not value.is_finite():
        raise PgProtocolError(f"invalid numeric {text!r}")
    sign, digit_tuple, exp = value.as_tuple()
    assert isinstance(exp, int)
    dscale = max(0, -exp)
    digits = "".join(map(str, digit_tuple)).lstrip("0")  # strings: numerics outgrow int()
    groups: list[int] = []
    weight = 0
    if digits:
        # Align the exponent on a base-10000 digit, then cut the digits in fours.
        exp4 = exp // 4
        digits += "0" * (exp - 4 * exp4)
        digits = digits.zfill((len(digits) + 3) // 4 * 4)
        groups = [int(digits[i : i + 4]) for i in range(0, len(digits), 4)]
        weight = exp4 + len(groups) - 1
        while groups[-1] == 0:
            groups.pop()
    if not -32768 <= weight <= 32767 or dscale > 0x3FFF:
        raise PgProtocolError(f"numeric {text[:40]!r} is out of the representable range")
    head = _NUMERIC_HEAD.pack(len(groups), weight, _NUMERIC_NEG if sign and groups else 0, dscale)
    return head + struct.pack(f"!{len(groups)}h", *groups)


def _float_binary(st: struct.Struct) -> Callable[[str], bytes]:
    return lambda text: st.pack(float(text))


def _bytea_binary(text: str) -> bytes:
    if text.startswith("\\x"):
        return bytes.fromhex(text[2:])
    # The escape format: \\ is a backslash, \ooo an octal byte, anything else itself.
    out = bytearray()
    i = 0
    while i < len(text):
        ch = text[i]
        if ch != "\\":
            out += encode_str(ch)
            i += 1
        elif text[i + 1 : i + 2] == "\\":
            out.append(0x5C)
            i += 2
        elif len(text) >= i + 4 and text[i + 1] in "0123" and _is_octal(text[i + 2 : i + 4]):
            out.append(int(text[i + 1 : i + 4], 8))
            i += 4
        else:
            raise PgProtocolError(f"invalid bytea escape at offset {i} of {text[:40]!r}")
    return bytes(out)


def _is_octal(s: str) -> bool:
    return all(c in "01234567" for c in s)


_TO_BINARY: dict[int, Callable[[str], bytes]] = {
    Oid.BOOL: _bool_binary,
    Oid.BYTEA: _bytea_binary,
    Oid.INT2: _int_binary(Oid.INT2),
    Oid.INT4: _int_binary(Oid.INT4),
    Oid.INT8: _int_binary(Oid.INT8),
    Oid.OID: _int_binary(Oid.OID),
    Oid.FLOAT4: _float_binary(_F4),
    Oid.FLOAT8: _float_binary(_F8),
    Oid.NUMERIC: _numeric_binary,
    Oid.DATE: lambda text: _I32.pack(parse_date(text)),
    Oid.TIMESTAMP: lambda text: _I64.pack(parse_timestamp(text, with_zone=False)),
    Oid.TIMESTAMPTZ: lambda text: _I64.pack(parse_timestamp(text, with_zone=True)),
    Oid.UUID: lambda text: uuid.UUID(text.strip()).bytes,
    Oid.JSONB: lambda text: _JSONB_VERSION + encode_str(text),
    **dict.fromkeys((Oid.TEXT, Oid.VARCHAR, Oid.BPCHAR, Oid.NAME, Oid.JSON), encode_str),
}

_ERRORS = (ValueError, ArithmeticError, struct.error, IndexError)  # InvalidOperation too


def _type_name(oid: int) -> str:
    try:
        return Oid(oid).name.lower()
    except ValueError:
        return f"type {oid}"


def binary_to_text(oid: int, data: bytes) -> str:
    """The text PostgreSQL prints for a binary value; ``\\x`` + hex for an unknown OID."""
    convert = _TO_TEXT.get(oid)
    if convert is None:
        return "\\x" + data.hex()
    try:
        return convert(data)
    except PgProtocolError as exc:
        raise PgProtocolError(f"invalid binary {_type_name(oid)}: {exc}") from None
    except _ERRORS as exc:
        raise PgProtocolError(f"invalid binary {_type_name(oid)}: {exc}") from exc


def text_to_binary(oid: int, text: str) -> bytes:
    """The binary format of a value given as PostgreSQL text; only for the OIDs in :class:`Oid`."""
    convert = _TO_BINARY.get(oid)
    if convert is None:
        raise PgProtocolError(f"no binary format known for type oid {oid}; ask for text")
    try:
        return convert(text)
    except PgProtocolError as exc:
        raise PgProtocolError(f"invalid {_type_name(oid)} {text[:60]!r}: {exc}") from None
    except _ERRORS as exc:
        raise PgProtocolError(f"invalid {_type_name(oid)} {text[:60]!r}: {exc}") from exc


def value_to_text(oid: int, data: bytes | None, format_code: int) -> str | None:
    """A parameter or column value as text, whichever format it came in; None stays None."""
    if data is None:
        return None
    return binary_to_text(oid, data) if format_code else decode_str(data)


def text_to_value(oid: int, text: str | None, format_code: int) -> bytes | None:
    """A value recorded as text, in the format a client asked for; None stays None."""
    if text is None:
        return None
    return text_to_binary(oid, text) if format_code else encode_str(text)
