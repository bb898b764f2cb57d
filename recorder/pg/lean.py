"""Lean decoders for the two messages every extended-protocol statement carries: Bind, DataRow.

The pgwire codec builds a frozen dataclass per message through a reader object; on the
relay's hot path that is a third of the capture cost of ``pgbench -M prepared``. These
functions read the same bytes with a handful of ``struct`` calls into a plain slotted object
(:class:`BoundValues`, attribute names as :class:`~understudy.pgwire.Bind`) or a list, and
raise :class:`~understudy.errors.PgProtocolError` on exactly the payloads the codec refuses
(the tests compare both on fuzzed input).

Example::

    >>> from understudy.pgwire import Bind, encode
    >>> b = decode_bind(encode(Bind("", "s1", (1,), (b"\\x00\\x00\\x00\\x07", None), (1,)))[5:])
    >>> (b.portal, b.statement, b.param_formats, b.params, b.result_formats)
    ('', 's1', (1,), (b'\\x00\\x00\\x00\\x07', None), (1,))
    >>> datarow_values(b"\\x00\\x02\\x00\\x00\\x00\\x01x\\xff\\xff\\xff\\xff")
    [b'x', None]
"""

from __future__ import annotations

import struct
from typing import Final

from understudy.errors import PgProtocolError

__all__ = ["BoundValues", "datarow_values", "decode_bind"]

_U16: Final = struct.Struct("!H").unpack_from
_I32: Final = struct.Struct("!i").unpack_from
_ONE_I16: Final = struct.Struct("!Hh").unpack_from  # a count of 1 and its item
_FORMATS: dict[int, struct.Struct] = {}


class BoundValues:
    """A decoded Bind: what :class:`~understudy.pgwire.Bind` holds, without its frozen init."""

    __slots__ = ("param_formats", "params", "portal", "result_formats", "statement")

    def __init__(
        self,
        portal: str,
        statement: str,
        param_formats: tuple[int, ...],
        params: tuple[bytes | None, ...],
        result_formats: tuple[int, ...],
    ) -> None:
        self.portal = portal
        self.statement = statement
        self.param_formats = param_formats
        self.params = params
        self.result_formats = result_formats


def _short(need: int, pos: int, size: int) -> PgProtocolError:
    return PgProtocolError(
        f"truncated message: need {need} more bytes at offset {pos}, payload has {size}"
    )


def _cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\0", pos)
    if end < 0:
        raise PgProtocolError(f"unterminated string at offset {pos}")
    raw = data[pos:end]
    return (
        raw.decode("ascii") if raw.isascii() else raw.decode("utf-8", "surrogateescape")
    ), end + 1


def _int16s(data: bytes, pos: int, size: int) -> tuple[tuple[int, ...], int]:
    if pos + 2 > size:
        raise _short(2, pos, size)
    (n,) = _U16(data, pos)
    if n == 0:
        return (), pos + 2
    if n == 1 and pos + 4 <= size:
        return (_ONE_I16(data, pos)[1],), pos + 4
    pos += 2
    if pos + 2 * n > size:
        raise _short(2 * n, pos, size)
    fmt = _FORMATS.get(n)
    if fmt is None:
        fmt = struct.Struct(f"!{n}h")
        if n <= 64:
            _FORMATS[n] = fmt
    return fmt.unpack_from(data, pos), pos + 2 * n


def _values(data: bytes, pos: int, size: int) -> tuple[list[bytes | None], int]:
    if pos + 2 > size:
        raise _short(2, pos, size)
    (count,) = _U16(data, pos)
    pos += 2
    out: list[bytes | None] = []
    append = out.append
    for _ in range(count):
        if pos + 4 > size:
            raise _short(4, pos, size)
        (n,) = _I32(data, pos)
        pos += 4
        if n < 0:
            if n != -1:
                raise PgProtocolError(f"invalid value length {n} at offset {pos - 4}")
            append(None)
            continue
        end = pos + n
        if end > size:
            raise _short(n, pos, size)
        append(data[pos:end])
        pos = end
    return out, pos


def _done(pos: int, size: int) -> None:
    if pos != size:
        raise PgProtocolError(f"{size - pos} unexpected bytes after offset {pos}")


def decode_bind(payload: bytes) -> BoundValues:
    """A Bind payload (without type byte and length) as :class:`BoundValues`."""
    size = len(payload)
    portal, pos = _cstring(payload, 0)
    statement, pos = _cstring(payload, pos)
    param_formats, pos = _int16s(payload, pos, size)
    params, pos = _values(payload, pos, size)
    result_formats, pos = _int16s(payload, pos, size)
    _done(pos, size)
    return BoundValues(portal, statement, param_formats, tuple(params), result_formats)


def datarow_values(payload: bytes) -> list[bytes | None]:
    """A DataRow payload's values (``None`` for NULL)."""
    size = len(payload)
    values, pos = _values(payload, 0, size)
    _done(pos, size)
    return values
