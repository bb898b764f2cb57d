"""Request bodies decoded from ``Content-Encoding`` before keying, as the recorder did.

Bounded: a body that decodes to more than ``limit`` bytes is refused (413), so a
decompression bomb cannot make the replayer allocate gigabytes. A body that does not decode
is keyed on its raw bytes, exactly as the recorder stored it.
"""

from __future__ import annotations

import zlib
from typing import Final

from replayer.http.parser import HttpParseError

__all__ = ["decode_request_body"]

_IDENTITY: Final = frozenset({"identity", "none", ""})
_STEP: Final = 256 * 1024


def _zlib(data: bytes, coding: str, limit: int) -> bytes:
    if coding == "deflate":
        zlib_header = (
            len(data) >= 2 and (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
        )
        d = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
    else:
        d = zlib.decompressobj(32 + zlib.MAX_WBITS)
    out = d.decompress(data, limit + 1)
    if len(out) > limit:
        raise HttpParseError(413, "request body too large once decoded")
    return out


def _brotli(data: bytes, limit: int) -> bytes:
    import brotli

    d = brotli.Decompressor()
    out = bytearray()
    for i in range(0, len(data), _STEP):
        out += d.process(data[i : i + _STEP])
        if len(out) > limit:
            raise HttpParseError(413, "request body too large once decoded")
    return bytes(out)


def _zstd(data: bytes, limit: int) -> bytes:
    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(data)
    out = reader.read(limit + 1)
    if len(out) > limit:
        raise HttpParseError(413, "request body too large once decoded")
    return bytes(out)


def decode_request_body(body: bytes, encoding: str | None, limit: int) -> bytes:
    """``body`` decoded from ``encoding`` (a chain like ``gzip, br`` is undone in reverse)."""
    if not body or not encoding:
        return body
    codings = [c.strip().lower() for c in encoding.split(",")]
    codings = [c for c in codings if c not in _IDENTITY]
    data = body
    try:
        for coding in reversed(codings):
            if coding in ("gzip", "x-gzip", "deflate"):
                data = _zlib(data, coding, limit)
            elif coding == "br":
                data = _brotli(data, limit)
            elif coding == "zstd":
                data = _zstd(data, limit)
            else:
                return body
    except HttpParseError:
        raise
    except Exception:  # undecodable bodies are keyed raw, like the recorder
        return body
    return data
