"""``understudy diff``: the behavioural difference between two tapes.

:func:`diff_tapes` returns a JSON document (``docs/diff.md``); :func:`headline` and
:func:`diff_rows` are its human forms::

    doc = diff_tapes(Path("v1.tape"), Path("v2.tape"))
    print(headline(doc))
"""

from __future__ import annotations

from analysis.diff.compare import DIFF_FORMAT, DIFF_SCHEMA_VERSION, DiffSettings, diff_tapes
from analysis.diff.render import diff_rows, headline
from analysis.diff.stats import MannWhitney, holm, mann_whitney

__all__ = [
    "DIFF_FORMAT",
    "DIFF_SCHEMA_VERSION",
    "DiffSettings",
    "MannWhitney",
    "diff_rows",
    "diff_tapes",
    "headline",
    "holm",
    "mann_whitney",
]
