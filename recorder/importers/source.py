"""Input files of an import, checked before anything is written: regular, readable, bounded.

Every file named on the command line is checked first (:func:`check_inputs`): it exists, is
a regular file (not a directory, FIFO or device) and is no larger than ``--max-size``. Files
are then read through an already-opened descriptor that is checked again (:func:`read_bounded`),
so a file swapped for something else between the check and the read is still refused.

>>> try:
...     check_inputs([Path("/")], max_size=10)
... except ConfigError as exc:
...     print(exc)
/ is a directory, not a file; name the capture files inside it
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Final

from recorder.http.decode import decode_body
from understudy.errors import ConfigError

__all__ = [
    "DEFAULT_MAX_SIZE",
    "BoundedReader",
    "InputFile",
    "check_inputs",
    "maybe_decompress",
    "open_checked",
    "read_bounded",
]

#: Refuse input files (and decompressed HAR files) larger than this by default.
DEFAULT_MAX_SIZE: Final = 2 * 1024**3
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZLIB_FIRST: Final = 0x78  # zlib header (mitmproxy's .zhar); never the first byte of JSON


class InputFile:
    """A checked input: its path and size at check time."""

    __slots__ = ("path", "size")

    def __init__(self, path: Path, size: int) -> None:
        self.path = path
        self.size = size

    def __repr__(self) -> str:
        return f"InputFile({str(self.path)!r}, {self.size})"


def _check_stat(path: Path, st: os.stat_result, max_size: int) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{path} is a directory, not a file; name the capture files inside it")
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{path} is not a regular file (a FIFO, socket or device?)")
    if st.st_size > max_size:
        raise ConfigError(
            f"{path} is {st.st_size} bytes, larger than --max-size {max_size}; "
            "split it or raise --max-size"
        )


def check_inputs(paths: Sequence[Path], *, max_size: int) -> list[InputFile]:
    """Check every input before any is parsed; raise :class:`ConfigError` at the first bad one."""
    if not paths:
        raise ConfigError("no input file given")
    out = []
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:
            raise ConfigError(f"{path}: no such file") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from None
        _check_stat(path, st, max_size)
        if not os.access(path, os.R_OK):
            raise ConfigError(f"{path}: not readable by this user")
        out.append(InputFile(path, st.st_size))
    return out


def open_checked(path: Path, max_size: int) -> IO[bytes]:
    """Open ``path`` for reading and check the opened file again (regular, size bound)."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except OSError as exc:
        raise ConfigError(f"{path}: cannot open ({exc.strerror or exc})") from None
    try:
        _check_stat(path, os.fstat(f.fileno()), max_size)
    except ConfigError:
        f.close()
        raise
    return f


def read_bounded(path: Path, max_size: int) -> bytes:
    """The whole content of ``path`` (at most ``max_size`` bytes, else :class:`ConfigError`)."""
    with open_checked(path, max_size) as f:
        data = f.read(max_size + 1)
    if len(data) > max_size:
        raise ConfigError(f"{path} grew beyond --max-size {max_size} while being read")
    return data


def maybe_decompress(path: Path, data: bytes, max_size: int) -> bytes:
    """Undo gzip or zlib compression (``.har.gz``, mitmproxy's ``.zhar``), bounded.

    >>> import gzip
    >>> maybe_decompress(Path("x.har.gz"), gzip.compress(b'{"log": {}}'), 100)
    b'{"log": {}}'
    >>> maybe_decompress(Path("x.har"), b'{"log": {}}', 100)
    b'{"log": {}}'
    """
    if data.startswith(_GZIP_MAGIC):
        coding = "gzip"
    elif len(data) >= 2 and data[0] == _ZLIB_FIRST and ((data[0] << 8) | data[1]) % 31 == 0:
        coding = "deflate"
    else:
        return data
    decoded = decode_body(data, coding, keep=max_size, ceiling=max_size)
    if decoded.error is not None:
        raise ConfigError(f"{path}: looks {coding}-compressed but does not decompress")
    if decoded.size is None:
        raise ConfigError(f"{path}: decompresses to more than --max-size {max_size} bytes")
    return decoded.data


class BoundedReader:
    """A read-only file view that never hands out more than the bytes left in the file.

    mitmproxy's flow reader trusts the length prefix of each record and calls ``read(n)``
    with it; a hostile prefix of a terabyte would make Python allocate a terabyte. Through
    this view such a record is simply short, and the reader reports the file as invalid.
    """

    def __init__(self, f: IO[bytes], size: int) -> None:
        self._f = f
        self._size = size

    def _left(self) -> int:
        return max(0, self._size - self._f.tell())

    def read(self, n: int = -1) -> bytes:
        left = self._left()
        return self._f.read(left if n < 0 or n > left else n)

    def peek(self, n: int = 1) -> bytes:
        pos = self._f.tell()
        data = self._f.read(min(n, self._left()))
        self._f.seek(pos)
        return data

    def tell(self) -> int:
        return self._f.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)
