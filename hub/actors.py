"""Who acts: an agent (their id and role), the system (timers, the command line, imports) or a
citizen. Every writer in `hub/actions` is told who acts, decides with it what may be done and
names it in the audit trail; nothing here reads the database.

The web layer builds an agent's actor from the signed-in session (`agent_ui.security`); scripts
and tests may pass a bare agent id, which the action turns into an actor by reading the agent's
row in its own transaction (`hub.actions.permissions.acting`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["agent", "system", "citizen"]
MANAGER_ROLES = ("manager", "admin")


@dataclass(frozen=True)
class Actor:
    kind: Kind
    agent_id: int | None = None
    role: str = ""

    @classmethod
    def agent(cls, agent_id: int, role: str = "agent") -> "Actor":
        return cls("agent", agent_id, role)

    @property
    def id(self) -> int | None:
        """The acting agent's id (None for the system or a citizen): what the audit trail names."""
        return self.agent_id

    @property
    def is_agent(self) -> bool:
        return self.kind == "agent"

    @property
    def is_manager(self) -> bool:
        return self.kind == "agent" and self.role in MANAGER_ROLES

    @property
    def is_admin(self) -> bool:
        return self.kind == "agent" and self.role == "admin"

    def may_act_on_ticket(self, assignee_id: int | None) -> bool:
        """A ticket's assignee may act on it, anyone while nobody owns it, managers and admins
        always; the system always; a citizen never (they write through their channel)."""
        if self.kind == "system":
            return True
        if self.kind != "agent":
            return False
        return self.is_manager or assignee_id in (None, self.agent_id)


SYSTEM = Actor("system")
CITIZEN = Actor("citizen")
