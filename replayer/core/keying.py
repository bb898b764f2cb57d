"""Incoming requests redacted and keyed exactly as the recorder and the world builder did.

The identity pseudonym, the redacted and normalized query and the canonical body key are
computed with :class:`~understudy.redact.Redactor` and :mod:`understudy.matchkey`, the same
code that produced the world, so redacted fields and identities match. Pseudonyms and
queries are cached (bounded): a client sends the same credential many times.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from replayer.core.types import Decision, Headers, RequestFacts
from understudy.matchkey import MatchKey, body_key, normalize_query
from understudy.redact import Redactor

__all__ = ["Keyed", "Keyer", "header_value"]

_CACHE_MAX: Final = 65_536


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of header ``name`` (lower case), or None."""
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


class Keyed:
    """Everything about a request that does not depend on time or state: its facts, its
    :class:`~understudy.matchkey.MatchKey`, and what the world holds for it.

    A pure function of the request (and the world), so it is memoised per distinct request;
    front doors may also cache it (the asyncio server does, per distinct request head).
    """

    __slots__ = ("cursor", "entry_seq", "facts", "key", "limits", "refuse", "rmethod", "state",
                 "static")  # fmt: skip

    def __init__(self, facts: RequestFacts, key: MatchKey) -> None:
        self.facts = facts
        self.key = key
        self.state: Any = None  # the behaviour's route state; None when no route matches
        self.rmethod = facts.method  # the method whose route serves (GET for a bare HEAD)
        self.limits: tuple[int, ...] = ()  # indexes of the rate limits that apply
        self.refuse: int | None = None  # status when the class is refused on the route
        self.entry_seq: tuple[int, ...] | None = None  # recorded response rows, in order
        self.cursor: tuple[str | None, ...] = ()  # where this client is in ``entry_seq``
        #: The decision, once nothing can change it any more (no limit, no random draw, the
        #: recorded sequence exhausted): returned as is from then on.
        self.static: Decision | None = None


class Keyer:
    """Identity, class, query and body keys of incoming requests."""

    def __init__(self, redactor: Redactor, classes: Mapping[str, str], default_class: str) -> None:
        self.redactor = redactor
        self.classes = dict(classes)
        self.default_class = default_class
        self._identity_headers = frozenset(redactor.policy.identity_headers)
        self._pseudonyms: dict[tuple[tuple[str, str], ...], str | None] = {}
        self._queries: dict[str, str] = {}

    def identity_pairs(self, headers: Headers) -> tuple[tuple[str, str], ...]:
        """The identity headers among ``headers`` (lower-case names), in order."""
        wanted = self._identity_headers
        pairs = []
        for k, v in headers:
            lk = k.lower()
            if lk in wanted:
                pairs.append((lk, v))
        return tuple(pairs)

    def identity(self, headers: Headers) -> str | None:
        """The pseudonym the recorder would have stored for these request headers."""
        return self.pseudonym(self.identity_pairs(headers))

    def pseudonym(self, pairs: tuple[tuple[str, str], ...]) -> str | None:
        """The pseudonym of identity header ``pairs`` (from :meth:`identity_pairs`)."""
        if not pairs:
            return None
        cache = self._pseudonyms
        found = cache.get(pairs, "")
        if found != "":
            return found
        found = self.redactor.redact_headers(pairs)[1]
        if len(cache) >= _CACHE_MAX:
            cache.clear()
        cache[pairs] = found
        return found

    def identity_class(self, identity: str | None) -> tuple[str, bool]:
        """``(class, known)``: the recorded class of a pseudonym, else the default class."""
        if identity is not None:
            klass = self.classes.get(identity)
            if klass is not None:
                return klass, True
        return self.default_class, False

    def query(self, raw: str) -> str:
        """Redacted, normalized query string (as in ``http_exchanges.query``)."""
        if not raw:
            return ""
        cache = self._queries
        found = cache.get(raw)
        if found is None:
            found = normalize_query(self.redactor.redact_query(raw))
            if len(cache) >= _CACHE_MAX:
                cache.clear()
            cache[raw] = found
        return found

    def body(self, body: bytes, content_type: str | None) -> str:
        """The canonical body key of a decoded request body ("" when empty)."""
        if not body:
            return ""
        return body_key(self.redactor.redact_body(body, content_type), content_type)
