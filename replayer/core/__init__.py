"""The behaviour core: request in, decision (response and delay) out; no IO.

``Behaviour.decide(request, now) -> Decision`` is the one seam every front door calls.
"""

from __future__ import annotations

from replayer.core.behaviour import Behaviour, BehaviourSettings
from replayer.core.model import WorldModel, policy_from_world
from replayer.core.types import (
    MISS_STATUS,
    Decision,
    MatchKind,
    Request,
    RequestFacts,
    StoredResponse,
)

__all__ = [
    "MISS_STATUS",
    "Behaviour",
    "BehaviourSettings",
    "Decision",
    "MatchKind",
    "Request",
    "RequestFacts",
    "StoredResponse",
    "WorldModel",
    "policy_from_world",
]
