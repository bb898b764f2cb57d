"""Helpers shared by the HTTP mining tests (imported by bare name, like the recorder's)."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from analysis.http import HttpWorld
from understudy.testing.synthetic_http import Scenario

__all__ = ["Mined"]


@dataclass(frozen=True)
class Mined:
    scenario: Scenario
    tape: pl.DataFrame
    world: HttpWorld

    def plan_of_class(self) -> dict[str, set[str]]:
        """Class name -> the plans of its identities."""
        plan = self.scenario.plan_of()
        return {c["name"]: {plan[i] for i in c["identities"]} for c in self.world.identity_classes}

    def class_of_plan(self, plan: str) -> str:
        (name,) = {n for n, plans in self.plan_of_class().items() if plan in plans}
        return name
