"""A sans-IO HTTP/1.1 request parser: bytes in, complete requests out.

Strict where leniency lets requests be smuggled (RFC 9112): a request with both
Transfer-Encoding and Content-Length, conflicting Content-Lengths, whitespace before a
header colon, obsolete line folding, or an unknown transfer coding is refused. Limits are
checked as bytes arrive, so an oversized head (431) or body (413) is refused before it is
buffered whole.

Example::

    p = RequestParser()
    p.feed(b"GET /a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
    req = p.next_request()      # ParsedRequest(head=Head(GET /a ...), body=b"")
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from understudy.errors import ProtocolError

__all__ = [
    "HEAD_MEMO_MAX",
    "MAX_BODY",
    "MAX_HEADERS",
    "MAX_HEAD_BYTES",
    "Head",
    "HttpParseError",
    "ParsedRequest",
    "RequestParser",
    "parse_head",
]

MAX_HEAD_BYTES: Final = 64 * 1024
MAX_HEADERS: Final = 200
MAX_BODY: Final = 16 * 1024 * 1024
#: Distinct request heads remembered (parsed once, then shared by identical requests); as
#: many as the behaviour core memoises keyed requests, so a client cycling over 10,000
#: distinct requests keeps hitting both memos.
HEAD_MEMO_MAX: Final = 16_384
_MAX_CHUNK_LINE: Final = 1024
_TOKEN: Final = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TARGET_BAD: Final = re.compile(rb"[\x00-\x20\x7f]")
_VALUE_BAD: Final = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_HEX: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")


class HttpParseError(ProtocolError):
    """A request the server must refuse; ``status`` is the answer (400, 413, 431, 501, 505)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class Head:
    """A parsed request head. Heads are shared between identical requests (see
    :class:`RequestParser`'s ``heads`` memo) and never change, except ``cache`` and
    ``answer``: slots where a front door may keep what it derives from the head alone (its
    keyed form; the answer it always gets, once nothing can change that answer any more)."""

    __slots__ = ("answer", "cache", "expect_continue", "headers", "http11", "keep_alive",
                 "length", "method", "target")  # fmt: skip

    def __init__(
        self,
        method: str,
        target: str,
        http11: bool,
        headers: tuple[tuple[str, str], ...],
        keep_alive: bool,
        length: int,
        expect_continue: bool,
    ) -> None:
        self.method = method
        self.target = target
        self.http11 = http11
        self.headers = headers
        self.keep_alive = keep_alive
        self.length = length  # -1: chunked
        self.expect_continue = expect_continue
        self.cache: Any = None
        self.answer: Any = None

    def __repr__(self) -> str:
        return f"Head({self.method} {self.target} http11={self.http11} length={self.length})"


@dataclass(frozen=True, slots=True)
class ParsedRequest:
    """One complete request: its head and its body, de-chunked (not yet decoded)."""

    head: Head
    body: bytes

    @property
    def method(self) -> str:
        return self.head.method

    @property
    def target(self) -> str:
        return self.head.target

    @property
    def headers(self) -> tuple[tuple[str, str], ...]:
        return self.head.headers

    @property
    def keep_alive(self) -> bool:
        return self.head.keep_alive


_FAST_HEAD: Final = re.compile(
    rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^\x00-\x20\x7f]+ HTTP/1\.[01]\r\n"
    rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\x00-\x08\x0a-\x1f\x7f]*\r\n)*"
)


def parse_head(raw: bytes, max_headers: int = MAX_HEADERS, max_body: int = MAX_BODY) -> Head:
    """Parse a request head (request line and fields, without the final CRLF CRLF).

    A pure function of its input, so heads are memoised by their bytes. Raises
    :class:`HttpParseError` for a head the server must refuse.

    >>> h = parse_head(b"POST /a?b=1 HTTP/1.1\\r\\nContent-Length: 3\\r\\nConnection: close")
    >>> h.method, h.target, h.length, h.keep_alive
    ('POST', '/a?b=1', 3, False)
    """
    if _FAST_HEAD.fullmatch(raw + b"\r\n") is None:
        _diagnose(raw)
        raise HttpParseError(400, "malformed request head")
    text = raw.decode("utf-8", "surrogateescape")
    lines = text.split("\r\n")
    method, target, version = lines[0].split(" ")
    http11 = version == "HTTP/1.1"
    if len(lines) - 1 > max_headers:
        raise HttpParseError(431, "too many header fields")
    headers = []
    length: int | None = None
    chunked = False
    conn = ""
    expect = False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        value = value.strip(" \t")
        headers.append((name, value))
        lname = name.lower()
        if lname in _SPECIAL:
            if lname == "content-length":
                if not value.isdigit() or not value.isascii() or len(value) > 18:
                    raise HttpParseError(400, "invalid Content-Length")
                if length is not None and length != int(value):
                    raise HttpParseError(400, "conflicting Content-Length headers")
                length = int(value)
            elif lname == "transfer-encoding":
                codings = [c.strip().lower() for c in value.split(",") if c.strip()]
                if codings != ["chunked"] or chunked:
                    raise HttpParseError(501, "unsupported Transfer-Encoding")
                chunked = True
            elif lname == "connection":
                conn += "," + value.lower()
            elif value.lower() != "100-continue":  # expect
                raise HttpParseError(417, "unsupported Expect")
            else:
                expect = True
    if chunked and length is not None:
        raise HttpParseError(400, "both Transfer-Encoding and Content-Length")
    if length is not None and length > max_body:
        raise HttpParseError(413, "request body too large")
    tokens = {t.strip() for t in conn.split(",")} if conn else set()
    keep_alive = "close" not in tokens and (http11 or "keep-alive" in tokens)
    return Head(method, target, http11, tuple(headers), keep_alive,
                -1 if chunked else (length or 0), expect and http11)  # fmt: skip


_SPECIAL: Final = frozenset({"content-length", "transfer-encoding", "connection", "expect"})


def _diagnose(raw: bytes) -> None:
    """Raise the precise error for a head the fast pattern refused."""
    lines = raw.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise HttpParseError(400, "malformed request line")
    if _TARGET_BAD.search(parts[1]):
        raise HttpParseError(400, "malformed request target")
    if parts[2].startswith(b"HTTP/") and parts[2] not in (b"HTTP/1.0", b"HTTP/1.1"):
        raise HttpParseError(505, "HTTP version not supported")
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):
            raise HttpParseError(400, "malformed header field")
        if _VALUE_BAD.search(value):
            raise HttpParseError(400, "invalid character in header value")


class RequestParser:
    """Feed bytes with :meth:`feed`; take complete requests with :meth:`next_request`.

    ``heads`` is a memo of parsed heads by their bytes (final CRLF CRLF included), shared by
    every connection of a server: identical requests (a client polling, a load generator)
    are parsed once.
    """

    def __init__(
        self,
        *,
        max_head: int = MAX_HEAD_BYTES,
        max_headers: int = MAX_HEADERS,
        max_body: int = MAX_BODY,
        heads: dict[bytes, Head] | None = None,
    ) -> None:
        self.max_head = max_head
        self.max_headers = max_headers
        self.max_body = max_body
        self._heads = heads if heads is not None else {}
        self._buf = bytearray()
        self._head: Head | None = None
        self._chunks: list[bytes] = []
        self._chunked_size = 0
        self._chunk_left = -1  # -1: expecting a size line; -2: expecting trailers
        self.continue_sent = False

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed."""
        return len(self._buf)

    @property
    def waiting_body(self) -> bool:
        """A head was parsed and its body is still arriving."""
        return self._head is not None

    @property
    def expects_continue(self) -> bool:
        """The pending head asked for ``100 Continue`` and it has not been sent yet."""
        return self._head is not None and self._head.expect_continue and not self.continue_sent

    def feed(self, data: bytes) -> None:
        self._buf += data

    def next_request(self) -> ParsedRequest | None:
        """The next complete request, or None until more bytes arrive.

        Raises :class:`HttpParseError`; the connection must then answer and close.
        """
        head = self._head
        if head is None:
            head = self._next_head()
            if head is None:
                return None
            if head.length == 0:
                return ParsedRequest(head, b"")
            self._head = head
            self.continue_sent = False
        buf = self._buf
        if head.length > 0:
            if len(buf) < head.length:
                return None
            body = bytes(buf[: head.length])
            del buf[: head.length]
        else:
            chunked = self._read_chunked()
            if chunked is None:
                return None
            body = chunked
        self._head = None
        return ParsedRequest(head, body)

    def _next_head(self) -> Head | None:
        buf = self._buf
        while buf[:2] == b"\r\n":  # RFC 9112 2.2: ignore empty lines before a request
            del buf[:2]
        end = buf.find(b"\r\n\r\n", 0, self.max_head + 4)
        if end < 0:
            if len(buf) > self.max_head:
                raise HttpParseError(431, "request header fields too large")
            return None
        raw = bytes(buf[: end + 4])  # memo keys keep the final CRLF CRLF: a key is one head
        del buf[: end + 4]
        heads = self._heads
        head = heads.get(raw)
        if head is None:
            head = parse_head(raw[:-4], self.max_headers, self.max_body)
            if len(heads) >= HEAD_MEMO_MAX:
                heads.clear()
            heads[raw] = head
        return head

    # -- chunked bodies ----------------------------------------------------------------------
    def _read_chunked(self) -> bytes | None:
        buf = self._buf
        while True:
            if self._chunk_left == -1:  # a chunk-size line
                end = buf.find(b"\r\n", 0, _MAX_CHUNK_LINE)
                if end < 0:
                    if len(buf) >= _MAX_CHUNK_LINE:
                        raise HttpParseError(400, "chunk size line too long")
                    return None
                size_text = bytes(buf[:end]).split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size_text):
                    raise HttpParseError(400, "malformed chunk size")
                size = int(size_text, 16)
                del buf[: end + 2]
                self._chunked_size += size
                if self._chunked_size > self.max_body:
                    raise HttpParseError(413, "request body too large")
                self._chunk_left = size if size else -2
            elif self._chunk_left == -2:  # trailer fields, then an empty line
                end = buf.find(b"\r\n", 0, self.max_head)
                if end < 0:
                    if len(buf) >= self.max_head:
                        raise HttpParseError(431, "trailer fields too large")
                    return None
                line = bytes(buf[:end])
                del buf[: end + 2]
                if line:
                    continue
                body = b"".join(self._chunks)
                self._chunks = []
                self._chunked_size = 0
                self._chunk_left = -1
                return body
            else:
                need = self._chunk_left
                if len(buf) < need + 2:
                    return None
                if buf[need : need + 2] != b"\r\n":
                    raise HttpParseError(400, "chunk data not followed by CRLF")
                self._chunks.append(bytes(buf[:need]))
                del buf[: need + 2]
                self._chunk_left = -1
