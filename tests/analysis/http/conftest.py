"""Synthetic HTTP tapes and their mined worlds, built once per session and shared."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from http_mine_helpers import Mined

from analysis.http import mine_http
from understudy.testing.synthetic_http import Scenario, generate, plans_scenario


@pytest.fixture(scope="session")
def mine() -> Callable[[Scenario], Mined]:
    """``mine(scenario)``: generate and mine a scenario, cached by scenario."""
    cache: dict[str, Mined] = {}

    def run(scenario: Scenario) -> Mined:
        key = repr(scenario)  # scenarios hold dicts: not hashable, but their repr is exact
        if key not in cache:
            tape = generate(scenario)
            cache[key] = Mined(scenario, tape, mine_http(tape.lazy()))
        return cache[key]

    return run


@pytest.fixture(scope="session")
def plans(mine: Callable[[Scenario], Mined]) -> Mined:
    """Free / pro / enterprise identities under per-identity budgets shared across routes."""
    return mine(plans_scenario(scope="identity", grouping="*", seed=1, duration_s=60.0))
