"""Carry path parameters into a route's representative body where the recording echoed them.

If ``GET /items/42`` was recorded with body ``{"id": 42, "name": "x"}`` and the candidate
asks for ``/items/7``, the route answer is ``{"id": 7, "name": "x"}``: every JSON value equal
to a recorded parameter (as a string, or as a number when the parameter is numeric) takes the
new value. Bodies that are not JSON, or that echo nothing, are served unchanged.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["BodyTemplate"]

Params = tuple[tuple[str, str], ...]


def _numeric(text: str) -> int | None:
    if text.isdigit() and len(text) < 19 and (text == "0" or not text.startswith("0")):
        return int(text)
    return None


class BodyTemplate:
    """A recorded JSON body and the recorded parameter values it echoes."""

    __slots__ = ("_doc", "_echoed", "body")

    def __init__(self, body: bytes, recorded: Params) -> None:
        self.body = body
        self._doc: Any = None
        self._echoed: dict[str, str] = {}
        if not recorded or not body or body.lstrip()[:1] not in (b"{", b"["):
            return
        values = {v for _, v in recorded}
        if not any(v.encode() in body for v in values if v):
            return
        try:
            self._doc = json.loads(body)
        except (ValueError, RecursionError):
            return
        found: set[str] = set()
        self._scan(self._doc, values, found)
        self._echoed = {name: value for name, value in recorded if value in found}

    @property
    def echoes(self) -> bool:
        """Whether the body echoes at least one recorded parameter."""
        return bool(self._echoed)

    def _scan(self, node: Any, values: set[str], found: set[str]) -> None:
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, dict):
                stack.extend(n.values())
            elif isinstance(n, list):
                stack.extend(n)
            elif isinstance(n, str) and n in values:
                found.add(n)
            elif isinstance(n, int) and not isinstance(n, bool) and str(n) in values:
                found.add(str(n))

    def render(self, params: Params) -> bytes:
        """The body with each echoed recorded value replaced by the value in ``params``."""
        if not self._echoed:
            return self.body
        new = dict(params)
        swaps: dict[str, str] = {}
        for name, old in self._echoed.items():
            value = new.get(name)
            if value is not None and value != old:
                swaps[old] = value
        if not swaps:
            return self.body
        out = self._replace(self._doc, swaps)
        return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode(
            "utf-8", "surrogatepass"
        )

    def _replace(self, node: Any, swaps: dict[str, str]) -> Any:
        if isinstance(node, dict):
            return {k: self._replace(v, swaps) for k, v in node.items()}
        if isinstance(node, list):
            return [self._replace(v, swaps) for v in node]
        if isinstance(node, str):
            return swaps.get(node, node)
        if isinstance(node, int) and not isinstance(node, bool):
            new = swaps.get(str(node))
            if new is None:
                return node
            number = _numeric(new)
            return number if number is not None else new
        return node
