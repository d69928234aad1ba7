"""What an actor may do, decided inside the action's transaction, on rows it has locked.

A writer locks the row first (`UnitOfWork.ticket_for_update`: SELECT ... FOR UPDATE on
PostgreSQL) and asks here second, so the answer holds until commit: a colleague taking the
ticket a moment earlier is seen, not raced.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from hub.actions.errors import Forbidden, NotFound
from hub.actors import SYSTEM, Actor
from hub.db.tables import Agent, Ticket

Who = Actor | int | None


async def acting(session: AsyncSession, who: Who) -> Actor:
    """The actor itself; for a bare agent id (scripts, tests) the agent as their row says now
    (404 when the login does not exist or is switched off); None is the system."""
    if isinstance(who, Actor):
        return who
    if who is None:
        return SYSTEM
    agent = await session.get(Agent, who)
    if agent is None or not agent.active or agent.id is None:
        raise NotFound(f"agent {who} does not exist")
    return Actor.agent(agent.id, agent.role)


def check_ticket(actor: Actor, ticket: Ticket) -> None:
    """Call with the ticket's row locked: 403 unless this actor may act on it."""
    if not actor.may_act_on_ticket(ticket.assignee_id):
        raise Forbidden("this ticket belongs to a colleague")


def check_manager(actor: Actor) -> None:
    if actor.kind != "system" and not actor.is_manager:
        raise Forbidden("only managers and admins may do this")


def check_admin(actor: Actor) -> None:
    if actor.kind != "system" and not actor.is_admin:
        raise Forbidden("only admins may do this")
