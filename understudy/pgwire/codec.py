"""Decode one frame into a message, encode a message into bytes: pure functions, no state.

The same code byte means different messages in each direction, so there is one decoder per
direction, each a table lookup (code -> decoder). Frames without a type byte carry a
:class:`~understudy.pgwire.codes.PseudoCode`. Decoding raises only :class:`PgProtocolError`.

Strings are UTF-8 with ``surrogateescape`` (see :mod:`understudy.pgwire._wire`): decoding
never fails on text, and ``encode(decode(frame))`` gives back the frame's bytes.

Example::

    >>> from understudy.pgwire import Query, decode_frontend, encode
    >>> decode_frontend(b"Q", b"SELECT 1\\0")
    Query(sql='SELECT 1')
    >>> encode(Query("SELECT 1"))
    b'Q\\x00\\x00\\x00\\rSELECT 1\\x00'
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable

from understudy.errors import PgProtocolError
from understudy.pgwire._decode import BACKEND_DECODERS, FRONTEND_DECODERS
from understudy.pgwire._encode import ENCODERS
from understudy.pgwire.codes import BackendCode, FrontendCode, PseudoCode
from understudy.pgwire.messages import BackendMessage, FrontendMessage, Message

__all__ = ["decode_backend", "decode_frontend", "encode", "encode_all"]

# What a decoder could raise besides PgProtocolError when a payload lies (belt and braces:
# decoders check lengths themselves, and these must never escape to the caller).
_LOW_LEVEL = (struct.error, IndexError, ValueError, OverflowError)

_PSEUDO_NAMES: dict[bytes, str] = {
    PseudoCode.STARTUP: "startup packet",
    PseudoCode.SSL_RESPONSE: "answer to SSLRequest",
    PseudoCode.GSSENC_RESPONSE: "answer to GSSENCRequest",
}
# For error messages: b"D" -> "Describe (b'D')" from a client, "DataRow (b'D')" from a server.
_FRONTEND_NAMES: dict[bytes, str] = {
    **{c.value: f"{c.name.title().replace('_', '')} ({c.value!r})" for c in FrontendCode},
    **_PSEUDO_NAMES,
}
_BACKEND_NAMES: dict[bytes, str] = {
    **{c.value: f"{c.name.title().replace('_', '')} ({c.value!r})" for c in BackendCode},
    **_PSEUDO_NAMES,
}


def _decode[M](
    side: str,
    table: dict[bytes, Callable[[bytes], M]],
    names: dict[bytes, str],
    code: bytes,
    payload: bytes,
) -> M:
    decoder = table.get(code)
    if decoder is None:
        raise PgProtocolError(f"unknown {side} message code {bytes(code)!r}")
    try:
        return decoder(payload)
    except PgProtocolError as exc:
        raise PgProtocolError(f"malformed {names[code]}: {exc}") from None
    except _LOW_LEVEL as exc:
        raise PgProtocolError(f"malformed {names[code]}: {exc}") from exc


def decode_frontend(code: bytes, payload: bytes) -> FrontendMessage:
    """Decode a frame a client sent (``PseudoCode.STARTUP`` for an untyped packet)."""
    return _decode("frontend", FRONTEND_DECODERS, _FRONTEND_NAMES, code, payload)


def decode_backend(code: bytes, payload: bytes) -> BackendMessage:
    """Decode a frame a server sent (``PseudoCode.SSL_RESPONSE`` etc. for the lone bytes)."""
    return _decode("backend", BACKEND_DECODERS, _BACKEND_NAMES, code, payload)


def encode(message: Message) -> bytes:
    """The complete wire bytes of ``message``: type byte, length and payload.

    Startup-phase packets have no type byte and SSL/GSSENC answers are one byte, as on the
    wire. Raises :class:`PgProtocolError` for a message that cannot be sent (a NUL inside
    a string, a count over 65535, an integer out of its field's range).
    """
    encoder = ENCODERS.get(type(message))
    if encoder is None:
        raise TypeError(f"not a pgwire message: {type(message).__name__}")
    try:
        return encoder(message)
    except (struct.error, UnicodeEncodeError, OverflowError) as exc:
        name = type(message).__name__
        raise PgProtocolError(f"cannot encode {name}: {exc}") from exc


def encode_all(messages: Iterable[Message]) -> bytes:
    """The wire bytes of several messages, ready for one ``write``."""
    return b"".join([encode(m) for m in messages])
