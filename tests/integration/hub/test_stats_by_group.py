"""The By-topic and By-entry-point tables: each row is what the statistics filtered by that topic
show (the same per-topic cells: roll-ups for what is rolled up, the events for the rest), and an
entry point's row holds the figures of the consultations that came through it.

A fixed data set in March 2026 (office time zone Europe/Madrid, UTC+1): email consultations
whose times sit on histogram edges (medians and p90 exact), two topics, and WhatsApp
consultations that came through an entry point that sets the census topic. Every figure is
checked computed live and from the roll-ups; then topics set after the fact, today live, and the
entry point roll-ups filled after the upgrade that added them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import msgspec
import pytest
from sqlalchemy import delete

from hub import rollups
from hub.actions.agents import do_create_agent
from hub.actions.entry_points import do_create_entry_point
from hub.actions.lifecycle import do_assign, do_resolve
from hub.actions.messages import do_receive_message, do_reply
from hub.actions.topics import do_create_topic, do_set_ticket_topics
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import stats_daily_entry_point, stats_monthly_entry_point
from hub.inbound import IdentityIn, InboundMessage
from hub.rollups import build_days, build_entry_points, forget_cached_stats, query_compared, query_stats
from hub.stats import Duration
from tests.integration.hub.test_stats_reports import email, utc

MARCH = (date(2026, 3, 1), date(2026, 3, 20))
W11 = (date(2026, 3, 9), date(2026, 3, 15))
W12 = (date(2026, 3, 16), date(2026, 3, 20))
PREFILL = "Ajuda amb el padró:"


@dataclass
class Manager:
    id: int
    role: str = "manager"


async def through_entry_point(ctx: HubContext, clock: FakeClock, at: datetime, agent: int, n: int,
                              resolve: bool) -> int:
    """A WhatsApp consultation whose first message is the entry point's prefill: the citizen gives
    their name 3 minutes later (then it is queued), an agent takes it 10 minutes after that,
    answers after 15 and, with `resolve`, resolves it 60 minutes after it was created."""
    who = f"+346001000{n:02d}"

    def inbound(sid: str, body: str) -> InboundMessage:
        return InboundMessage(channel="whatsapp", provider_id=sid, received_at=clock.now(), body=body,
                              identities=[IdentityIn("phone", who)])

    clock.set(at)
    ticket = (await do_receive_message(ctx, inbound(f"SM{n}a", f"{PREFILL} vull un volant"))).ticket_id
    assert ticket is not None
    clock.set(at + timedelta(minutes=3))
    await do_receive_message(ctx, inbound(f"SM{n}b", "Em dic Jana"))
    clock.set(at + timedelta(minutes=13))
    await do_assign(ctx, ticket, agent, by_agent_id=agent)
    clock.set(at + timedelta(minutes=18))
    await do_reply(ctx, ticket, agent, "Aquí el té")
    if resolve:
        clock.set(at + timedelta(minutes=60))
        await do_resolve(ctx, ticket, agent)
    return ticket


@pytest.fixture
async def office(ctx: HubContext, clock: FakeClock) -> dict[str, int]:
    """Census: a consultation in week 10 (with taxes too) and one in week 11; taxes: that one and
    another in week 11; one in week 11 has no topic. Week 12: two WhatsApp consultations through
    the census entry point (one resolved), and one WhatsApp consultation about taxes that did
    not. Now: 20 March, 12:00 UTC."""
    boss = Manager(await do_create_agent(ctx, "m@oac.example", "Marta", "manager", "password123"))
    agent = await do_create_agent(ctx, "a@oac.example", "Agent A", "agent", "password123")
    census = (await do_create_topic(ctx, boss, {"ca": "Padró de prova", "es": "Padrón", "en": "Census"})).id
    taxes = (await do_create_topic(ctx, boss, {"ca": "Taxes de prova", "es": "Tasas", "en": "Taxes"})).id
    web = (await do_create_entry_point(ctx, boss, "Web del padró", PREFILL, census)).id
    both = await email(ctx, clock, utc(2, 9), agent, 60, 300, 900, 4)
    one = await email(ctx, clock, utc(9, 9), agent, 600, 900, 3600, None)
    other = await email(ctx, clock, utc(10, 9), agent, 1800, 1800, 7200, 2)
    await email(ctx, clock, utc(11, 9), agent, 120, 300, 600, None)
    for ticket, chosen in ((both, [census, taxes]), (one, [census]), (other, [taxes])):
        await do_set_ticket_topics(ctx, boss, ticket, chosen)
    came = [await through_entry_point(ctx, clock, utc(16, 9), agent, 1, resolve=True),
            await through_entry_point(ctx, clock, utc(17, 9), agent, 2, resolve=False)]
    plain = await email(ctx, clock, utc(18, 9), agent, 30, 60, 120, None)
    await do_set_ticket_topics(ctx, boss, plain, [taxes])
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    return {"census": census, "taxes": taxes, "agent": agent, "web": web, "boss": boss.id, "came": came[0]}


ROW_FIELDS = ("consultations", "resolved", "wait", "resolution", "surveys_answered", "satisfaction_average")


def _as_page(row) -> tuple:  # type: ignore[no-untyped-def]
    return tuple(msgspec.to_builtins(getattr(row, name)) for name in ROW_FIELDS)


def _page(stats) -> tuple:  # type: ignore[no-untyped-def]
    t = stats.totals
    return tuple(msgspec.to_builtins(v) for v in (
        t.consultations, t.handled, t.wait, t.resolution, t.surveys_answered, t.satisfaction_average))


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_each_topic_row_is_the_page_filtered_by_that_topic(
        ctx: HubContext, office: dict[str, int], rolled: bool) -> None:
    forget_cached_stats()
    if rolled:
        await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    week = await query_compared(ctx, *W11)
    rows = {row.topic_id: row for row in week.by_topic}
    assert list(rows) == [office["census"], office["taxes"]]  # the managers' topic order
    # Week 11, hand-computed: census has the consultation of 9 March (wait 600, resolution 3600,
    # its survey unanswered); taxes the one of 10 March (wait 1800, resolution 7200, rated 2).
    census, taxes = rows[office["census"]], rows[office["taxes"]]
    assert _as_page(census) == (1, 1, msgspec.to_builtins(Duration(1, 600.0, 600, 600)),
                                msgspec.to_builtins(Duration(1, 3600.0, 3600, 3600)), 0, None)
    assert (taxes.consultations, taxes.resolution.median_s, taxes.wait.p90_s, taxes.satisfaction_average) == (
        1, 7200, 1800, 2.0)
    for topic_id, row in rows.items():
        assert _as_page(row) == _page(await query_stats(ctx, *W11, topic_id=topic_id))
    # March so far, today included (live after the watermark or wholly): each row is the page
    # filtered by its topic, with a channel or an agent chosen too.
    for filters in ({}, {"channel": "whatsapp"}, {"agent_id": office["agent"]}, {"channel": "email"}):
        month = await query_stats(ctx, *MARCH, **filters)  # type: ignore[arg-type]
        assert month.by_topic or filters.get("channel") == "whatsapp"
        for row in month.by_topic:
            assert _as_page(row) == _page(await query_stats(ctx, *MARCH, topic_id=row.topic_id, **filters))  # type: ignore[arg-type]
    # Filtered by a topic, the table has that topic's row only.
    only = await query_stats(ctx, *MARCH, topic_id=office["taxes"])
    assert [row.topic_id for row in only.by_topic] == [office["taxes"]]
    assert only.by_topic[0].consultations == 3 == only.totals.consultations


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_an_entry_point_row_holds_the_consultations_that_came_through_it(
        ctx: HubContext, office: dict[str, int], rolled: bool) -> None:
    forget_cached_stats()
    if rolled:
        await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    stats = await query_compared(ctx, *W12)
    (row,) = stats.by_entry_point
    # Two consultations through it (16 and 17 March): each waited 10 min in the queue (from its
    # identification to being taken: 600 s, a bucket edge); the first resolved 57 min after it
    # was queued (3420 s: in the bucket up to 3600).
    assert (row.entry_point_id, row.label, row.topic_id, row.active) == (
        office["web"], "Web del padró", office["census"], True)
    assert (row.consultations, row.resolved, row.wait.count, row.wait.median_s, row.wait.average_s) == (
        2, 1, 2, 600, 600.0)
    assert (row.resolution.count, row.resolution.average_s, row.resolution.median_s) == (1, 3420.0, 3600)
    assert (row.surveys_answered, row.satisfaction_average) == (0, None)
    # The entry point set the census topic: its consultations are the census page's of week 12.
    census = await query_stats(ctx, *W12, topic_id=office["census"])
    assert _as_page(row) == _page(census)
    assert [(r.entry_point_id, r.consultations) for r in census.by_entry_point] == [(office["web"], 2)]
    assert (await query_stats(ctx, *W12, topic_id=office["taxes"])).by_entry_point == []
    assert (await query_stats(ctx, *W12, channel="email")).by_entry_point == []
    assert (await query_stats(ctx, *W11)).by_entry_point == []


async def test_a_topic_set_after_the_fact_counts_today_at_once_and_on_finished_days_once_rebuilt(
        ctx: HubContext, clock: FakeClock, office: dict[str, int]) -> None:
    forget_cached_stats()
    boss = Manager(office["boss"])
    await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    # Today, before the roll-ups' watermark (11:45): a consultation without a topic, answered.
    today = date(2026, 3, 20)
    late = await email(ctx, clock, utc(20, 9), office["agent"], 120, 300, 600, None)
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    before = await query_stats(ctx, today, today)
    assert before.totals.consultations == 1 and before.by_topic == []
    clock.set(datetime(2026, 3, 20, 12, 1, tzinfo=UTC))
    await do_set_ticket_topics(ctx, boss, late, [office["taxes"]])
    now = await query_stats(ctx, today, today)
    (row,) = now.by_topic
    assert (row.topic_id, row.consultations, row.resolved, row.wait.median_s) == (office["taxes"], 1, 1, 120)
    assert _as_page(row) == _page(await query_stats(ctx, today, today, topic_id=office["taxes"]))
    # A finished day already rolled up (16 March): its consultation through the entry point
    # (census) gets taxes too; the day's rows are those of its roll-up until it is rebuilt (as
    # for the page filtered by topic and the trends by topic): both agree all along.
    await do_set_ticket_topics(ctx, boss, office["came"], [office["census"], office["taxes"]])
    taxes_w12 = (await query_stats(ctx, *W12, topic_id=office["taxes"])).totals.consultations
    assert [r.consultations for r in (await query_stats(ctx, *W12)).by_topic if r.topic_id == office["taxes"]] == [
        taxes_w12]
    await build_days(ctx, date(2026, 3, 16), date(2026, 3, 19))
    rebuilt = {r.topic_id: r for r in (await query_stats(ctx, *W12)).by_topic}
    assert rebuilt[office["taxes"]].consultations == taxes_w12 + 1
    assert _as_page(rebuilt[office["taxes"]]) == _page(await query_stats(ctx, *W12, topic_id=office["taxes"]))


async def test_entry_point_roll_ups_filled_after_the_upgrade_are_seen_at_once(
        ctx: HubContext, clock: FakeClock, office: dict[str, int]) -> None:
    forget_cached_stats()
    await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    expected = msgspec.to_builtins((await query_stats(ctx, *MARCH)).by_entry_point)
    assert expected and expected[0]["consultations"] == 2
    # Days rolled up before the per-entry-point roll-ups existed: no rows for them.
    async with ctx.sessionmaker() as session:
        for table in (stats_daily_entry_point, stats_monthly_entry_point):
            await (await session.connection()).execute(delete(table))
        await session.commit()
    forget_cached_stats()
    assert (await query_stats(ctx, *MARCH)).by_entry_point == []
    # Filled by another process (this one's cache generation does not move): the days' build
    # state changed, so the cached sums are not used.
    generation = rollups._CACHE.generation
    clock.advance(minutes=1)
    assert await build_entry_points(ctx, date(2026, 3, 1), date(2026, 3, 31)) == 19
    rollups._CACHE.generation = generation
    assert msgspec.to_builtins((await query_stats(ctx, *MARCH)).by_entry_point) == expected
