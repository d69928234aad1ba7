"""Presence changes that move tickets: going offline hands an agent's tickets back to the queue.

Whether it does is the run-time option `routing.hand_back_on_offline` (default: yes), so a
ticket never waits on an agent who has left (LESSONS: reopened conversations stuck with
offline agents). The queue is drained after commit on `AgentChanged` and `Unassigned` (the
reaction table, runtime/reactions.py), so the handed-back tickets go to whoever is available,
oldest first.
"""

from __future__ import annotations

from sqlmodel import col, select

from hub import events
from hub.actions.audit import add_audit
from hub.actions.errors import Invalid, NotFound
from hub.actions.permissions import Who, acting
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Agent, Option, Ticket
from hub.routing import PRESENCES
from hub.tickets import OWNED_STATUSES, Unassign

HAND_BACK_OPTION = "routing.hand_back_on_offline"


async def hand_back_on_offline(uow: UnitOfWork) -> bool:
    row = await uow.session.get(Option, HAND_BACK_OPTION)
    return True if row is None or row.value is None else bool(row.value)


async def hand_back_all(uow: UnitOfWork, agent_id: int) -> list[int]:
    """Return every ticket the agent owns to the queue (inside the caller's transaction)."""
    stmt = (
        select(Ticket).where(
            Ticket.assignee_id == agent_id, col(Ticket.status).in_([s.value for s in OWNED_STATUSES]),
        ).order_by(col(Ticket.id)).with_for_update()
    )
    handed: list[int] = []
    for ticket in (await uow.session.exec(stmt)).all():
        uow.transition(ticket, Unassign())
        assert ticket.id is not None
        handed.append(ticket.id)
    return handed


def set_presence(uow: UnitOfWork, agent: Agent, presence: str, by_agent_id: int | None, **detail: object) -> bool:
    """Change an agent's presence in the caller's transaction, with its `agent.presence` entry
    (`by_agent_id`: the agent themself, or None for the system, e.g. the office closing).
    Returns whether it changed."""
    if agent.presence == presence:
        return False
    agent.presence, agent.presence_changed_at = presence, uow.now
    uow.session.add(agent)
    add_audit(uow, by_agent_id, "agent.presence", "agent", agent.id, presence=presence, **detail)
    uow.emit(events.AgentChanged(agent.id))
    return True


async def do_change_presence(ctx: HubContext, who: Who, presence: str) -> list[int]:
    """An agent sets their own presence (`who`: their actor or id); going offline hands their
    tickets back if the office wants it, in the same transaction. Returns the ids handed back.
    """
    if presence not in PRESENCES:
        raise Invalid(f"presence must be one of {', '.join(PRESENCES)}")
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, who)
        if actor.agent_id is None:
            raise Invalid("only an agent has a presence")
        agent = await uow.session.get(Agent, actor.agent_id, with_for_update=True)
        if agent is None or not agent.active:
            raise NotFound(f"agent {actor.agent_id} does not exist")
        set_presence(uow, agent, presence, actor.agent_id)
        handed: list[int] = []
        if presence == "offline" and await hand_back_on_offline(uow):
            handed = await hand_back_all(uow, actor.agent_id)
        return handed


async def do_hand_back_all(ctx: HubContext, agent_id: int) -> list[int]:
    async with UnitOfWork(ctx) as uow:
        return await hand_back_all(uow, agent_id)


async def do_set_capacity(ctx: HubContext, agent_id: int, capacity: int) -> None:
    """How many tickets an agent holds at once; more room drains the queue after commit."""
    if not 0 <= capacity <= 100:
        raise Invalid("capacity must be between 0 and 100")
    async with UnitOfWork(ctx) as uow:
        agent = await uow.session.get(Agent, agent_id, with_for_update=True)
        if agent is None or not agent.active:
            raise NotFound(f"agent {agent_id} does not exist")
        if agent.capacity != capacity:
            agent.capacity = capacity
            uow.session.add(agent)
            uow.emit(events.AgentChanged(agent_id))


async def do_set_hand_back_on_offline(ctx: HubContext, enabled: bool) -> None:
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(Option, HAND_BACK_OPTION, with_for_update=True)
        if row is None:
            row = Option(key=HAND_BACK_OPTION, value=enabled, updated_at=uow.now)
        else:
            row.value, row.updated_at = enabled, uow.now
        uow.session.add(row)


async def hand_back_setting(ctx: HubContext) -> bool:
    async with ctx.sessionmaker() as session:
        row = await session.get(Option, HAND_BACK_OPTION)
    return True if row is None or row.value is None else bool(row.value)
