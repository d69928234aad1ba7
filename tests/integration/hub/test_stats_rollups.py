"""The daily roll-ups agree with a direct computation over random histories (hypothesis).

Random sequences of real actions (new consultations on every channel, identification, timers,
assignment, hand-back, transfer, replies, resolution, survey answers) run with a fake clock that
jumps minutes to hours, across days and the March daylight-saving change. Then the statistics
computed entirely from the events are compared with those from roll-ups of a random prefix of
the days plus the live remainder: they must be identical.
"""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings, strategies as st

from hub.actions.agents import do_create_agent
from hub.actions.errors import DomainError
from hub.actions.lifecycle import do_assign, do_fire_timer, do_resolve, do_unassign
from hub.actions.messages import do_receive_message, do_reply
from hub.actions.survey import do_answer_survey
from hub.clock import FakeClock
from hub.context import HubContext
from hub.inbound import IdentityIn, InboundMessage
from hub.rollups import build_days, build_partial, forget_cached_stats, query_stats
from tests.conftest import make_settings
from tests.support import databases, services

START = datetime(2026, 3, 27, 20, 0, tzinfo=UTC)  # the DST change (29 March) falls inside

op = st.tuples(
    st.integers(min_value=0, max_value=400),  # minutes to advance first
    st.sampled_from(["whatsapp", "email", "phone", "citizen", "assign", "unassign", "reply", "resolve",
                     "timer", "survey"]),
    st.integers(min_value=0, max_value=7),  # which ticket (among those opened)
    st.integers(min_value=0, max_value=2),  # which agent
    st.integers(min_value=1, max_value=5),  # a rating
)


def _db_url(tmp: Path) -> str:
    if databases.backend() == "postgres":
        url = databases.postgres_database(services.require_postgres(), purpose="rollups")
        asyncio.run(databases.truncate_postgres(url))
        return url
    return databases.sqlite_url(tmp)


async def _play(ctx: HubContext, clock: FakeClock, ops: list[tuple[int, str, int, int, int]]) -> None:
    agents = [await do_create_agent(ctx, f"a{i}@oac.example", f"Agent {i}", "agent", "password123") for i in range(3)]
    tickets: list[tuple[int, str, str]] = []  # (ticket id, channel, identity)
    tokens: dict[int, str] = {}
    for n, (minutes, action, ti, ai, rating) in enumerate(ops):
        clock.advance(minutes=minutes)
        agent = agents[ai]
        try:
            if action in ("whatsapp", "email", "phone"):
                who = f"+3460000{n:04d}" if action != "email" else f"c{n}@example.org"
                kind = "email" if action == "email" else "phone"
                got = await do_receive_message(ctx, InboundMessage(
                    channel=action, provider_id=f"P{n}", received_at=clock.now(), body="Hola",
                    identities=[IdentityIn(kind, who)]))
                if got.new_ticket and got.ticket_id is not None:
                    tickets.append((got.ticket_id, action, who))
                continue
            if not tickets:
                continue
            ticket_id, channel, who = tickets[ti % len(tickets)]
            if action == "citizen":
                kind = "email" if channel == "email" else "phone"
                await do_receive_message(ctx, InboundMessage(
                    channel=channel, provider_id=f"P{n}", received_at=clock.now(), body="Maria Puig",
                    identities=[IdentityIn(kind, who)], ticket_id=ticket_id if channel == "email" else None))
            elif action == "assign":
                await do_assign(ctx, ticket_id, agent, by_agent_id=agent)
            elif action == "unassign":
                await do_unassign(ctx, ticket_id)
            elif action == "reply":
                await do_reply(ctx, ticket_id, agent, "Resposta")
            elif action == "resolve":
                resolved = await do_resolve(ctx, ticket_id, agent)
                if resolved.survey_url:
                    tokens[ticket_id] = resolved.survey_url.rsplit("/", 1)[1]
            elif action == "timer":
                clock.advance(minutes=45)
                await do_fire_timer(ctx, ticket_id)
            elif action == "survey" and ticket_id in tokens:
                await do_answer_survey(ctx, tokens[ticket_id], rating, "comentari" if rating % 2 else "")
        except DomainError:
            pass  # an illegal step in that state: refused, nothing changed


def _comparable(stats):  # type: ignore[no-untyped-def]
    import msgspec

    data = msgspec.to_builtins(stats)
    data.pop("days_from_rollups")
    data.pop("days_computed_live")
    return data


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op, min_size=5, max_size=30), rolled=st.integers(min_value=0, max_value=12),
       window=st.tuples(st.integers(min_value=0, max_value=8), st.integers(min_value=0, max_value=8)),
       watermark=st.integers(min_value=0, max_value=24 * 60))
def test_rollups_agree_with_the_events(ops: list[tuple[int, str, int, int, int]], rolled: int,
                                       window: tuple[int, int], watermark: int) -> None:
    async def run(tmp: Path, url: str) -> None:
        clock = FakeClock(START)
        ctx = HubContext.create(make_settings(tmp, url), clock)
        try:
            await _play(ctx, clock, ops)
            clock.advance(hours=1)
            first, last = date(2026, 3, 27), clock.now().date() + timedelta(days=1)
            a = first + timedelta(days=min(window)); b = first + timedelta(days=max(window))  # noqa: E702
            ranges = [(first, last), (a, b)]
            direct = [await query_stats(ctx, f, t) for f, t in ranges]
            assert all(s.days_from_rollups == 0 for s in direct)
            upto = min(first + timedelta(days=rolled), last - timedelta(days=1))
            await build_days(ctx, first, upto)
            # The next day rolled up only to a watermark (as the scheduler does for today).
            await build_partial(ctx, upto + timedelta(days=1),
                                datetime.combine(upto + timedelta(days=1), datetime.min.time(), UTC)
                                + timedelta(minutes=watermark))
            mixed = [await query_stats(ctx, f, t) for f, t in ranges]
            assert mixed[0].days_from_rollups > 0
            for d, m in zip(direct, mixed):
                assert _comparable(m) == _comparable(d)
        finally:
            await ctx.close()

    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(run(Path(tmp), _db_url(Path(tmp))))  # migrating runs its own loop: outside ours


async def test_the_scheduler_rolls_up_finished_days_and_rerolls_recent_ones(runtime: HubContext, clock: FakeClock) -> None:
    from hub.db.tables import Call, StatsDay
    from runtime.scheduler import tick

    ctx = runtime
    clock.set(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    await do_receive_message(ctx, InboundMessage(channel="email", provider_id="E1", received_at=clock.now(),
                                                 body="Hola", identities=[IdentityIn("email", "a@example.org")]))
    async with ctx.sessionmaker() as s:  # a missed call, laid down as the phone actions would
        call = Call(direction="inbound", outcome="missed", number="+34600000001", started_at=clock.now(),
                    done=False, created_at=clock.now())
        s.add(call)
        await s.commit()
    clock.advance(minutes=20)
    await tick(ctx)
    monday = date(2026, 3, 2)
    async with ctx.sessionmaker() as s:  # today is rolled up to a watermark (15 min ago, 5-min steps)
        today = await s.get(StatsDay, monday)
        assert today is not None and today.partial_until == datetime(2026, 3, 2, 9, 5, tzinfo=UTC)
    s0 = await query_stats(ctx, monday, monday)
    assert (s0.days_from_rollups, s0.days_computed_live, s0.totals.consultations) == (1, 1, 1)
    clock.set(datetime(2026, 3, 3, 6, 0, tzinfo=UTC))
    await tick(ctx)
    s1 = await query_stats(ctx, monday, monday)
    assert (s1.days_from_rollups, s1.totals.consultations, s1.calls.missed, s1.calls.called_back) == (1, 1, 1, 0)
    async with ctx.sessionmaker() as s:  # the citizen was called back on Tuesday
        row = await s.get(Call, call.id)
        assert row is not None
        row.done = True
        s.add(row)
        await s.commit()
    await tick(ctx)
    assert (await query_stats(ctx, monday, monday)).calls.called_back == 0  # re-rolled at most hourly
    clock.advance(hours=1, seconds=1)
    await tick(ctx)
    assert (await query_stats(ctx, monday, monday)).calls.called_back == 1


async def test_whole_months_come_from_the_monthly_rollup_and_agree(ctx: HubContext, clock: FakeClock) -> None:
    from sqlalchemy import func, select

    from hub.db.tables import stats_monthly

    agent = await do_create_agent(ctx, "a@oac.example", "Agent A", "agent", "password123")
    clock.set(datetime(2026, 1, 28, 10, 0, tzinfo=UTC))
    n = 0
    while clock.now() < datetime(2026, 3, 4, tzinfo=UTC):
        n += 1
        got = await do_receive_message(ctx, InboundMessage(
            channel="email", provider_id=f"E{n}", received_at=clock.now(), body="Hola",
            identities=[IdentityIn("email", f"c{n}@example.org")]))
        assert got.ticket_id is not None
        clock.advance(minutes=7 * n % 50)
        await do_assign(ctx, got.ticket_id, agent, by_agent_id=agent)
        if n % 3:
            clock.advance(minutes=11)
            await do_reply(ctx, got.ticket_id, agent, "Resposta")
        clock.advance(hours=n % 30)
        await do_resolve(ctx, got.ticket_id, agent)
        clock.advance(hours=19)
    clock.set(datetime(2026, 3, 10, 12, 0, tzinfo=UTC))
    first, last = date(2026, 1, 20), date(2026, 3, 5)
    live = await query_stats(ctx, first, last)
    await build_days(ctx, date(2026, 1, 25), date(2026, 3, 2))  # all of February, ragged ends
    async with ctx.sessionmaker() as s:
        months = (await (await s.connection()).execute(select(stats_monthly.c.month, func.sum(stats_monthly.c.n))
                                  .group_by(stats_monthly.c.month).order_by(stats_monthly.c.month))).all()
    assert [m for m, _ in months] == [date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)]
    mixed = await query_stats(ctx, first, last)
    assert (mixed.days_from_rollups, mixed.days_computed_live) == (37, 8)
    assert live.totals.consultations == n and live.totals.handled == n
    assert _comparable(mixed) == _comparable(live)
    # Re-rolling a February day keeps the month right.
    await build_days(ctx, date(2026, 2, 14), date(2026, 2, 14))
    assert _comparable(await query_stats(ctx, first, last)) == _comparable(live)
    # February's figures are read from the monthly rows: hiding its daily resolution rows changes nothing.
    from sqlalchemy import and_, delete

    from hub.db.tables import stats_daily
    async with ctx.sessionmaker() as s:
        await (await s.connection()).execute(delete(stats_daily).where(and_(
            stats_daily.c.metric == "resolution", stats_daily.c.day >= date(2026, 2, 1),
            stats_daily.c.day <= date(2026, 2, 28))))
        await s.commit()
    forget_cached_stats()  # rows changed by hand, not by a rebuild
    assert (await query_stats(ctx, first, last)).totals.resolution == live.totals.resolution
    assert _comparable(await query_stats(ctx, date(2026, 2, 1), date(2026, 2, 28))) == _comparable(
        await _all_live(ctx, date(2026, 2, 1), date(2026, 2, 28)))


async def _all_live(ctx: HubContext, first: date, last: date):  # type: ignore[no-untyped-def]
    """The same query with the roll-ups hidden: everything from the events."""
    from sqlalchemy import delete

    from hub.db.tables import StatsDay, stats_daily, stats_monthly

    async with ctx.sessionmaker() as s:
        await (await s.connection()).execute(delete(stats_daily))
        await (await s.connection()).execute(delete(stats_monthly))
        await (await s.connection()).execute(delete(StatsDay))
        await s.commit()
    return await query_stats(ctx, first, last)


def test_hub_stats_rebuild_builds_finished_days(settings, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    from entrypoints.cli import main

    async def history() -> None:
        ctx = HubContext.create(settings, FakeClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC)))
        try:
            await do_receive_message(ctx, InboundMessage(
                channel="email", provider_id="E1", received_at=ctx.clock.now(), body="Hola",
                identities=[IdentityIn("email", "a@example.org")]))
        finally:
            await ctx.close()

    asyncio.run(history())
    monkeypatch.setenv("HUB_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(settings.data_dir))
    assert main(["stats", "rebuild", "--from", "2026-03-01", "--to", "2026-03-03"]) == 0
    assert "rebuilt 3 days (2026-03-01 to 2026-03-03)" in capsys.readouterr().out

    async def built() -> int:
        ctx = HubContext.create(settings, FakeClock(datetime(2026, 3, 10, tzinfo=UTC)))
        try:
            s = await query_stats(ctx, date(2026, 3, 2), date(2026, 3, 2))
            assert s.totals.consultations == 1
            return s.days_from_rollups
        finally:
            await ctx.close()

    assert asyncio.run(built()) == 1
