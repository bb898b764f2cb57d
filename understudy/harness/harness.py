"""One check run: a validated world, an artefact directory, the replayer child, the env.

The runner (``understudy check``) and the pytest plugin share this; both judge the result
themselves (the judge lives in ``analysis/``, which the core never imports).

Example::

    facts = load_facts(Path("prod.world"))               # ConfigError on a bad world
    with Harness.start(Path("prod.world"), facts, out=None, seed=7) as h:
        env = h.candidate_env(os.environ)
        result = run_command(argv, env, watch=h.child.failure)
        report = h.stop()
    verdict = judge(h.world, report, h.artefacts.session_tape, command=result.record())
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from understudy.errors import ConfigError, WorldError
from understudy.harness.artefacts import Artefacts
from understudy.harness.child import ReplayerChild, ReplaySettings
from understudy.harness.environment import Endpoints, WorldFacts, apply, overrides, world_facts

__all__ = ["Harness", "draw_seed", "load_facts"]


def load_facts(world: Path) -> WorldFacts:
    """Load ``world`` (validated as the replayer will) and return its :class:`WorldFacts`."""
    from understudy.world import load_world

    try:
        return world_facts(load_world(world))
    except WorldError as exc:
        raise ConfigError(str(exc)) from exc


def draw_seed(seed: int | None) -> int:
    """``seed``, or a fresh one (recorded in the report and the verdict)."""
    if seed is not None and seed < 0:
        raise ConfigError("--seed must not be negative")
    return secrets.randbits(32) if seed is None else seed


class Harness:
    """A started replayer child for ``world``, and the environment pointing at it."""

    def __init__(self, world: Path, facts: WorldFacts, artefacts: Artefacts,
                 settings: ReplaySettings) -> None:  # fmt: skip
        self.world = world
        self.facts = facts
        self.artefacts = artefacts
        self.settings = settings
        self.child = ReplayerChild(world, artefacts, settings)
        self.endpoints: Endpoints | None = None

    @classmethod
    def start(
        cls,
        world: Path,
        facts: WorldFacts,
        *,
        out: Path | None,
        seed: int,
        latency: str = "recorded",
        faults: str = "off",
        limits: str = "on",
    ) -> Self:
        """Create the artefact directory and start the replayer; PostgreSQL only for SQL."""
        artefacts = Artefacts.create(out)
        settings = ReplaySettings(seed=seed, pg=facts.has_sql, latency=latency,
                                  faults=faults, limits=limits)  # fmt: skip
        harness = cls(world, facts, artefacts, settings)
        try:
            harness.endpoints = harness.child.start()
        except BaseException:  # Ctrl-C while it starts too: it runs in its own session
            harness.close()
            raise
        return harness

    def overrides(self) -> dict[str, str | None]:
        """Variables to set (value) or remove (None) for the candidate."""
        assert self.endpoints is not None, "start() first"
        return overrides(self.endpoints, self.facts)

    def candidate_env(self, base: Mapping[str, str]) -> dict[str, str]:
        """``base`` pointed at the replayer."""
        return apply(base, self.overrides())

    def stop(self) -> dict[str, Any]:
        """Stop the replayer and return its session report."""
        return self.child.stop()

    def close(self) -> None:
        """Kill the replayer if it still runs (error paths)."""
        self.child.kill()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self.close()
