"""Low-level reading and writing of protocol fields: integers, C strings, counted values.

Strings are UTF-8 decoded with ``surrogateescape``: a byte that is not valid UTF-8 becomes a
lone surrogate (U+DC80..U+DCFF) and is written back as the same byte. Decoding never fails
and ``encode(decode(b)) == b`` for every string, whatever the client encoding; a caller
storing such a string in a UTF-8-only sink should encode it with
``.encode("utf-8", "surrogateescape")`` (:func:`has_undecodable` tells).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

from understudy.errors import PgProtocolError

__all__ = [
    "FIELD",
    "I16",
    "I32",
    "U16",
    "U32",
    "Reader",
    "check_cancel_key",
    "count16",
    "cstring",
    "decode_str",
    "encode_str",
    "encode_values",
    "frame",
    "has_undecodable",
]

I8 = struct.Struct("!b")
I16 = struct.Struct("!h")
U16 = struct.Struct("!H")
I32 = struct.Struct("!i")
U32 = struct.Struct("!I")
#: A RowDescription field after its name: table OID, column, type OID, size, modifier, format.
FIELD = struct.Struct("!IhIhih")
_MAX_COUNT = 0xFFFF


def decode_str(data: bytes) -> str:
    """Decode protocol text losslessly (UTF-8, undecodable bytes as escapes)."""
    return data.decode("utf-8", "surrogateescape")


def has_undecodable(text: str) -> bool:
    """True when ``text`` cannot be written as plain UTF-8 (it holds surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def encode_str(text: str) -> bytes:
    """Encode protocol text; the inverse of :func:`decode_str`."""
    return text.encode("utf-8", "surrogateescape")


def cstring(text: str) -> bytes:
    """A NUL-terminated string; a NUL inside cannot be sent."""
    data = text.encode("utf-8", "surrogateescape")
    if b"\0" in data:
        raise PgProtocolError(f"cannot encode a string containing NUL: {text[:40]!r}")
    return data + b"\0"


def check_cancel_key(key: bytes) -> bytes:
    """A cancel key is 4 bytes in protocol 3.0 and 4 to 256 bytes in 3.2."""
    if not 4 <= len(key) <= 256:
        raise PgProtocolError(f"cancel key of {len(key)} bytes: the protocol allows 4 to 256")
    return key


def count16(n: int) -> bytes:
    """An Int16 count of items, read by the server as unsigned (at most 65535)."""
    if not 0 <= n <= _MAX_COUNT:
        raise PgProtocolError(f"cannot encode {n} items: the protocol allows 0 to 65535")
    return U16.pack(n)


def encode_values(items: Iterable[bytes | None]) -> list[bytes]:
    """Int32-length-prefixed values, -1 for NULL, as in Bind, DataRow and FunctionCall."""
    out: list[bytes] = []
    for v in items:
        if v is None:
            out.append(b"\xff\xff\xff\xff")
        else:
            out.append(I32.pack(len(v)))
            out.append(v)
    return out


def frame(code: bytes, payload: bytes) -> bytes:
    """A typed frame: code byte, Int32 length including itself, payload."""
    return code + I32.pack(len(payload) + 4) + payload


class Reader:
    """A cursor over one message payload; every short read raises :class:`PgProtocolError`."""

    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, pos: int = 0) -> None:
        self.data = data
        self.pos = pos

    def _short(self, need: int) -> PgProtocolError:
        return PgProtocolError(
            f"truncated message: need {need} more bytes at offset {self.pos}, "
            f"payload has {len(self.data)}"
        )

    def _unpack(self, st: struct.Struct) -> int:
        if self.pos + st.size > len(self.data):
            raise self._short(st.size)
        (v,) = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return int(v)

    def unpack(self, st: struct.Struct) -> tuple[Any, ...]:
        if self.pos + st.size > len(self.data):
            raise self._short(st.size)
        out = st.unpack_from(self.data, self.pos)
        self.pos += st.size
        return out

    def int8(self) -> int:
        return self._unpack(I8)

    def int16(self) -> int:
        return self._unpack(I16)

    def uint16(self) -> int:
        return self._unpack(U16)

    def int32(self) -> int:
        return self._unpack(I32)

    def uint32(self) -> int:
        return self._unpack(U32)

    def byte(self) -> bytes:
        return self.take(1)

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise self._short(n)
        out = self.data[self.pos : end]
        self.pos = end
        return out

    def rest(self) -> bytes:
        out = self.data[self.pos :]
        self.pos = len(self.data)
        return out

    def cstring(self) -> str:
        end = self.data.find(b"\0", self.pos)
        if end < 0:
            raise PgProtocolError(f"unterminated string at offset {self.pos}")
        out = self.data[self.pos : end].decode("utf-8", "surrogateescape")
        self.pos = end + 1
        return out

    def value(self) -> bytes | None:
        """An Int32-length-prefixed value; length -1 is NULL."""
        n = self.int32()
        if n < 0:
            if n != -1:
                raise PgProtocolError(f"invalid value length {n} at offset {self.pos - 4}")
            return None
        return self.take(n)

    def int16s(self) -> tuple[int, ...]:
        """An Int16 count followed by that many Int16."""
        return self._array("h", 2)

    def uint32s(self) -> tuple[int, ...]:
        """An Int16 count followed by that many unsigned Int32 (OIDs)."""
        return self._array("I", 4)

    def _array(self, kind: str, size: int) -> tuple[int, ...]:
        n = self.uint16()
        if self.pos + n * size > len(self.data):
            raise self._short(n * size)
        out = struct.unpack_from(f"!{n}{kind}", self.data, self.pos)
        self.pos += n * size
        return out

    def values(self) -> tuple[bytes | None, ...]:
        """An Int16 count followed by that many :meth:`value` (Bind, DataRow, FunctionCall)."""
        data, pos, size = self.data, self.pos, len(self.data)
        if pos + 2 > size:
            raise self._short(2)
        (count,) = U16.unpack_from(data, pos)
        pos += 2
        out: list[bytes | None] = []
        append = out.append
        unpack = I32.unpack_from
        for _ in range(count):
            if pos + 4 > size:
                self.pos = pos
                raise self._short(4)
            (n,) = unpack(data, pos)
            pos += 4
            if n < 0:
                if n != -1:
                    raise PgProtocolError(f"invalid value length {n} at offset {pos - 4}")
                append(None)
                continue
            end = pos + n
            if end > size:
                self.pos = pos
                raise self._short(n)
            append(data[pos:end])
            pos = end
        self.pos = pos
        return tuple(out)

    def done(self) -> None:
        """Require that the whole payload was read."""
        if self.pos != len(self.data):
            raise PgProtocolError(
                f"{len(self.data) - self.pos} unexpected bytes after offset {self.pos}"
            )
