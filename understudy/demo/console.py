"""Progress output of the demo: one line per step with its timing, and indented detail.

Example::

    out = Progress(total=7)
    with out.step("Start PostgreSQL") as step:
        step.done("PostgreSQL 15.8 on 127.0.0.1:5433")
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.markup import escape

__all__ = ["Progress", "Step"]


@dataclass
class Step:
    """One running step: its number, title and result line."""

    number: int
    title: str
    started: float = field(default_factory=time.monotonic)
    result: str = ""
    status: str = "ok"
    seconds: float = 0.0

    def done(self, result: str) -> None:
        self.result = result

    def skip(self, result: str) -> None:
        self.status, self.result = "skipped", result

    def as_dict(self) -> dict[str, Any]:
        return {
            "step": self.number,
            "title": self.title,
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "result": self.result,
        }


class Progress:
    """Step lines (``[3/7] title ... result (4.2 s)``) and detail lines on one stream."""

    def __init__(self, total: int, file: TextIO | None = None) -> None:
        self.total = total
        self.console = Console(file=file, soft_wrap=True, highlight=False)
        self.steps: list[Step] = []
        self.started = time.monotonic()

    @contextmanager
    def step(self, title: str) -> Iterator[Step]:
        """Run one step: its header line now, its result line with the timing at the end."""
        step = Step(len(self.steps) + 1, title)
        self.steps.append(step)
        self.console.print(f"[bold cyan][{step.number}/{self.total}][/] [bold]{escape(title)}[/]")
        try:
            yield step
        except BaseException:
            step.status = "failed"
            step.seconds = time.monotonic() - step.started
            self.console.print(f"      [red]failed[/] after {step.seconds:.1f} s")
            raise
        step.seconds = time.monotonic() - step.started
        mark = "[green]ok[/]" if step.status == "ok" else "[yellow]skipped[/]"
        self.console.print(f"      {mark} {escape(step.result)} [dim]({step.seconds:.1f} s)[/]")

    def say(self, text: str, style: str = "") -> None:
        """A detail line, indented under the current step."""
        body = escape(text)
        self.console.print(f"      [{style}]{body}[/]" if style else f"      {body}")

    def block(self, text: str) -> None:
        """Output of a child (tables, summaries), printed as is."""
        for line in text.rstrip("\n").splitlines():
            self.console.print(escape(line), highlight=False)

    def elapsed(self) -> float:
        return time.monotonic() - self.started
