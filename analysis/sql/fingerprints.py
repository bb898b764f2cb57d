"""Fingerprint a column of statement texts with one sqlglot call per distinct shape.

The rows are grouped by :func:`analysis.sql.shapes.sql_shape`; each shape is fingerprinted
through :func:`understudy.sqlfp.fingerprint` on its smallest and largest raw text, and the
result is joined back. Shapes are built never to be coarser than fingerprints; should the
two representatives of a shape disagree anyway, every distinct text of that shape is
fingerprinted on its own, so a row's fingerprint always equals ``fingerprint(row.sql)``.
"""

from __future__ import annotations

from typing import Any, Final

import polars as pl

from analysis.sql.shapes import with_shapes
from understudy.sqlfp import Fingerprint, fingerprint

__all__ = ["FINGERPRINT_SCHEMA", "with_fingerprints"]

#: Columns added by :func:`with_fingerprints`.
FINGERPRINT_SCHEMA: Final = pl.Schema(
    [
        ("fingerprint", pl.String()),
        ("normalized", pl.String()),
        ("statement_type", pl.String()),
        ("tables", pl.List(pl.String())),
        ("parsed", pl.Boolean()),
    ]
)
_SHAPE: Final = "_shape"


def _record(fp: Fingerprint) -> tuple[Any, ...]:
    return (fp.fingerprint, fp.normalized, fp.statement_type, list(fp.tables), fp.parsed)


def _table(key: str, key_type: pl.DataType, rows: list[tuple[Any, ...]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={key: key_type, **FINGERPRINT_SCHEMA}, orient="row")


def with_fingerprints(
    lf: pl.LazyFrame, *, sql: str = "sql", shape: str | None = None
) -> pl.LazyFrame:
    """Add :data:`FINGERPRINT_SCHEMA` columns to ``lf`` (a null text counts as ``""``).

    Parameters
    ----------
    lf : pl.LazyFrame
        Rows with a statement-text column.
    sql : str
        Name of the text column.
    shape : str, optional
        Name of a column already holding ``sql_shape(sql)``, to avoid computing it twice.

    Returns
    -------
    pl.LazyFrame
        ``lf`` with ``fingerprint``, ``normalized``, ``statement_type``, ``tables`` and
        ``parsed``. ``lf`` is collected once (with its shapes) to find the distinct shapes;
        the result is a lazy join on that frame.

    Examples
    --------
    >>> lf = pl.LazyFrame({"sql": ["SELECT 1", "select 2", "BEGIN"]})
    >>> with_fingerprints(lf).select("normalized", "statement_type").collect().rows()
    [('SELECT $1', 'SELECT'), ('SELECT $1', 'SELECT'), ('begin', 'BEGIN')]
    """
    text = pl.col(sql).fill_null("")
    key = shape or _SHAPE
    if shape is None:
        lf = with_shapes(lf, sql, canonical="_canonical", shape=_SHAPE).drop("_canonical")
    shaped = lf.collect().lazy()
    reps = shaped.group_by(key).agg(text.min().alias("_lo"), text.max().alias("_hi")).collect()
    stable: list[tuple[Any, ...]] = []
    unstable: list[str] = []
    for shape_value, lo, hi in reps.iter_rows():
        first = fingerprint(lo)
        if lo != hi and fingerprint(hi) != first:
            unstable.append(shape_value)
        else:
            stable.append((shape_value, *_record(first)))
    out = shaped.join(
        _table(key, pl.String(), stable).lazy(), on=key, how="left", maintain_order="left"
    )
    if unstable:
        texts = (
            shaped.filter(pl.col(key).is_in(unstable))
            .select(text.alias("_text"))
            .unique()
            .collect()
        )
        per_text = _table(
            "_text", pl.String(), [(t, *_record(fingerprint(t))) for t in texts["_text"]]
        )
        names = list(FINGERPRINT_SCHEMA)
        out = (
            out.with_columns(text.alias("_text"))
            .join(per_text.lazy(), on="_text", how="left", suffix="_raw", maintain_order="left")
            .with_columns(pl.coalesce(f"{n}_raw", n).alias(n) for n in names)
            .drop("_text", *(f"{n}_raw" for n in names))
        )
    return out if shape is not None else out.drop(_SHAPE)
