"""Statement fingerprints, computed exactly as the world builder did, once per shape.

The world was keyed with :func:`understudy.sqlfp.fingerprint_with_params`; the replayer must
use the same function, or nothing would match. That function parses SQL (tens to hundreds
of microseconds), too slow to run for every statement of a busy client whose statements
differ only in literal values (``WHERE aid = 17``, ``WHERE aid = 9021``...).

So the result is cached per *shape* (:mod:`understudy.sqlfp.lexer`): the first text of a shape is
fingerprinted by sqlfp, and when sqlfp's extracted literal values equal the lexer's, every
later text of that shape reuses the fingerprint with the lexer's literals. When they differ
(sqlfp keeps a literal such as an ``ORDER BY 1`` ordinal, or the text has escape strings),
the shape is marked *checked*: each of its texts goes through sqlfp (which has its own LRU
cache). The fast path is therefore never a guess: it is taken only where it was verified to
give what sqlfp gives.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from understudy.sqlfp.lexer import Piece

__all__ = ["Fingerprinter", "FpInfo", "fallback_info"]

_MAX_SHAPES: Final = 65_536
_CHECKED: Final = object()  # shape whose texts always go through sqlfp
_MARKER: Final = re.compile(r"\x00[nsd]")
_SPACE: Final = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class FpInfo:
    """What the world knows a statement by: fingerprint, normalized text, type, tables."""

    fingerprint: str
    normalized: str
    statement_type: str
    tables: tuple[str, ...]


def fallback_info(piece: Piece) -> FpInfo:
    """An identity for text sqlfp cannot fingerprint: a hash of its shape."""
    normalized = _SPACE.sub(" ", _MARKER.sub("?", piece.shape)).strip()
    digest = hashlib.blake2b(normalized.encode("utf-8", "surrogateescape"), digest_size=8)
    return FpInfo("unparsed:" + digest.hexdigest(), normalized, piece.keyword.lower(), ())


def _info(fp: Any) -> FpInfo:
    tables = getattr(fp, "tables", ()) or ()
    return FpInfo(
        str(fp.fingerprint),
        str(getattr(fp, "normalized", "")),
        str(getattr(fp, "statement_type", "")),
        tuple(str(t) for t in tables),
    )


def _default_function() -> Callable[[str], tuple[Any, Sequence[Any]]]:
    from understudy.sqlfp import fingerprint_with_params

    return fingerprint_with_params  # type: ignore[no-any-return]


class Fingerprinter:
    """Fingerprint and literal values of statements, verified fast path per shape.

    ``with_params`` is :func:`understudy.sqlfp.fingerprint_with_params` unless given (tests
    pass their own). Counters ``fast``, ``checked`` and ``failed`` say how each lookup went.
    """

    def __init__(
        self,
        with_params: Callable[[str], tuple[Any, Sequence[Any]]] | None = None,
        *,
        max_shapes: int = _MAX_SHAPES,
    ) -> None:
        self._with_params = with_params or _default_function()
        self._shapes: dict[str, object] = {}
        self._max_shapes = max_shapes
        self.fast = 0
        self.checked = 0
        self.failed = 0

    def analyze(self, piece: Piece) -> tuple[FpInfo, tuple[str | None, ...]]:
        """The fingerprint of ``piece`` and the literal values sqlfp extracts from it."""
        known = self._shapes.get(piece.shape)
        if known is not None and known is not _CHECKED:
            self.fast += 1
            return known, piece.literals  # type: ignore[return-value]
        try:
            fp, params = self._with_params(piece.text)
            info = _info(fp)
        except Exception:
            self.failed += 1
            return fallback_info(piece), piece.literals
        values = tuple(None if v is None else str(v) for v in params)
        if known is None:
            if len(self._shapes) >= self._max_shapes:
                self._shapes.clear()
            verified = not piece.exotic and values == piece.literals
            self._shapes[piece.shape] = info if verified else _CHECKED
        self.checked += 1
        return info, values
