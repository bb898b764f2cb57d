"""asyncpg's type introspection, answered for the built-in array types.

asyncpg learns array types (``int4[]``, ``text[]``...) by querying ``pg_type`` the first
time a statement uses one: it turns JIT off (``SELECT current_setting('jit') AS cur,
set_config('jit', 'off', false) AS new``), then runs its ``WITH RECURSIVE typeinfo_tree``
query for the OIDs it does not know. A world recorded from asyncpg traffic holds both and
replays them; otherwise the replay server answers them here, describing every array type whose
elements :mod:`understudy.pgwire.types` converts. Rows are built in binary, the format
asyncpg asks for. User-defined types never need it: they are announced as ``text``.
"""

from __future__ import annotations

import re
import struct
from typing import Final

from replayer.pg.arrays import ARRAY_ELEMENTS
from replayer.pg.native import Native
from replayer.pg.results import Column, Result
from replayer.pg.state import SessionState

__all__ = ["JIT_QUERY", "TYPEINFO_QUERY", "classify_asyncpg"]

JIT_QUERY: Final = re.compile(
    r"\s*select\s+current_setting\('jit'\)\s+as\s+cur,\s*set_config\('jit',\s*'off',\s*false\)"
    r"\s+as\s+new\s*",
    re.I,
)
TYPEINFO_QUERY: Final = re.compile(r"\s*with\s+recursive\s+typeinfo_tree\(.*", re.I | re.S)

_OID, _NAME, _CHAR, _INT4, _TEXT, _OID_ARRAY, _TEXT_ARRAY = 26, 19, 18, 23, 25, 1028, 1009
_U32: Final = struct.Struct("!I")
#: regtype names of the element types (``elemtype::regtype::text``).
_REGTYPE: Final = {
    16: "boolean",
    17: "bytea",
    19: "name",
    20: "bigint",
    21: "smallint",
    23: "integer",
    25: "text",
    26: "oid",
    114: "json",
    700: "real",
    701: "double precision",
    1042: "character",
    1043: "character varying",
    1082: "date",
    1114: "timestamp without time zone",
    1184: "timestamp with time zone",
    1700: "numeric",
    2950: "uuid",
    3802: "jsonb",
}
_ARRAY_NAMES: Final = {
    1000: "_bool",
    1001: "_bytea",
    1003: "_name",
    1005: "_int2",
    1007: "_int4",
    1016: "_int8",
    1028: "_oid",
    1009: "_text",
    1015: "_varchar",
    1014: "_bpchar",
    1021: "_float4",
    1022: "_float8",
    1231: "_numeric",
    1182: "_date",
    1115: "_timestamp",
    1185: "_timestamptz",
    2951: "_uuid",
    199: "_json",
    3807: "_jsonb",
}
_COLUMNS: Final = tuple(
    Column(n, t)
    for n, t in (
        ("oid", _OID),
        ("ns", _NAME),
        ("name", _NAME),
        ("kind", _CHAR),
        ("basetype", _OID),
        ("elemtype", _OID),
        ("elemdelim", _CHAR),
        ("range_subtype", _OID),
        ("attrtypoids", _OID_ARRAY),
        ("attrnames", _TEXT_ARRAY),
        ("depth", _INT4),
        ("basetype_name", _TEXT),
        ("elemtype_name", _TEXT),
        ("range_subtype_name", _TEXT),
    )
)


def _typeinfo_rows() -> list[tuple[bytes | None, ...]]:
    rows: list[tuple[bytes | None, ...]] = []
    for oid, elem in sorted(ARRAY_ELEMENTS.items()):
        rows.append(
            (
                _U32.pack(oid),
                b"pg_catalog",
                _ARRAY_NAMES[oid].encode(),
                b"b",
                None,
                _U32.pack(elem),
                b",",
                None,
                None,
                None,
                b"\x00\x00\x00\x00",
                None,
                _REGTYPE[elem].encode(),
                None,
            )
        )
    return rows


_TYPEINFO: Final = Result(_COLUMNS, _typeinfo_rows(), formats=(1,) * len(_COLUMNS))
_JIT_COLUMNS: Final = (Column("cur", _TEXT), Column("new", _TEXT))
_JIT: Final = Result(_JIT_COLUMNS, [(b"off", b"off")], "SELECT 1")


def _typeinfo(state: SessionState) -> Result:
    return _TYPEINFO


def _jit(state: SessionState) -> Result:
    return _JIT


def classify_asyncpg(text: str) -> Native | None:
    """asyncpg's introspection statements, or None."""
    if TYPEINFO_QUERY.fullmatch(text):
        return Native(_COLUMNS, _typeinfo, param_types=(_OID_ARRAY,))
    if JIT_QUERY.fullmatch(text):
        return Native(_JIT_COLUMNS, _jit)
    return None
