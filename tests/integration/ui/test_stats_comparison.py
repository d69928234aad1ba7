"""The call figures beside the previous period's, judged per figure (on the page and in the API)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from agent_ui.stats import call_figures
from hub.clock import FakeClock
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Call
from hub.rollups import build_days, forget_cached_stats, query_compared
from tests.support.agent_ui import Logins, app, citizen_writes, client, login, logins  # noqa: F401
from tests.integration.hub.test_stats_reports import W11, two_weeks, utc  # noqa: F401
from tests.integration.ui.test_stats_pages import office_today



@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_the_call_figures_are_compared_too(ctx: HubContext, clock: FakeClock, rolled: bool) -> None:
    """Week 10: two answered calls (talk 60 and 120 s) and two missed; week 11: three answered
    (180, 180, 300) and one missed. All at 09:00 on a Tuesday, office hours."""
    async with ctx.sessionmaker() as s:
        for day, outcome, talk in ((3, "answered", 60), (3, "answered", 120), (3, "missed", None), (3, "busy", None),
                                   (10, "answered", 180), (10, "answered", 180), (10, "answered", 300),
                                   (10, "missed", None)):
            s.add(Call(number="+34600000001", outcome=outcome, started_at=utc(day, 8), created_at=utc(day, 8), duration_s=talk,
                       done=outcome == "answered"))
        await s.commit()
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    forget_cached_stats()
    if rolled:
        await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    s = await query_compared(ctx, *W11)
    assert (s.calls.answered, s.calls.missed, s.calls.answer_rate) == (3, 1, 0.75)
    figures = {k["key"]: k for k in call_figures(lambda text: text, s)}
    before = {key: k["compared"][0] for key, k in figures.items()}
    assert [before[k]["before"] for k in ("answered", "missed", "answer_rate")] == ["2", "2", "50 %"]
    assert (figures["answer_rate"]["value"], figures["talk"]["value"]) == ("75 %", "3 min / 5 min")
    judged = {key: (c["change"].percent, c["change"].direction, c["change"].better) for key, c in before.items()}
    assert judged["answered"] == (50.0, "up", True)
    assert judged["missed"] == (-50.0, "down", True)
    assert judged["answer_rate"] == (50.0, "up", True)
    assert judged["talk"] == (200.0, "up", None)  # longer calls are neither better nor worse
    assert judged["outbound"] == (0.0, "same", None)


async def test_each_channel_and_agent_row_is_compared_with_its_own_before(ctx: HubContext, two_weeks: None) -> None:
    from agent_ui.stats import row_changes

    forget_cached_stats()
    s = await query_compared(ctx, *W11)
    channels, agents = row_changes(s)

    def judged(c: Any) -> tuple[Any, ...]:
        return (c.percent, c.direction, c.better)

    # Email: 3 consultations resolved against 2; rated 2.5 on average against 4.
    assert judged(channels["email"]["consultations"]) == (50.0, "up", None)
    assert judged(channels["email"]["handled"]) == (50.0, "up", True)
    assert judged(channels["email"]["satisfaction"]) == (-37.5, "down", False)
    # WhatsApp: 2 abandoned against 1.
    assert judged(channels["whatsapp"]["abandoned"]) == (100.0, "up", False)
    (agent,) = agents.values()
    assert judged(agent["handled"]) == (50.0, "up", True)


def test_the_tables_show_each_rows_change(client: TestClient[Litestar], settings: Settings) -> None:
    """Two email consultations today, one yesterday: the channel row says +100 %."""
    import asyncio

    from sqlmodel import select

    from hub.db.tables import EventRow, Ticket

    moved = citizen_writes(settings, "email")
    citizen_writes(settings, "email")
    citizen_writes(settings, "email")

    async def to_yesterday() -> None:
        c = HubContext.create(settings)
        try:
            async with c.sessionmaker() as session:
                back = timedelta(days=1)
                ticket = await session.get(Ticket, moved)
                assert ticket is not None and ticket.queued_at is not None
                ticket.created_at, ticket.queued_at = ticket.created_at - back, ticket.queued_at - back
                session.add(ticket)
                for event in (await session.exec(select(EventRow).where(EventRow.ticket_id == moved))).all():
                    event.at = event.at - back
                    session.add(event)
                await session.commit()
        finally:
            await c.close()

    asyncio.run(to_yesterday())
    assert login(client, "manager@example.org").status_code in (302, 303)
    today = office_today()
    html = client.get(f"/stats?from={today.isoformat()}&to={today.isoformat()}").text
    row = re.search(r'<tr><th scope="row">Email</th>(.*?)</tr>', html, re.S)
    assert row, html
    assert re.search(r'>2</a><br><small class="delta neutral"><span aria-hidden="true">▲</span> \+100 %</small>',
                     row.group(1)), row.group(1)
