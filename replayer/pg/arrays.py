"""One-dimensional arrays of the common types, between text and binary format.

asyncpg asks for every array column in binary; a world recorded from psql or psycopg holds
them as text (``{1,2,NULL}``), and the other way round. Elements are converted with
:mod:`understudy.pgwire.types`; multi-dimensional arrays raise :class:`PgProtocolError`
(the caller answers UN003).

>>> data = text_to_binary_array(1007, "{1,NULL,3}")
>>> binary_to_text_array(1007, data)
'{1,NULL,3}'
>>> binary_to_text_array(1009, text_to_binary_array(1009, '{"a b","",x,"q\\\\"uote"}'))
'{"a b","",x,"q\\\\"uote"}'
"""

from __future__ import annotations

import struct
from typing import Final

from understudy.errors import PgProtocolError
from understudy.pgwire import binary_to_text, text_to_binary

__all__ = ["ARRAY_ELEMENTS", "binary_to_text_array", "text_to_binary_array"]

#: Array type OID -> element type OID, for the element types pgwire converts.
ARRAY_ELEMENTS: Final = {
    1000: 16,
    1001: 17,
    1003: 19,
    1005: 21,
    1007: 23,
    1016: 20,
    1028: 26,
    1009: 25,
    1015: 1043,
    1014: 1042,
    1021: 700,
    1022: 701,
    1231: 1700,
    1182: 1082,
    1115: 1114,
    1185: 1184,
    2951: 2950,
    199: 114,
    3807: 3802,
}
_HEAD: Final = struct.Struct("!iiI")
_DIM: Final = struct.Struct("!ii")
_I32: Final = struct.Struct("!i")
_SPECIAL: Final = frozenset('{},"\\ \t\n\r\v\f')


def _elements(text: str) -> list[str | None]:
    s = text.strip()
    if s.startswith("["):  # dimension decoration: [0:2]={...}
        s = s[s.index("=") + 1 :].strip()
    if len(s) < 2 or s[0] != "{" or s[-1] != "}":
        raise PgProtocolError(f"malformed array literal {text[:40]!r}")
    inner = s[1:-1]
    out: list[str | None] = []
    if not inner.strip():
        return out
    i, n = 0, len(inner)
    while i <= n:
        while i < n and inner[i].isspace():
            i += 1
        if i < n and inner[i] == "{":
            raise PgProtocolError("multi-dimensional arrays are served in their recorded format")
        if i < n and inner[i] == '"':
            i += 1
            buf = []
            while i < n and inner[i] != '"':
                if inner[i] == "\\":
                    i += 1
                buf.append(inner[i] if i < n else "")
                i += 1
            i += 1  # closing quote
            value: str | None = "".join(buf)
            while i < n and inner[i] != ",":
                i += 1
        else:
            j = inner.find(",", i)
            j = n if j < 0 else j
            raw = inner[i:j].strip()
            value = None if raw.upper() == "NULL" else raw
            i = j
        out.append(value)
        i += 1  # the comma
    return out


def text_to_binary_array(oid: int, text: str) -> bytes:
    """The binary format of a one-dimensional array given as PostgreSQL text."""
    elem = ARRAY_ELEMENTS[oid]
    values = _elements(text)
    if not values:
        return _HEAD.pack(0, 0, elem)
    parts = [_HEAD.pack(1, int(any(v is None for v in values)), elem), _DIM.pack(len(values), 1)]
    for v in values:
        if v is None:
            parts.append(_I32.pack(-1))
        else:
            data = text_to_binary(elem, v)
            parts.append(_I32.pack(len(data)) + data)
    return b"".join(parts)


def _quote(text: str) -> str:
    if text == "" or text.upper() == "NULL" or any(c in _SPECIAL for c in text):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text


def binary_to_text_array(oid: int, data: bytes) -> str:
    """The text PostgreSQL prints for a one-dimensional array in binary format."""
    try:
        ndim, _, elem = _HEAD.unpack_from(data)
        if ndim == 0:
            return "{}"
        if ndim != 1:
            raise PgProtocolError("multi-dimensional arrays are served in their recorded format")
        size, lbound = _DIM.unpack_from(data, _HEAD.size)
        pos = _HEAD.size + _DIM.size
        out = []
        for _ in range(size):
            (length,) = _I32.unpack_from(data, pos)
            pos += 4
            if length < 0:
                out.append("NULL")
                continue
            out.append(_quote(binary_to_text(elem, data[pos : pos + length])))
            pos += length
    except struct.error as exc:
        raise PgProtocolError(f"truncated binary array: {exc}") from exc
    prefix = "" if lbound == 1 else f"[{lbound}:{lbound + size - 1}]="
    return prefix + "{" + ",".join(out) + "}"
