"""Each metric of docs/metrics.md on hand-built timelines, with exact expected numbers.

The timelines go through the real actions with a fake clock, so the events are the ones the hub
records in production. Every figure is checked twice: computed live from the events, and from
the daily roll-ups after the scheduler's `build_days`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.calls import CallEntry, do_log_call
from hub.actions.lifecycle import do_assign, do_fire_timer, do_resolve, do_unassign
from hub.actions.messages import do_receive_message, do_reply
from hub.actions.survey import do_answer_survey
from hub.actors import Actor
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Call
from hub.inbound import IdentityIn, InboundMessage
from hub.rollups import build_days, query_backlog, query_stats
from hub.stats import EDGES, Ev, bucket, facts_of, percentile

DAY = date(2026, 3, 2)  # a Monday; the fake clock starts at 09:00 UTC = 10:00 in Madrid
MADRID = ZoneInfo("Europe/Madrid")


def msg(clock: FakeClock, channel: str, sid: str, who: str, body: str = "Hola") -> InboundMessage:
    kind = "email" if channel == "email" else "phone"
    return InboundMessage(channel=channel, provider_id=sid, received_at=clock.now(), body=body,
                          identities=[IdentityIn(kind, who)], subject="Consulta" if channel == "email" else "")


async def at(clock: FakeClock, hh: int, mm: int) -> None:
    clock.set(datetime(2026, 3, 2, hh, mm, tzinfo=UTC))


async def office_day(ctx: HubContext, clock: FakeClock) -> dict[str, int]:
    """Five consultations on 2 March 2026 covering the documented edge cases."""
    ids = {}
    for name in ("X", "A", "B", "C"):
        ids[name] = await do_create_agent(ctx, f"{name.lower()}@oac.example", f"Agent {name}", "agent", "password123")
    t = {}
    await at(clock, 9, 0)
    t["wa"] = (await do_receive_message(ctx, msg(clock, "whatsapp", "W1", "+34600000001"))).ticket_id
    t["wa_abandoned"] = (await do_receive_message(ctx, msg(clock, "whatsapp", "W2", "+34600000002"))).ticket_id
    t["mail_transfer"] = (await do_receive_message(ctx, msg(clock, "email", "E1", "a@example.org"))).ticket_id
    t["mail_noreply"] = (await do_receive_message(ctx, msg(clock, "email", "E2", "b@example.org"))).ticket_id
    await at(clock, 9, 2)
    await do_assign(ctx, t["mail_transfer"], ids["A"], by_agent_id=ids["A"])
    await at(clock, 9, 3)
    await do_receive_message(ctx, msg(clock, "whatsapp", "W3", "+34600000001", "Anna"))  # identified, queued
    await at(clock, 9, 4)
    # A 4-minute call that started at 09:00, logged by A as resolved on the call.
    await do_log_call(ctx, CallEntry(number="+34973000001", duration_s=240, agent_id=ids["A"], topic="Padró"))
    await at(clock, 9, 5)
    await do_unassign(ctx, t["mail_transfer"])  # handed back: a second queue stay starts
    await at(clock, 9, 8)
    await do_assign(ctx, t["wa"], ids["X"], by_agent_id=ids["X"])
    await at(clock, 9, 10)
    await do_reply(ctx, t["wa"], ids["X"], "Bon dia Anna")
    await at(clock, 9, 15)
    await do_assign(ctx, t["mail_transfer"], ids["B"], by_agent_id=ids["B"])
    await at(clock, 9, 20)
    assert await do_fire_timer(ctx, t["wa_abandoned"]) == "reminder"
    # Transfer B -> C (by C acting as a supervisor: an agent may not take a colleague's ticket).
    await do_assign(ctx, t["mail_transfer"], ids["C"], by_agent_id=Actor.agent(ids["C"], "manager"))
    await at(clock, 9, 30)
    await do_reply(ctx, t["mail_transfer"], ids["C"], "Hola, aquí tens la resposta")
    await at(clock, 9, 33)
    survey = await do_resolve(ctx, t["wa"], ids["X"])
    await at(clock, 9, 40)
    assert await do_fire_timer(ctx, t["wa_abandoned"]) == "close"
    await at(clock, 9, 45)
    await do_resolve(ctx, t["mail_noreply"], ids["A"])  # resolved without any reply
    await at(clock, 10, 0)
    await do_resolve(ctx, t["mail_transfer"], ids["C"])
    assert survey.survey_url
    await do_answer_survey(ctx, survey.survey_url.rsplit("/", 1)[1], 5, "Molt amable")
    return ids


@pytest.fixture
async def day(ctx: HubContext, clock: FakeClock) -> dict[str, int]:
    return await office_day(ctx, clock)


@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_figures_of_a_hand_built_day(ctx: HubContext, clock: FakeClock, day: dict[str, int], rolled: bool) -> None:
    clock.set(datetime(2026, 3, 3, 12, 0, tzinfo=UTC))
    if rolled:
        assert await build_days(ctx, DAY, DAY) == 1
    s = await query_stats(ctx, DAY, DAY)
    assert (s.days_from_rollups, s.days_computed_live) == ((1, 0) if rolled else (0, 1))
    f = s.totals
    assert f.consultations == 5
    assert (f.identified, f.abandoned, f.abandon_rate) == (1, 1, 0.5)
    assert (f.identification.count, f.identification.average_s) == (1, 180.0)
    # Queue stays: wa 09:03-09:08 (300), mail A 09:00-09:02 (120), mail B 09:05-09:15 (600),
    # no-reply mail 09:00-09:45 resolved from the queue (2700); the phone call never queued.
    assert (f.wait.count, f.wait.average_s, f.wait.median_s, f.wait.p90_s) == (4, 930.0, 300, 2700)
    # First responses from the first queue entry: wa 420 s (identification excluded), mail 1800 s.
    assert (f.first_response.count, f.first_response.average_s) == (2, 1110.0)
    assert (f.first_response.median_s, f.first_response.p90_s) == (450, 1800)
    # Resolutions: wa 1800, transferred mail 3600, no-reply mail 2700, phone on the call 0.
    assert (f.resolution.count, f.resolution.average_s, f.resolution.median_s, f.resolution.p90_s) == (
        4, 2025.0, 1800, 3600)
    assert (f.handled, f.resolved_without_reply, f.transfers) == (4, 2, 1)
    assert (f.surveys_sent, f.surveys_answered, f.satisfaction_average) == (3, 1, 5.0)

    by_channel = {c.channel: c.figures for c in s.by_channel}
    assert set(by_channel) == {"whatsapp", "email", "phone"}
    assert (by_channel["whatsapp"].consultations, by_channel["whatsapp"].abandon_rate) == (2, 0.5)
    assert by_channel["email"].abandon_rate is None  # no identification phase on email
    assert by_channel["phone"].first_response.count == 0  # answered on the call, no written reply
    assert (by_channel["phone"].resolution.count, by_channel["phone"].resolution.average_s) == (1, 0.0)
    assert by_channel["phone"].wait.count == 0
    assert (s.calls.answered, s.calls.missed, s.calls.ring_wait.count, s.calls.talk.average_s) == (1, 0, 0, 240.0)

    by_agent = {a.name: a.figures for a in s.by_agent}
    assert {n: a.handled for n, a in by_agent.items()} == {"Agent X": 1, "Agent A": 2, "Agent B": 0, "Agent C": 1}
    # The transferred ticket's resolution and first reply belong to C, its waits to A and B.
    assert (by_agent["Agent C"].resolution.average_s, by_agent["Agent C"].first_response.average_s) == (3600.0, 1800.0)
    assert by_agent["Agent C"].transfers == 1
    assert (by_agent["Agent B"].wait.count, by_agent["Agent B"].wait.average_s) == (1, 600.0)
    assert (by_agent["Agent A"].wait.count, by_agent["Agent A"].resolved_without_reply) == (2, 2)
    assert by_agent["Agent X"].satisfaction_average == 5.0

    sat = s.satisfaction
    assert (sat.sent, sat.answered, sat.response_rate, sat.average, sat.share_4_5) == (3, 1, 0.3333, 5.0, 1.0)
    assert sat.distribution == [0, 0, 0, 0, 1]
    assert [(c.rating, c.comment, c.channel, c.agent_name) for c in s.comments] == [
        (5, "Molt amable", "whatsapp", "Agent X")]

    assert [(p.period, p.total, p.by_channel) for p in s.daily] == [
        ("2026-03-02", 5, {"email": 2, "phone": 1, "whatsapp": 2})]
    assert [p.period for p in s.weekly] == ["2026-W10"] and [p.period for p in s.monthly] == ["2026-03"]
    assert s.busiest_hours[0][10] == 5  # Monday, 10:00 in Madrid (09:00 UTC)
    assert sum(map(sum, s.busiest_hours)) == 5


async def test_filters_keep_one_channel_or_one_agent(ctx: HubContext, clock: FakeClock, day: dict[str, int]) -> None:
    clock.set(datetime(2026, 3, 3, 12, 0, tzinfo=UTC))
    await build_days(ctx, DAY, DAY)
    email = await query_stats(ctx, DAY, DAY, channel="email")
    assert (email.totals.consultations, email.totals.handled, email.totals.abandoned) == (2, 2, 0)
    assert [c.channel for c in email.by_channel] == ["email"] and email.comments == []
    agent_c = await query_stats(ctx, DAY, DAY, agent_id=day["C"])
    # Creation is attributed to nobody: with an agent filter only that agent's figures remain.
    assert (agent_c.totals.consultations, agent_c.totals.handled, agent_c.totals.transfers) == (0, 1, 1)
    assert agent_c.totals.resolution.average_s == 3600.0


async def test_a_range_adds_rolled_days_and_the_live_today(ctx: HubContext, clock: FakeClock, day: dict[str, int]) -> None:
    clock.set(datetime(2026, 3, 3, 8, 0, tzinfo=UTC))
    await build_days(ctx, DAY, DAY)
    await do_receive_message(ctx, msg(clock, "email", "E9", "c@example.org"))  # today, not rolled up
    s = await query_stats(ctx, DAY, date(2026, 3, 31))
    assert (s.days_from_rollups, s.days_computed_live) == (1, 1)  # future days are not computed
    assert s.totals.consultations == 6
    assert [(p.period, p.total) for p in s.daily] == [("2026-03-02", 5), ("2026-03-03", 1)]
    assert s.busiest_hours[1][9] == 1  # Tuesday 09:00 Madrid


async def test_days_are_office_days_in_the_configured_time_zone(ctx: HubContext, clock: FakeClock) -> None:
    # 23:30 UTC on Monday is 00:30 on Tuesday in Madrid.
    clock.set(datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    await do_receive_message(ctx, msg(clock, "email", "E1", "late@example.org"))
    clock.set(datetime(2026, 3, 5, 12, 0, tzinfo=UTC))
    monday = await query_stats(ctx, DAY, DAY)
    tuesday = await query_stats(ctx, date(2026, 3, 3), date(2026, 3, 3))
    assert (monday.totals.consultations, tuesday.totals.consultations) == (0, 1)
    assert tuesday.busiest_hours[1][0] == 1


async def test_daylight_saving_day_has_23_hours(ctx: HubContext, clock: FakeClock) -> None:
    # 29 March 2026: Madrid jumps from 02:00 to 03:00. 22:30 UTC on the 29th is 00:30 on the 30th.
    for sid, moment in (("E1", datetime(2026, 3, 28, 23, 30, tzinfo=UTC)),  # 00:30 on the 29th
                        ("E2", datetime(2026, 3, 29, 21, 59, tzinfo=UTC)),  # 23:59 on the 29th
                        ("E3", datetime(2026, 3, 29, 22, 0, tzinfo=UTC))):  # 00:00 on the 30th
        clock.set(moment)
        await do_receive_message(ctx, msg(clock, "email", sid, f"{sid}@example.org"))
    clock.set(datetime(2026, 4, 1, tzinfo=UTC))
    await build_days(ctx, date(2026, 3, 28), date(2026, 3, 30))
    s = await query_stats(ctx, date(2026, 3, 28), date(2026, 3, 30))
    assert [(p.period, p.total) for p in s.daily] == [("2026-03-29", 2), ("2026-03-30", 1)]


async def test_calls_answered_missed_and_called_back(ctx: HubContext, clock: FakeClock) -> None:
    # The phone engineer's actions write `calls`; here the rows are laid down as they would be.
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    agent = await do_create_agent(ctx, "p@oac.example", "Agent P", "agent", "password123")
    rows = [
        Call(direction="inbound", outcome="answered", started_at=start, wait_s=20, duration_s=300, agent_id=agent),
        Call(direction="inbound", outcome="answered", started_at=start, wait_s=60, duration_s=100, agent_id=agent),
        Call(direction="inbound", outcome="missed", started_at=start, done=True, number="+34600000009"),
        Call(direction="inbound", outcome="voicemail", started_at=start, done=False, number="+34600000008"),
        Call(direction="inbound", outcome="busy", started_at=start, done=False, number="+34600000007"),
        # Not a call-back: anonymous missed calls are "done" at once because nobody can call them.
        Call(direction="inbound", outcome="missed", started_at=start, done=True, number="anonymous"),
        Call(direction="inbound", outcome=None, state="ringing", started_at=start, done=True),  # not ended yet
        Call(direction="outbound", outcome="answered", started_at=start, duration_s=120, agent_id=agent),
    ]
    async with ctx.sessionmaker() as session:
        for row in rows:
            row.created_at = start
            session.add(row)
        await session.commit()
    clock.set(datetime(2026, 3, 3, 12, 0, tzinfo=UTC))
    for rolled in (False, True):
        if rolled:
            await build_days(ctx, DAY, DAY)
        c = (await query_stats(ctx, DAY, DAY)).calls
        assert (c.answered, c.missed, c.called_back, c.outbound, c.answer_rate) == (2, 4, 1, 1, 0.3333)
        assert (c.ring_wait.count, c.ring_wait.average_s, c.ring_wait.median_s, c.ring_wait.p90_s) == (2, 40.0, 30, 60)
        assert (c.talk.count, c.talk.average_s) == (3, 173.3)


async def test_backlog_now(ctx: HubContext, clock: FakeClock) -> None:
    a = await do_create_agent(ctx, "a@oac.example", "Agent A", "agent", "password123")
    await do_create_agent(ctx, "b@oac.example", "Agent B", "agent", "password123")
    await do_set_presence(ctx, a, "away")
    await do_receive_message(ctx, msg(clock, "email", "E1", "a@example.org"))
    await do_receive_message(ctx, msg(clock, "whatsapp", "W1", "+34600000001"))
    clock.advance(minutes=7)
    await do_receive_message(ctx, msg(clock, "email", "E2", "b@example.org"))
    clock.advance(minutes=1)
    b = await query_backlog(ctx)
    assert (b.waiting, b.identifying, b.assigned, b.pending) == (2, 1, 0, 0)
    assert (b.longest_wait_s, b.agents_available, b.agents_away) == (480, 0, 1)
    assert b.by_channel == {"email": {"waiting": 2}, "whatsapp": {"identifying": 1}}
    await do_set_presence(ctx, a, "available")  # auto-assignment is not triggered by this alone
    assert (await query_backlog(ctx)).agents_available == 1


def test_percentiles_are_the_smallest_edge_covering_the_share() -> None:
    assert bucket(0) == 0 and bucket(15) == 0 and bucket(15.5) == 1 and bucket(60) == 2
    assert bucket(10**9) == len(EDGES)
    bins = [0] * 36
    for v in (60, 120, 600):
        bins[bucket(v)] += 1
    assert (percentile(bins, 50), percentile(bins, 90)) == (120, 600)
    assert percentile([0] * 36, 50) is None
    huge = [0] * 36
    huge[bucket(10**8)] = 1
    assert percentile(huge, 50) == EDGES[-1]  # read "30 days or more"


def test_a_history_cut_before_its_creation_yields_nothing_and_reassignments_wait_twice() -> None:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    m = lambda minutes: t0 + timedelta(minutes=minutes)  # noqa: E731
    assert list(facts_of("email", [Ev("resolved", m(5), 1)], MADRID)) == []
    history = [Ev("created", m(0)), Ev("queued", m(0)), Ev("assigned", m(1), 7), Ev("unassigned", m(2)),
               Ev("queued", m(2)), Ev("assigned", m(5), 8), Ev("agent_replied", m(6), 8),
               Ev("first_agent_reply", m(6), 8), Ev("resolved", m(9), 8), Ev("survey_sent", m(9))]
    facts = [(f.metric, f.agent_id, f.value) for f in facts_of("email", history, MADRID) if f.metric != "consultations"]
    assert facts == [("wait", 7, 60), ("wait", 8, 180), ("first_response", 8, 360), ("resolution", 8, 540),
                     ("survey_sent", 8, None)]
