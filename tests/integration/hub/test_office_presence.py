"""The calendar and routing: nothing pushed to agents outside hours; away at closing unless busy;
the queue drained at opening."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.lifecycle import do_assign, do_drain_queue
from hub.actions.office import do_follow_the_calendar
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Agent, Ticket
from tests.conftest import make_settings

MADRID = ZoneInfo("Europe/Madrid")


async def presence(ctx: HubContext, agent_id: int) -> str:
    async with ctx.sessionmaker() as s:
        agent = await s.get(Agent, agent_id)
        assert agent is not None
        return agent.presence


async def test_closing_sends_idle_agents_away_and_opening_drains_the_queue(tmp_path: Path, db_url: str) -> None:
    from hub.actions.messages import do_receive_message
    from tests.integration.hub.test_receive_flow import whatsapp

    async def citizen(number: str) -> int:
        await do_receive_message(ctx, whatsapp(clock, f"SM{number}a", "Hola", number))
        received = await do_receive_message(ctx, whatsapp(clock, f"SM{number}b", "Anna", number))
        assert received.ticket_id is not None
        return received.ticket_id

    clock = FakeClock(datetime(2026, 12, 4, 14, 0, tzinfo=MADRID))  # Friday, open
    ctx = HubContext.create(make_settings(tmp_path, db_url, office_hours="mon-fri 08:30-14:30"), clock)
    try:
        idle = await do_create_agent(ctx, "idle@oac.example", "Idle Agent", "agent", "password123")
        busy = await do_create_agent(ctx, "busy@oac.example", "Busy Agent", "agent", "password123")
        for agent in (idle, busy):
            await do_set_presence(ctx, agent, "available")
        first = await citizen("+34600000001")
        async with ctx.sessionmaker() as s:
            ticket = await s.get(Ticket, first)
            assert ticket is not None and ticket.assignee_id in (idle, busy)  # open: pushed at once
        if ticket.assignee_id != busy:
            await do_assign(ctx, first, busy)  # a transfer (by the system: busy may not take idle's)
        assert await do_follow_the_calendar(ctx) is None  # first sight: remembered only

        clock.set(datetime(2026, 12, 4, 14, 31, tzinfo=MADRID))  # closed
        assert await do_follow_the_calendar(ctx) == "closed"
        assert await presence(ctx, idle) == "away"
        assert await presence(ctx, busy) == "available"  # busy on a ticket: left as is
        assert await do_follow_the_calendar(ctx) is None  # once per closing

        # A consultation over the weekend is not pushed to the agent still available.
        clock.set(datetime(2026, 12, 5, 11, 0, tzinfo=MADRID))
        second = await citizen("+34600000002")
        assert await do_drain_queue(ctx) == 0
        async with ctx.sessionmaker() as s:
            ticket = await s.get(Ticket, second)
            assert ticket is not None and ticket.status == "waiting" and ticket.assignee_id is None

        clock.set(datetime(2026, 12, 7, 8, 30, tzinfo=MADRID))  # Monday opening
        assert await do_follow_the_calendar(ctx) == "opened"
        assert await do_drain_queue(ctx) == 1
        async with ctx.sessionmaker() as s:
            ticket = await s.get(Ticket, second)
            assert ticket is not None and ticket.assignee_id == busy
    finally:
        await ctx.close()
