"""Managers' reports: the weekly summary opt-in, and the row that makes each summary go once.

`do_claim_weekly_summary` inserts the (week, manager) row before the mail is sent: of several
schedulers, only the one whose insert succeeds sends. A failed send releases the claim so a
later sweep tries again; a crash between sending and `do_mark_weekly_summary_sent` leaves the
claim, so a summary may be lost but is never sent twice.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hub.actions.errors import Invalid, NotFound
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Agent, WeeklySummary

MANAGER_ROLES = ("manager", "admin")


async def do_set_weekly_summary(ctx: HubContext, agent_id: int, enabled: bool) -> None:
    async with UnitOfWork(ctx) as uow:
        agent = await uow.session.get(Agent, agent_id, with_for_update=True)
        if agent is None:
            raise NotFound(f"agent {agent_id} does not exist")
        if enabled and agent.role not in MANAGER_ROLES:
            raise Invalid("the weekly summary is for managers and admins")
        agent.weekly_summary = enabled
        uow.session.add(agent)


async def weekly_recipients(ctx: HubContext, week: date) -> list[Agent]:
    """Active managers and admins who opted in and whose summary of `week` is not claimed yet."""
    async with ctx.sessionmaker() as session:
        done = select(WeeklySummary.agent_id).where(WeeklySummary.week == week)
        return list((await session.exec(select(Agent).where(
            Agent.weekly_summary == True, Agent.active == True,  # noqa: E712
            col(Agent.role).in_(MANAGER_ROLES), col(Agent.id).notin_(done),
        ).order_by(col(Agent.id)))).all())


async def do_claim_weekly_summary(ctx: HubContext, week: date, agent_id: int) -> bool:
    """True if this caller may send `agent_id`'s summary of `week` (nobody claimed it before)."""
    try:
        async with UnitOfWork(ctx) as uow:
            uow.session.add(WeeklySummary(week=week, agent_id=agent_id, claimed_at=uow.now))
            await uow.session.flush()
    except IntegrityError:
        return False
    return True


async def do_mark_weekly_summary_sent(ctx: HubContext, week: date, agent_id: int) -> None:
    async with UnitOfWork(ctx) as uow:
        row = (await uow.session.exec(select(WeeklySummary).where(
            WeeklySummary.week == week, WeeklySummary.agent_id == agent_id))).one()
        row.sent_at = uow.now
        uow.session.add(row)


async def do_release_weekly_summary(ctx: HubContext, week: date, agent_id: int) -> None:
    """Give a claim back after a failed send (a later sweep retries)."""
    async with UnitOfWork(ctx) as uow:
        await uow.session.exec(delete(WeeklySummary).where(  # type: ignore[call-overload]
            col(WeeklySummary.week) == week, col(WeeklySummary.agent_id) == agent_id,
            col(WeeklySummary.sent_at).is_(None)))
