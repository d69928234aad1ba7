"""Idle close (HUB_IDLE_CLOSE_AFTER) and reopening, on the injected clock.

A consultation pending on the citizen after an agent's reply is resolved after that much
silence, with a polite message and no survey; the timer is a `due_at` row swept by the
scheduler, so it survives restarts. A resolved consultation reopens to its agent or the queue.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from hub.actions.errors import Conflict, Forbidden
from hub.actions.lifecycle import do_assign
from hub.actions.messages import do_receive_message, do_reply
from hub.actions.reopen import do_reopen
from hub.clock import FakeClock
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Agent, AuditEntry, Message, SurveyResponse, Ticket
from hub.inbound import IdentityIn, InboundMessage
from runtime.scheduler import tick
from tests.conftest import make_settings

_n = iter(range(10**6))


async def _agent(ctx: HubContext, email: str, role: str = "agent", presence: str = "available") -> int:
    async with ctx.sessionmaker() as s:
        row = Agent(email=email, name=email.split("@")[0].title(), role=role, presence=presence,
                    created_at=ctx.clock.now())
        s.add(row)
        await s.commit()
        assert row.id is not None
        return row.id


async def _writes(ctx: HubContext, channel: str = "email", who: str = "pere@example.net", body: str = "Hola") -> int:
    kind = "email" if channel == "email" else "phone"
    got = await do_receive_message(ctx, InboundMessage(
        channel=channel, provider_id=f"idle-{next(_n)}", received_at=ctx.clock.now(), body=body,
        identities=[IdentityIn(kind, who)], subject="Padró",
    ))
    assert got.ticket_id is not None
    return got.ticket_id


async def _ticket(ctx: HubContext, ticket_id: int) -> Ticket:
    async with ctx.sessionmaker() as s:
        ticket = await s.get(Ticket, ticket_id)
        assert ticket is not None
        return ticket


async def _auto_keys(ctx: HubContext, ticket_id: int) -> list[str]:
    async with ctx.sessionmaker() as s:
        rows = (await s.exec(select(Message).where(Message.ticket_id == ticket_id, Message.kind == "auto")
                             .order_by(Message.id))).all()
        return [m.meta.get("text_key") for m in rows]


@pytest.fixture
def idle_settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url, auto_assign=False, idle_close_after=timedelta(hours=72))


async def test_a_consultation_pending_on_the_citizen_closes_itself_after_the_silence(
    idle_settings: Settings, clock: FakeClock,
) -> None:
    ctx = HubContext.create(idle_settings, clock)
    try:
        agent = await _agent(ctx, "jordi@example.org")
        ticket = await _writes(ctx)
        await do_assign(ctx, ticket, agent, by_agent_id=agent)
        await do_reply(ctx, ticket, agent, "Li envio el formulari")
        row = await _ticket(ctx, ticket)
        assert (row.status, row.due_kind, row.due_at) == ("pending", "idle_close", clock.now() + timedelta(hours=72))

        clock.advance(hours=71, minutes=59)
        assert (await tick(ctx, sweep=False))["fired"] == 0
        assert (await _ticket(ctx, ticket)).status == "pending"
    finally:
        await ctx.close()

    # a restart: a new process (new engine) on the same database finds the timer
    clock.advance(minutes=1)
    again = HubContext.create(idle_settings, clock)
    try:
        assert (await tick(again, sweep=False))["fired"] == 1
        row = await _ticket(again, ticket)
        assert (row.status, row.due_at, row.resolved_at) == ("resolved", None, clock.now())
        assert (await _auto_keys(again, ticket))[-1] == "idle_close.text"
        async with again.sessionmaker() as s:
            assert (await s.exec(select(SurveyResponse).where(SurveyResponse.ticket_id == ticket))).first() is None
            last = (await s.exec(select(Message).where(Message.ticket_id == ticket).order_by(Message.id.desc()))).first()
        assert last is not None and row.reference in last.body and last.status == "queued"
        assert (await tick(again, sweep=False))["fired"] == 0  # once
    finally:
        await again.close()


async def test_whatsapp_citizen_reply_clears_the_timer_and_a_closed_window_sends_nothing(
    idle_settings: Settings, clock: FakeClock,
) -> None:
    ctx = HubContext.create(idle_settings, clock)
    try:
        agent = await _agent(ctx, "jordi@example.org")
        number = "+34600555111"
        ticket = await _writes(ctx, "whatsapp", number, "Hola")
        await _writes(ctx, "whatsapp", number, "Em dic Laia Pons")
        await do_assign(ctx, ticket, agent, by_agent_id=agent)
        await do_reply(ctx, ticket, agent, "Quin tràmit necessites?")
        assert (await _ticket(ctx, ticket)).due_kind == "idle_close"
        clock.advance(hours=2)
        await _writes(ctx, "whatsapp", number, "El padró")
        row = await _ticket(ctx, ticket)
        assert (row.status, row.due_at, row.due_kind) == ("assigned", None, None)
        await do_reply(ctx, ticket, agent, "Aquí el tens")
        assert (await _ticket(ctx, ticket)).due_at == clock.now() + timedelta(hours=72)
        keys_before = await _auto_keys(ctx, ticket)
        clock.advance(hours=72)
        assert (await tick(ctx, sweep=False))["fired"] == 1
        assert (await _ticket(ctx, ticket)).status == "resolved"
        assert await _auto_keys(ctx, ticket) == keys_before  # 72 h later WhatsApp's window is closed
    finally:
        await ctx.close()


async def test_zero_means_never(tmp_path: Path, db_url: str, clock: FakeClock) -> None:
    ctx = HubContext.create(make_settings(tmp_path, db_url, auto_assign=False, idle_close_after="0"), clock)
    try:
        agent = await _agent(ctx, "jordi@example.org")
        ticket = await _writes(ctx)
        await do_assign(ctx, ticket, agent, by_agent_id=agent)
        await do_reply(ctx, ticket, agent, "Bon dia")
        assert (await _ticket(ctx, ticket)).due_at is None
        clock.advance(days=30)
        assert (await tick(ctx, sweep=False))["fired"] == 0
        assert (await _ticket(ctx, ticket)).status == "pending"
    finally:
        await ctx.close()


async def test_reopen_goes_back_to_its_agent_if_available_else_to_the_queue(
    idle_settings: Settings, clock: FakeClock,
) -> None:
    from hub.actions.agents import do_set_presence
    from hub.actions.lifecycle import do_resolve

    ctx = HubContext.create(idle_settings, clock)
    try:
        jordi = await _agent(ctx, "jordi@example.org")
        anna = await _agent(ctx, "anna@example.org")
        boss = await _agent(ctx, "marta@example.org", role="manager")
        ticket = await _writes(ctx)
        await do_assign(ctx, ticket, jordi, by_agent_id=jordi)
        await do_resolve(ctx, ticket, jordi, send_survey=False)

        with pytest.raises(Forbidden):
            await do_reopen(ctx, ticket, anna)  # a colleague's
        assert await do_reopen(ctx, ticket, jordi) == "assigned"
        row = await _ticket(ctx, ticket)
        assert (row.assignee_id, row.resolved_at, row.closed_at) == (jordi, None, None)
        with pytest.raises(Conflict):
            await do_reopen(ctx, ticket, jordi)  # not resolved

        await do_resolve(ctx, ticket, jordi, send_survey=False)
        await do_set_presence(ctx, jordi, "offline")
        assert await do_reopen(ctx, ticket, boss) == "waiting"
        row = await _ticket(ctx, ticket)
        assert (row.assignee_id, row.queued_at) == (None, clock.now())
        async with ctx.sessionmaker() as s:
            audited = (await s.exec(select(AuditEntry).where(AuditEntry.action == "ticket.reopen"))).all()
        assert [(a.agent_id, a.target_id) for a in audited] == [(jordi, str(ticket)), (boss, str(ticket))]
    finally:
        await ctx.close()


async def test_whatsapp_consultations_are_not_reopened(idle_settings: Settings, clock: FakeClock) -> None:
    from hub.actions.lifecycle import do_resolve

    ctx = HubContext.create(idle_settings, clock)
    try:
        jordi = await _agent(ctx, "jordi@example.org")
        ticket = await _writes(ctx, "whatsapp", "+34600555222", "Hola")
        await _writes(ctx, "whatsapp", "+34600555222", "Em dic Pau")
        await do_assign(ctx, ticket, jordi, by_agent_id=jordi)
        await do_resolve(ctx, ticket, jordi, send_survey=False)
        with pytest.raises(Conflict, match="opens a new one"):
            await do_reopen(ctx, ticket, jordi)
        assert (await _ticket(ctx, ticket)).status == "resolved"
    finally:
        await ctx.close()


async def test_a_reopened_consultation_resolved_again_asks_for_no_second_survey(
    idle_settings: Settings, clock: FakeClock,
) -> None:
    from hub.actions.lifecycle import do_resolve

    ctx = HubContext.create(idle_settings, clock)
    try:
        jordi = await _agent(ctx, "jordi@example.org")
        ticket = await _writes(ctx)
        await do_assign(ctx, ticket, jordi, by_agent_id=jordi)
        assert (await do_resolve(ctx, ticket, jordi)).survey_url is not None
        await do_reopen(ctx, ticket, jordi)
        assert (await do_resolve(ctx, ticket, jordi)).survey_url is None
        assert (await _ticket(ctx, ticket)).status == "resolved"
    finally:
        await ctx.close()
