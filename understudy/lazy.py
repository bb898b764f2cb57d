"""Lazily imported package names (module ``__getattr__``, PEP 562), in one place.

A package lists which submodule defines each public name; the submodule is imported when a
name is first read and the name is cached in the package, so importing the package stays
cheap (``understudy.tape`` without polars, ``understudy.world`` without pyarrow).

Example::

    >>> cache: dict[str, object] = {}
    >>> lazy_name("understudy.tape", {"open_tape": "reader"}, cache, "open_tape").__name__
    'open_tape'
    >>> list(cache)
    ['open_tape']
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

__all__ = ["lazy_name"]


def lazy_name(package: str, where: Mapping[str, str], namespace: dict[str, Any], name: str) -> Any:
    """``name`` from the submodule ``where[name]`` of ``package``, cached in ``namespace``.

    Raises :class:`AttributeError` for a name the package does not list.
    """
    module = where.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{package}.{module}"), name)
    namespace[name] = value
    return value
