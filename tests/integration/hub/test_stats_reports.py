"""Comparison and trends on a fixed data set spanning two weeks, against hand-computed figures.

Week 10 (2-8 March 2026) and week 11 (9-15 March) hold email consultations with waits, first
responses and resolutions on histogram edges (so medians and p90 are exact), survey answers and
WhatsApp consultations abandoned or identified; one consultation a year earlier (10 March 2025)
makes week 11's `year_ago`. Every figure is checked computed live and from the roll-ups.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from hub.actions.agents import do_create_agent
from hub.actions.lifecycle import do_assign, do_fire_timer, do_resolve
from hub.actions.messages import do_receive_message, do_reply
from hub.actions.survey import do_answer_survey
from hub.clock import FakeClock
from hub.context import HubContext
from hub.inbound import IdentityIn, InboundMessage
from hub.rollups import build_days, forget_cached_stats, query_compared, query_day_cells, query_trends
from hub.stats import change, previous_range, year_ago_range

W10 = (date(2026, 3, 2), date(2026, 3, 8))
W11 = (date(2026, 3, 9), date(2026, 3, 15))


async def email(ctx: HubContext, clock: FakeClock, at: datetime, agent: int, wait: int, reply: int, resolve: int,
                rating: int | None) -> int:
    """An email consultation created at `at`: taken after `wait` s, answered after `reply` s,
    resolved after `resolve` s (all from its creation), its survey answered with `rating`."""
    clock.set(at)
    n = int(at.timestamp())
    got = await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id=f"<m{n}@example.org>", received_at=clock.now(), body="Hola",
        subject="Consulta", identities=[IdentityIn("email", f"c{n}@example.org")]))
    ticket = got.ticket_id
    assert ticket is not None
    clock.set(at + timedelta(seconds=wait))
    await do_assign(ctx, ticket, agent, by_agent_id=agent)
    clock.set(at + timedelta(seconds=reply))
    await do_reply(ctx, ticket, agent, "Resposta")
    clock.set(at + timedelta(seconds=resolve))
    survey = await do_resolve(ctx, ticket, agent)
    if rating is not None:
        assert survey.survey_url
        await do_answer_survey(ctx, survey.survey_url.rsplit("/", 1)[1], rating, "")
    return ticket


async def whatsapp(ctx: HubContext, clock: FakeClock, at: datetime, answers: bool) -> int:
    """A WhatsApp consultation that is identified 3 minutes later, or abandoned after both timers."""
    clock.set(at)
    who = f"+3460{int(at.timestamp()) % 10_000_000:07d}"

    def inbound(sid: str, body: str) -> InboundMessage:
        return InboundMessage(channel="whatsapp", provider_id=sid, received_at=clock.now(), body=body,
                              identities=[IdentityIn("phone", who)])

    ticket = (await do_receive_message(ctx, inbound(f"SM{who}a", "Hola"))).ticket_id
    assert ticket is not None
    if answers:
        clock.set(at + timedelta(minutes=3))
        await do_receive_message(ctx, inbound(f"SM{who}b", "Em dic Jana"))
    else:
        clock.set(at + timedelta(minutes=20))
        assert await do_fire_timer(ctx, ticket) == "reminder"
        clock.set(at + timedelta(minutes=40))
        assert await do_fire_timer(ctx, ticket) == "close"
    return ticket


def utc(d: int, hh: int, month: int = 3, year: int = 2026) -> datetime:
    return datetime(year, month, d, hh, 0, tzinfo=UTC)


@pytest.fixture
async def two_weeks(ctx: HubContext, clock: FakeClock) -> None:
    agent = await do_create_agent(ctx, "a@oac.example", "Agent A", "agent", "password123")
    await email(ctx, clock, utc(10, 9, year=2025), agent, 60, 120, 300, None)  # a year earlier
    # Week 10: waits 60, 120; first responses 300, 600; resolutions 900, 1800; one answer (4) of two surveys.
    await email(ctx, clock, utc(2, 9), agent, 60, 300, 900, 4)
    await email(ctx, clock, utc(2, 10), agent, 120, 600, 1800, None)
    await whatsapp(ctx, clock, utc(3, 9), answers=False)
    await whatsapp(ctx, clock, utc(3, 10), answers=True)
    # Week 11: waits 300, 600, 1800; first responses 900, 1200, 1800; resolutions 3600, 3600, 7200;
    # answers 2 and 3 of three surveys; two WhatsApp consultations abandoned, one identified.
    await email(ctx, clock, utc(9, 9), agent, 300, 900, 3600, 2)
    await email(ctx, clock, utc(9, 11), agent, 600, 1200, 3600, None)
    await email(ctx, clock, utc(10, 9), agent, 1800, 1800, 7200, 3)
    await whatsapp(ctx, clock, utc(11, 9), answers=False)
    await whatsapp(ctx, clock, utc(11, 10), answers=False)
    await whatsapp(ctx, clock, utc(12, 10), answers=True)
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))


def test_previous_and_year_ago_ranges() -> None:
    assert previous_range(*W11) == W10
    assert previous_range(date(2026, 3, 1), date(2026, 3, 31)) == (date(2026, 1, 29), date(2026, 2, 28))
    assert year_ago_range(date(2028, 2, 29), date(2028, 3, 6)) == (date(2027, 2, 28), date(2027, 3, 6))


def test_a_change_is_judged_by_the_figure_it_belongs_to() -> None:
    assert change("consultations", 6, 4) == change("consultations", 6, 4)
    up = change("consultations", 6, 4)
    assert (up.percent, up.direction, up.better) == (50.0, "up", None)  # more work is neither
    slower = change("wait", 600, 60)
    assert (slower.percent, slower.direction, slower.better) == (900.0, "up", False)
    happier = change("satisfaction", 2.5, 4.0)
    assert (happier.percent, happier.direction, happier.better) == (-37.5, "down", False)
    fewer = change("abandon_rate", 0.5, 0.6667)
    assert (fewer.direction, fewer.better) == ("down", True)
    assert change("wait", 60, None).direction == "none" and change("wait", 60, 60).direction == "same"
    assert change("handled", 3, 0).percent is None  # from nothing: no percentage, still "up"


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_comparison_equals_the_hand_computed_figures(ctx: HubContext, two_weeks: None, rolled: bool) -> None:
    forget_cached_stats()
    if rolled:
        await build_days(ctx, date(2025, 3, 1), date(2026, 3, 19))
    s = await query_compared(ctx, *W11)
    t, p = s.totals, s.previous
    assert p is not None and (p.date_from, p.date_to) == W10
    assert (t.consultations, p.totals.consultations) == (6, 4)
    assert (t.wait.median_s, t.wait.p90_s, p.totals.wait.median_s, p.totals.wait.p90_s) == (600, 1800, 60, 120)
    assert (t.first_response.median_s, t.first_response.p90_s) == (1200, 1800)
    assert (p.totals.first_response.median_s, p.totals.first_response.p90_s) == (300, 600)
    assert (t.resolution.median_s, t.resolution.p90_s) == (3600, 7200)
    assert (p.totals.resolution.median_s, p.totals.resolution.p90_s) == (900, 1800)
    assert (t.abandon_rate, p.totals.abandon_rate) == (0.6667, 0.5)
    assert (s.satisfaction.average, p.satisfaction.average) == (2.5, 4.0)
    assert (s.satisfaction.response_rate, p.satisfaction.response_rate) == (0.6667, 0.5)
    assert s.year_ago is not None and s.year_ago.totals.consultations == 1
    assert (s.year_ago.date_from, s.year_ago.date_to) == (date(2025, 3, 9), date(2025, 3, 15))
    earlier = await query_compared(ctx, *W10)
    assert earlier.year_ago is None  # nothing recorded in March 2025's first week
    assert earlier.previous is not None and earlier.previous.totals.consultations == 0


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_trends_equal_the_hand_computed_figures(ctx: HubContext, two_weeks: None, rolled: bool) -> None:
    forget_cached_stats()
    if rolled:
        await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    weeks = await query_trends(ctx, W10[0], W11[1], "week")
    assert [p.period for p in weeks.points] == ["2026-W10", "2026-W11"]
    w10, w11 = weeks.points
    assert (w10.consultations, w10.wait_median_s, w10.wait_p90_s) == (4, 60, 120)
    assert (w11.consultations, w11.wait_median_s, w11.wait_p90_s) == (6, 600, 1800)
    assert (w10.first_response_median_s, w11.first_response_p90_s) == (300, 1800)
    assert (w10.resolution_p90_s, w11.resolution_median_s) == (1800, 3600)
    assert (w10.abandon_rate, w11.abandon_rate) == (0.5, 0.6667)
    assert (w10.satisfaction_average, w11.satisfaction_average) == (4.0, 2.5)
    assert (w10.survey_response_rate, w11.survey_response_rate) == (0.5, 0.6667)
    days = await query_trends(ctx, W10[0], W11[1], "day")
    assert len(days.points) == 14 and days.points[0].period == "2026-03-02"
    assert [p.consultations for p in days.points] == [2, 2, 0, 0, 0, 0, 0, 2, 1, 2, 1, 0, 0, 0]
    assert days.points[4].wait_median_s is None  # a day without samples is a gap, not a zero
    monday = days.points[7]
    assert (monday.wait_median_s, monday.wait_p90_s, monday.resolution_median_s) == (300, 600, 3600)
    months = await query_trends(ctx, date(2026, 2, 20), W11[1], "month")
    assert [(p.period, p.date_from, p.consultations) for p in months.points] == [
        ("2026-02", date(2026, 2, 20), 0), ("2026-03", date(2026, 3, 1), 10)]
    only_whatsapp = await query_trends(ctx, W10[0], W11[1], "week", channel="whatsapp")
    assert [p.consultations for p in only_whatsapp.points] == [2, 3]
    assert only_whatsapp.points[1].wait_median_s is None
    cells = await query_day_cells(ctx, *W11)
    assert cells[(date(2026, 3, 9), "email", "consultations")].n == 2


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_trends_by_topic_come_from_the_topic_roll_ups(ctx: HubContext, clock: FakeClock, rolled: bool) -> None:
    from dataclasses import dataclass

    from hub.actions.topics import do_create_topic, do_set_ticket_topics

    @dataclass
    class Manager:
        id: int
        role: str = "manager"

    boss = Manager(await do_create_agent(ctx, "m@oac.example", "Marta", "manager", "password123"))
    agent = await do_create_agent(ctx, "a@oac.example", "Agent A", "agent", "password123")
    census = (await do_create_topic(ctx, boss, {"ca": "Padró de prova", "es": "Padrón", "en": "Census"})).id
    taxes = (await do_create_topic(ctx, boss, {"ca": "Taxes de prova", "es": "Tasas", "en": "Taxes"})).id
    # Census: waits 60 (week 10) and 600 (week 11); taxes: wait 1800 (week 11); one ticket has both.
    both = await email(ctx, clock, utc(2, 9), agent, 60, 300, 900, 4)
    one = await email(ctx, clock, utc(9, 9), agent, 600, 900, 3600, None)
    other = await email(ctx, clock, utc(10, 9), agent, 1800, 1800, 7200, 2)
    await email(ctx, clock, utc(11, 9), agent, 120, 300, 600, None)  # no topic
    for ticket, topics in ((both, [census, taxes]), (one, [census]), (other, [taxes])):
        await do_set_ticket_topics(ctx, boss, ticket, topics)
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    forget_cached_stats()
    if rolled:
        await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    weeks = await query_trends(ctx, W10[0], W11[1], "week", topic_id=census)
    assert [(p.consultations, p.wait_median_s, p.satisfaction_average) for p in weeks.points] == [
        (1, 60, 4.0), (1, 600, None)]
    assert weeks.topic_id == census
    taxed = await query_trends(ctx, W10[0], W11[1], "week", topic_id=taxes)
    assert [(p.consultations, p.wait_median_s, p.resolution_median_s) for p in taxed.points] == [
        (1, 60, 900), (1, 1800, 7200)]
    everyone = await query_trends(ctx, W10[0], W11[1], "week")
    assert [p.consultations for p in everyone.points] == [1, 3]


@pytest.fixture
async def topics(ctx: HubContext, clock: FakeClock) -> dict[str, int]:
    """Census: one consultation in week 10 (with taxes too) and one in week 11; taxes: that one
    and another in week 11; one consultation in week 11 has no topic. Returns the ids."""
    from dataclasses import dataclass

    from hub.actions.topics import do_create_topic, do_set_ticket_topics

    @dataclass
    class Manager:
        id: int
        role: str = "manager"

    boss = Manager(await do_create_agent(ctx, "m@oac.example", "Marta", "manager", "password123"))
    agent = await do_create_agent(ctx, "a@oac.example", "Agent A", "agent", "password123")
    census = (await do_create_topic(ctx, boss, {"ca": "Padró de prova", "es": "Padrón", "en": "Census"})).id
    taxes = (await do_create_topic(ctx, boss, {"ca": "Taxes de prova", "es": "Tasas", "en": "Taxes"})).id
    both = await email(ctx, clock, utc(2, 9), agent, 60, 300, 900, 4)
    one = await email(ctx, clock, utc(9, 9), agent, 600, 900, 3600, None)
    other = await email(ctx, clock, utc(10, 9), agent, 1800, 1800, 7200, 2)
    none = await email(ctx, clock, utc(11, 9), agent, 120, 300, 600, None)
    for ticket, chosen in ((both, [census, taxes]), (one, [census]), (other, [taxes])):
        await do_set_ticket_topics(ctx, boss, ticket, chosen)
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    return {"census": census, "taxes": taxes, "agent": agent, "both": both, "one": one, "other": other,
            "none": none}


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_key_figures_and_comparison_by_topic(ctx: HubContext, topics: dict[str, int], rolled: bool) -> None:
    forget_cached_stats()
    if rolled:
        await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    census = await query_compared(ctx, *W11, topic_id=topics["census"])
    t, p = census.totals, census.previous
    assert census.topic_id == topics["census"] and p is not None
    # Week 11: the one census consultation (wait 600, first response 900, resolution 3600, its
    # survey unanswered); week 10: the one with both topics (60, 300, 900, rated 4).
    assert (t.consultations, t.handled, t.wait.median_s, t.first_response.median_s, t.resolution.median_s) == (
        1, 1, 600, 900, 3600)
    assert (census.satisfaction.sent, census.satisfaction.answered, census.satisfaction.average) == (1, 0, None)
    assert (p.totals.consultations, p.totals.wait.median_s, p.totals.resolution.p90_s) == (1, 60, 900)
    assert (p.satisfaction.average, p.satisfaction.response_rate) == (4.0, 1.0)
    assert (census.calls.answered, census.calls.missed) == (0, 0)  # calls have no topic
    assert [(d.period, d.total) for d in census.daily] == [("2026-03-09", 1)]
    assert [a.figures.handled for a in census.by_agent] == [1]
    assert [x.topic_id for x in census.by_topic] == [topics["census"]]
    taxes = await query_compared(ctx, *W11, topic_id=topics["taxes"])
    assert (taxes.totals.consultations, taxes.totals.wait.median_s, taxes.totals.resolution.median_s) == (1, 1800, 7200)
    assert (taxes.satisfaction.average, taxes.previous.totals.wait.median_s) == (2.0, 60)  # type: ignore[union-attr]
    everyone = await query_compared(ctx, *W11)
    assert (everyone.totals.consultations, everyone.totals.wait.median_s, everyone.totals.wait.p90_s) == (3, 600, 1800)
    assert everyone.topic_id is None


async def test_a_whole_month_by_topic_comes_from_the_monthly_topic_roll_ups(
        ctx: HubContext, clock: FakeClock, topics: dict[str, int]) -> None:
    from sqlalchemy import func, select

    from hub.db.tables import stats_monthly_topic

    clock.set(datetime(2026, 4, 2, 12, 0, tzinfo=UTC))
    forget_cached_stats()
    await build_days(ctx, date(2026, 3, 1), date(2026, 4, 1))
    async with ctx.sessionmaker() as s:
        rows = (await (await s.connection()).execute(
            select(stats_monthly_topic.c.topic_id, func.sum(stats_monthly_topic.c.n))
            .where(stats_monthly_topic.c.metric == "consultations").group_by(stats_monthly_topic.c.topic_id)
            .order_by(stats_monthly_topic.c.topic_id))).all()
    assert [tuple(r) for r in rows] == [(topics["census"], 2), (topics["taxes"], 2)]
    march = await query_compared(ctx, date(2026, 3, 1), date(2026, 3, 31), topic_id=topics["taxes"])
    t = march.totals
    # Waits 60 and 1800: the median is the first sample's bucket, the p90 the second's.
    assert (t.consultations, t.wait.median_s, t.wait.p90_s, t.resolution.median_s, t.resolution.p90_s) == (
        2, 60, 1800, 900, 7200)
    assert (march.satisfaction.average, march.satisfaction.distribution) == (3.0, [0, 1, 0, 1, 0])
    assert [(d.period, d.total) for d in march.daily] == [("2026-03-02", 1), ("2026-03-10", 1)]
    assert march.days_computed_live == 0
    assert march.previous is not None and march.previous.totals.consultations == 0

