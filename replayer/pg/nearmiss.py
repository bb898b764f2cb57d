"""Near misses: the recorded fingerprints closest to a statement the world does not know.

Candidates come from the index's small buckets (fingerprints touching the same tables, or of
the same statement type), never from a scan of every recorded call; only when those buckets
are empty are all fingerprints ranked. They are ranked by the similarity of their normalized
text (``difflib``'s ratio, pre-filtered by its cheap upper bound), and each names which parts
differ: statement type, tables, text.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Final

from replayer.pg.index import SqlIndex
from understudy.sqlfp.shapes import FpInfo

__all__ = ["NearMiss", "nearest"]

_MAX_TEXT: Final = 400
_PREFILTER: Final = 25


@dataclass(frozen=True, slots=True)
class NearMiss:
    """A recorded fingerprint close to a missed statement."""

    info: FpInfo
    similarity: float
    differs: tuple[str, ...]

    def describe(self) -> str:
        parts = ", ".join(self.differs) or "nothing but literals"
        return (
            f"{self.info.fingerprint} ({self.similarity:.2f}, differs in {parts}): "
            f"{self.info.normalized[:200]}"
        )


def _differs(a: FpInfo, b: FpInfo) -> tuple[str, ...]:
    out = []
    if a.statement_type != b.statement_type:
        out.append("statement type")
    if set(a.tables) != set(b.tables):
        out.append("tables")
    if a.normalized != b.normalized:
        out.append("text")
    return tuple(out)


def nearest(index: SqlIndex, info: FpInfo, k: int = 3) -> list[NearMiss]:
    """The ``k`` recorded fingerprints most similar to ``info``, best first."""
    pool: dict[str, FpInfo] = {}
    for t in info.tables:
        for c in index.by_table.get(t, ()):
            pool[c.fingerprint] = c
    for c in index.by_type.get(info.statement_type, ()):
        pool[c.fingerprint] = c
    if not pool:
        pool = {e.info.fingerprint: e.info for e in index.entries.values()}
    pool.pop(info.fingerprint, None)
    text = info.normalized[:_MAX_TEXT]
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    matcher.set_seq2(text)
    rough = []
    for c in pool.values():
        matcher.set_seq1(c.normalized[:_MAX_TEXT])
        rough.append((matcher.quick_ratio(), c))
    rough.sort(key=lambda rc: -rc[0])
    scored = []
    for _, c in rough[:_PREFILTER]:
        matcher.set_seq1(c.normalized[:_MAX_TEXT])
        scored.append(NearMiss(c, round(matcher.ratio(), 3), _differs(info, c)))
    scored.sort(key=lambda n: (-n.similarity, n.info.fingerprint))
    return scored[:k]
