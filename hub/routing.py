"""Who gets the next ticket: pure functions over agents' presence, capacity and load.

Rules: never an agent who is away or offline, never beyond capacity; the least-loaded agent
first, and among equals the one who was given a ticket longest ago (round-robin).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

PRESENCES = ("available", "away", "offline")


@dataclass(frozen=True)
class AgentLoad:
    agent_id: int
    presence: str
    capacity: int
    load: int
    last_assigned_at: datetime | None

    @property
    def free(self) -> int:
        return max(0, self.capacity - self.load)


def eligible(agent: AgentLoad) -> bool:
    return agent.presence == "available" and agent.load < agent.capacity


def choose_agent(agents: list[AgentLoad]) -> AgentLoad | None:
    candidates = [a for a in agents if eligible(a)]
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda a: (a.load, a.last_assigned_at is not None, a.last_assigned_at or datetime.min, a.agent_id),
    )
