"""The reverse-mode front door: a sans-IO HTTP/1.1 parser and a lean asyncio server."""

from __future__ import annotations

from replayer.http.forward import ForwardTarget
from replayer.http.parser import HttpParseError, ParsedRequest, RequestParser
from replayer.http.server import ReverseServer, ServerLimits

__all__ = [
    "ForwardTarget",
    "HttpParseError",
    "ParsedRequest",
    "RequestParser",
    "ReverseServer",
    "ServerLimits",
]
