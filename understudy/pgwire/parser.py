"""Sans-IO parsers for each direction of a PostgreSQL connection: bytes in, messages out.

:class:`FrontendParser` reads what a client sends (the server's view, used by the replay
server and the relay's client side); :class:`BackendParser` reads what a server sends (the
client's view, used by the relay's server side). Neither does any IO.

``feed`` decodes every message and is all-or-nothing per call. A relay that must not stall
on one bad or unknown message, or that wants to skip DataRow decoding, uses
``feed_frames`` and decodes only the frames it cares about::

    for frame in backend.feed_frames(chunk):
        if frame.code in WANTED:
            record(backend.decode_frame(frame))

A relay tells its BackendParser that the server's next byte answers an encryption request
(:meth:`BackendParser.expect_ssl_response`) when its FrontendParser sees an SSLRequest.
"""

from __future__ import annotations

from understudy.pgwire.codec import decode_backend, decode_frontend
from understudy.pgwire.codes import MAX_FRAME
from understudy.pgwire.framing import Frame, Framer
from understudy.pgwire.messages import BackendMessage, FrontendMessage

__all__ = ["BackendParser", "FrontendParser"]


class FrontendParser:
    """Parses the client-to-server stream.

    A new connection starts in the startup phase (``startup=True``): untyped packets
    (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest) until a StartupMessage or
    CancelRequest; typed messages follow a StartupMessage, nothing follows a CancelRequest.
    After an accepted SSLRequest, feed the decrypted stream to the same parser: its first
    packet is the untyped StartupMessage.
    """

    __slots__ = ("_framer",)

    def __init__(self, *, max_frame: int = MAX_FRAME, startup: bool = True) -> None:
        self._framer = Framer(max_frame=max_frame, startup=startup)

    @property
    def in_startup(self) -> bool:
        """True while the next packet has no type byte."""
        return self._framer.in_startup

    @property
    def buffered(self) -> int:
        """Bytes held back, waiting for the rest of their frame."""
        return self._framer.buffered

    def feed(self, data: bytes | bytearray | memoryview) -> list[FrontendMessage]:
        """Add bytes from the client; return the messages they complete."""
        return [decode_frontend(code, payload) for code, payload in self._framer.feed(data)]

    def feed_frames(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add bytes from the client; return the frames they complete, undecoded."""
        return self._framer.feed(data)

    @staticmethod
    def decode_frame(frame: Frame) -> FrontendMessage:
        """Decode one frame returned by :meth:`feed_frames`."""
        return decode_frontend(frame.code, frame.payload)


class BackendParser:
    """Parses the server-to-client stream."""

    __slots__ = ("_framer",)

    def __init__(self, *, max_frame: int = MAX_FRAME) -> None:
        self._framer = Framer(max_frame=max_frame)

    @property
    def buffered(self) -> int:
        """Bytes held back, waiting for the rest of their frame."""
        return self._framer.buffered

    def expect_ssl_response(self) -> None:
        """The server's next byte answers an SSLRequest: ``S`` or ``N``.

        Should the server answer with an ErrorResponse instead, it is parsed as one.
        """
        self._framer.expect_ssl_response()

    def expect_gssenc_response(self) -> None:
        """The server's next byte answers a GSSENCRequest: ``G`` or ``N``."""
        self._framer.expect_gssenc_response()

    def feed(self, data: bytes | bytearray | memoryview) -> list[BackendMessage]:
        """Add bytes from the server; return the messages they complete."""
        return [decode_backend(code, payload) for code, payload in self._framer.feed(data)]

    def feed_frames(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add bytes from the server; return the frames they complete, undecoded."""
        return self._framer.feed(data)

    @staticmethod
    def decode_frame(frame: Frame) -> BackendMessage:
        """Decode one frame returned by :meth:`feed_frames`."""
        return decode_backend(frame.code, frame.payload)
