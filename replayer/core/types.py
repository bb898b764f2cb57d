"""The values that cross the behaviour seam: a request in, a decision out.

IO-free values, so every front door (the mitmproxy addon, the asyncio server, tests) speaks
to :class:`~replayer.core.behaviour.Behaviour` in the same terms. :class:`Request` and
:class:`Decision` are built once per request on the hot path, where a frozen dataclass costs
four times as much to construct; they are slotted dataclasses that no one mutates after
construction. :class:`RequestFacts` (memoised per distinct request) is frozen.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final, Literal

__all__ = [
    "MISS_STATUS",
    "NO_DETAILS",
    "Action",
    "Decision",
    "Headers",
    "MatchKind",
    "Request",
    "RequestFacts",
    "StoredResponse",
]

#: A miss answers 599: outside what real APIs send, so a candidate never mistakes it for a
#: recorded answer, and a 5xx, so well-behaved clients treat it as "the server could not
#: answer", not as their own bad request. The header ``X-Understudy-Miss: 1`` marks it too.
MISS_STATUS: Final = 599

Headers = tuple[tuple[str, str], ...]
#: The details of a decision that needs none (shared, read-only).
NO_DETAILS: Final[Mapping[str, Any]] = MappingProxyType({})
MatchKind = Literal["exact", "route", "miss", "limited", "refused", "fault"]
#: ``respond`` sends the response; ``close`` holds the connection for ``delay_s`` then closes
#: it without answering (an observed timeout); ``reset`` closes it at once (an observed reset).
Action = Literal["respond", "close", "reset"]


@dataclass(slots=True)
class Request:
    """One request as a front door received it, bodies decoded from Content-Encoding.

    ``path`` excludes the query string; ``query`` is the raw query string ("" when absent).
    """

    method: str
    host: str
    path: str
    query: str = ""
    headers: Headers = ()
    body: bytes = b""
    scheme: str = "http"
    port: int = 80
    client_ip: str = "127.0.0.1"
    client_port: int = 0
    http_version: str = "HTTP/1.1"


class StoredResponse:
    """A response to serve: status, headers (framing headers removed) and body bytes.

    Recorded responses are shared between decisions; ``wire`` is a cache slot a front door
    may fill with its serialisation (it never changes what is served).
    """

    __slots__ = ("body", "headers", "response_id", "status", "truncated", "wire")

    def __init__(
        self,
        status: int,
        headers: Headers,
        body: bytes,
        *,
        response_id: str | None = None,
        truncated: bool = False,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.response_id = response_id
        self.truncated = truncated
        self.wire: bytes | None = None

    def __repr__(self) -> str:
        return f"StoredResponse({self.status}, id={self.response_id!r}, {len(self.body)} bytes)"

    def with_changes(
        self, *, headers: Headers | None = None, body: bytes | None = None
    ) -> StoredResponse:
        """A copy with other headers or body (a fresh object: its ``wire`` cache is empty)."""
        return StoredResponse(
            self.status,
            self.headers if headers is None else headers,
            self.body if body is None else body,
            response_id=self.response_id,
            truncated=self.truncated,
        )


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """What the core derived from a request: the redacted key parts, identity and route."""

    host: str
    method: str
    path: str
    query: str  # redacted and normalized, as in the world's http_exchanges.query
    body_key: str
    identity: str | None  # pseudonym of the identity header, None when absent
    identity_class: str
    identity_known: bool  # False: the pseudonym is in no recorded class (default class used)
    route: str | None  # matched route template, None when no recorded route matches
    params: tuple[tuple[str, str], ...] = ()
    #: ``(host, method, route)``: how the session report groups requests (set at creation).
    route_key: tuple[str, str, str | None] = ("", "", None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "route_key", (self.host, self.method, self.route))


@dataclass(slots=True)
class Decision:
    """What the world answers to one request, and after how long.

    ``response`` is None exactly when ``action`` is not ``respond``. ``details`` explains the
    decision for the session report (nearest candidates of a miss, the bucket that limited,
    the injected fault...).
    """

    kind: MatchKind
    response: StoredResponse | None
    delay_s: float
    facts: RequestFacts
    action: Action = "respond"
    details: Mapping[str, Any] = NO_DETAILS
    #: ``(route key, kind, status)``: the counter a session bumps when this answer is sent.
    tally: tuple[tuple[str, str, str | None], str, int | None] = field(init=False)

    def __post_init__(self) -> None:
        self.tally = (self.facts.route_key, self.kind, self.status)

    @property
    def status(self) -> int | None:
        return None if self.response is None else self.response.status
