"""Each count of the statistics page links to exactly the consultations it counts: the link's
filters, run through the ticket list's own filter (`GET /api/v1/tickets`, `/search`), select the
same tickets, on the fixed two-week data set plus first replies across closing time."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
from sqlmodel import col, select

from agent_ui.api import ticket_filter
from agent_ui.stats import Filters, drill_links, period_link
from hub import views
from hub.actions.agents import do_create_agent
from hub.clock import FakeClock
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Ticket
from hub.drilldown import resolve_outside_sla
from hub.rollups import build_days, forget_cached_stats, query_stats
from tests.conftest import make_settings
from tests.integration.hub.test_stats_reports import W10, W11, email, topics, two_weeks  # noqa: F401


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url, office_hours="mon-fri 08:30-14:30")  # SLA: 30 minutes of office time


async def listed(ctx: HubContext, link: str) -> set[int]:
    params = dict(parse_qsl(urlsplit(link).query))
    assert urlsplit(link).path == "/search"
    f = ticket_filter(ctx, status=params.get("status"), channel=params.get("channel"),
                      assignee_id=int(params["assignee_id"]) if "assignee_id" in params else None,
                      topic=int(params["topic"]) if "topic" in params else None,
                      from_=params["from"], to=params["to"], dated=params.get("dated"),
                      abandoned=params.get("abandoned"), outside_sla=params.get("outside_sla"), kind=params.get("kind"))
    async with ctx.sessionmaker() as session:
        f = await resolve_outside_sla(ctx, session, f)
        page = await views.list_tickets(session, f, limit=200)
    return {t.id for t in page.tickets}


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_each_drill_down_lists_exactly_the_counted_consultations(
        ctx: HubContext, clock: FakeClock, two_weeks: None, rolled: bool) -> None:
    agent = await do_create_agent(ctx, "b@oac.example", "Agent B", "agent", "password123")
    # Created Wednesday 11 March at 14:20 in Lleida, answered Thursday at 09:00: 40 minutes of
    # office time (18 h 40 of wall time): outside the 30-minute target.
    late = await email(ctx, clock, datetime(2026, 3, 11, 13, 20, tzinfo=UTC), agent, 60, 67_200, 68_000, None)
    # Created Tuesday at 14:25, answered Wednesday at 08:40: 15 minutes of office time: within.
    await email(ctx, clock, datetime(2026, 3, 10, 13, 25, tzinfo=UTC), agent, 60, 65_700, 66_000, None)
    # A missed call's call-back task is not a consultation.
    async with ctx.sessionmaker() as session:
        contact_id = (await session.exec(select(Ticket.contact_id).limit(1))).one()
        session.add(Ticket(contact_id=contact_id, channel="email", kind="callback", status="waiting",
                           created_at=datetime(2026, 3, 12, 9, 0, tzinfo=UTC), updated_at=datetime(2026, 3, 12, 9, 0, tzinfo=UTC)))
        await session.commit()
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    forget_cached_stats()
    if rolled:
        await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    s = await query_stats(ctx, *W11)
    links = drill_links(Filters(W11[0], W11[1], None, None))
    t = s.totals
    assert (t.consultations, t.handled, t.abandoned, t.first_response.outside_sla) == (8, 5, 2, 1)
    assert len(await listed(ctx, links["consultations"])) == t.consultations
    assert len(await listed(ctx, links["handled"])) == t.handled
    assert len(await listed(ctx, links["abandon_rate"])) == t.abandoned
    assert await listed(ctx, links["within_sla"]) == {late}
    # One channel: the same, narrowed.
    whatsapp = drill_links(Filters(W11[0], W11[1], "whatsapp", None))
    by_channel = {c.channel: c.figures for c in s.by_channel}
    assert len(await listed(ctx, whatsapp["consultations"])) == by_channel["whatsapp"].consultations == 3
    assert len(await listed(ctx, whatsapp["abandon_rate"])) == by_channel["whatsapp"].abandoned == 2
    # One agent: what they resolved.
    mine = drill_links(Filters(W11[0], W11[1], None, agent))
    assert set(mine) == {"handled"}
    b = next(a.figures for a in s.by_agent if a.agent_id == agent)
    async with ctx.sessionmaker() as session:
        resolved_by_b = set((await session.exec(select(Ticket.id).where(
            Ticket.assignee_id == agent, col(Ticket.resolved_at).is_not(None)))).all())
    assert await listed(ctx, mine["handled"]) == resolved_by_b and b.handled == 2


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_a_topic_filter_drills_down_to_that_topics_consultations(
        ctx: HubContext, clock: FakeClock, topics: dict[str, int], rolled: bool) -> None:
    forget_cached_stats()
    if rolled:
        await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    for topic, week, expected in ((topics["census"], W11, {topics["one"]}), (topics["taxes"], W11, {topics["other"]}),
                                  (topics["taxes"], W10, {topics["both"]})):
        s = await query_stats(ctx, *week, topic_id=topic)
        links = drill_links(Filters(week[0], week[1], None, None, topic))
        assert all(f"topic={topic}" in link for link in links.values())
        assert await listed(ctx, links["consultations"]) == expected and s.totals.consultations == len(expected)
        assert await listed(ctx, links["handled"]) == expected and s.totals.handled == len(expected)
    # Both topics over both weeks: the consultation with two topics is counted (and listed) for each.
    census = await query_stats(ctx, W10[0], W11[1], topic_id=topics["census"])
    links = drill_links(Filters(W10[0], W11[1], "email", None, topics["census"]))
    assert await listed(ctx, links["consultations"]) == {topics["both"], topics["one"]}
    assert census.totals.consultations == 2
    # One agent and one topic: what that agent resolved about it.
    mine = drill_links(Filters(W10[0], W11[1], None, topics["agent"], topics["taxes"]))
    taxes = await query_stats(ctx, W10[0], W11[1], agent_id=topics["agent"], topic_id=topics["taxes"])
    assert await listed(ctx, mine["handled"]) == {topics["both"], topics["other"]} and taxes.totals.handled == 2


async def test_the_volume_tables_link_each_period_to_its_consultations(
        ctx: HubContext, clock: FakeClock, two_weeks: None) -> None:
    forget_cached_stats()
    both = Filters(W10[0], W11[1], None, None)
    s = await query_stats(ctx, W10[0], W11[1])
    for period in (*s.daily, *s.weekly, *s.monthly):
        link = period_link(both, period.period)
        assert link is not None and len(await listed(ctx, link)) == period.total, period
        for channel, n in period.by_channel.items():
            assert len(await listed(ctx, period_link(both, period.period, channel) or "")) == n, (period, channel)
    # A month is clipped to the range: March's link covers 2 to 15 March.
    assert "from=2026-03-02&to=2026-03-15" in (period_link(both, "2026-03") or "")
    assert [p.total for p in s.weekly] == [4, 6] and s.monthly[0].total == 10
