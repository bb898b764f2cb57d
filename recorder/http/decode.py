"""Bounded decoding of HTTP bodies from their ``Content-Encoding``.

Decoding is streamed in chunks: memory stays bounded by ``keep`` however well the body
compresses (a decompression bomb cannot make the recorder allocate gigabytes), while the
decoded size is still counted up to ``ceiling``. Supports what mitmproxy decodes (``gzip``,
``deflate``, ``br``, ``zstd``, ``identity``) plus ``x-gzip`` and chains such as ``gzip, br``.

>>> import gzip
>>> d = decode_body(gzip.compress(b"hello world"), "gzip", keep=5)
>>> d.data, d.size, d.error
(b'hello', 11, None)
>>> decode_body(b"not gzip", "gzip", keep=100).error
'invalid content-encoding: gzip: Error -3 while decompressing data: incorrect header check'
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Final, cast

import brotli
import zstandard

__all__ = ["DEFAULT_CEILING", "Decoded", "decode_body", "parse_encodings"]

CHUNK: Final = 256 * 1024
#: Stop counting the decoded size beyond this many bytes (the size is then reported unknown).
DEFAULT_CEILING: Final = 1024**3
_IDENTITY: Final = frozenset({"identity", "none", ""})
_GZIP_MAGIC: Final = b"\x1f\x8b"
_BROTLI_BOUNDED: Final = hasattr(brotli.Decompressor, "can_accept_more_data")


@dataclass(frozen=True, slots=True)
class Decoded:
    """The start of a decoded body, its full decoded size, and why decoding failed, if it did.

    On failure ``data`` holds the raw (still encoded) bytes and ``size`` their length.
    ``size`` is None when the decoded body is larger than the counting ceiling.
    """

    data: bytes
    size: int | None
    error: str | None = None

    @property
    def complete(self) -> bool:
        """Whether ``data`` is the whole body."""
        return self.size is not None and len(self.data) == self.size


def parse_encodings(header: str | None) -> list[str]:
    """The codings of a ``Content-Encoding`` header, in the order they were applied.

    >>> parse_encodings("gzip, br"), parse_encodings("identity"), parse_encodings(None)
    (['gzip', 'br'], [], [])
    """
    if not header:
        return []
    return [c for c in (p.strip().lower() for p in header.split(",")) if c not in _IDENTITY]


def _zlib_stage(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    d: zlib._Decompress | None = None
    for chunk in chunks:
        data = chunk
        while data:
            if d is None:
                if coding == "deflate":
                    zlib_header = (
                        len(data) >= 2
                        and (data[0] & 0x0F) == 8
                        and ((data[0] << 8) | data[1]) % 31 == 0
                    )
                    d = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
                else:  # gzip, x-gzip: gzip or zlib header, auto-detected (as mitmproxy does)
                    d = zlib.decompressobj(32 + zlib.MAX_WBITS)
            out = d.decompress(data, CHUNK)
            if out:
                yield out
            if d.eof:
                # another gzip member may follow; anything else after the end is ignored
                rest = d.unused_data
                if coding != "deflate" and rest.startswith(_GZIP_MAGIC):
                    d, data = None, rest
                else:
                    return
            else:
                data = d.unconsumed_tail
    if d is not None:
        out = d.flush()
        if out:
            yield out


def _brotli_stage(chunks: Iterable[bytes]) -> Iterator[bytes]:
    if not _BROTLI_BOUNDED:  # brotli < 1.2: no output limit
        yield brotli.decompress(b"".join(chunks))
        return
    d = brotli.Decompressor()
    for chunk in chunks:
        out = d.process(chunk, output_buffer_limit=CHUNK)
        if out:
            yield out
        while not d.can_accept_more_data():
            out = d.process(b"", output_buffer_limit=CHUNK)
            if not out:
                break
            yield out


class _ChunkReader:
    """A minimal file-like ``read()`` over an iterator of chunks (for zstandard)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._it = iter(chunks)
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            nxt = next(self._it, None)
            if nxt is None:
                break
            self._buf += nxt
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


def _zstd_stage(chunks: Iterable[bytes]) -> Iterator[bytes]:
    reader = zstandard.ZstdDecompressor().stream_reader(
        cast(IO[bytes], _ChunkReader(chunks)), read_across_frames=True
    )
    while True:
        out = reader.read(CHUNK)
        if not out:
            return
        yield out


def _stage(chunks: Iterable[bytes], coding: str) -> Iterator[bytes]:
    match coding:
        case "gzip" | "x-gzip" | "deflate":
            return _zlib_stage(chunks, coding)
        case "br":
            return _brotli_stage(chunks)
        case "zstd":
            return _zstd_stage(chunks)
        case _:
            raise ValueError(f"unsupported coding {coding!r}")


def decode_body(
    raw: bytes, content_encoding: str | None, *, keep: int, ceiling: int = DEFAULT_CEILING
) -> Decoded:
    """Decode ``raw``, keeping its first ``keep`` decoded bytes and counting the rest.

    Never raises for bad input: a body that does not decode comes back raw (cut at ``keep``)
    with ``error`` set to ``"invalid content-encoding: ..."``.
    """
    codings = parse_encodings(content_encoding)
    if not codings or not raw:
        return Decoded(raw if len(raw) <= keep else raw[:keep], len(raw))
    kept = bytearray()
    size = 0
    try:
        stream: Iterable[bytes] = (raw,)
        for coding in reversed(codings):
            stream = _stage(stream, coding)
        for out in stream:
            if size < keep:
                kept += out[: keep - size]
            size += len(out)
            if size > ceiling:
                return Decoded(bytes(kept), None)
    except (zlib.error, brotli.error, zstandard.ZstdError, ValueError, MemoryError) as exc:
        detail = str(exc) or type(exc).__name__
        return Decoded(
            raw if len(raw) <= keep else raw[:keep],
            len(raw),
            f"invalid content-encoding: {content_encoding}: {detail}",
        )
    return Decoded(bytes(kept), size)
