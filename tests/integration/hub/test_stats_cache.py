"""The cached sums of the roll-ups are never stale and never changed by an answer.

`query_stats` and `query_day_cells` keep the sums of the rolled-up days (finished days and
today's partial roll-up) in memory, keyed by the build state of the range's days in
`stats_days`. A rebuild by another process (the scheduler) must be seen at once, a consultation
after today's watermark must be counted in the next answer, and answering twice must give the
same figures (the live cells are added to new cells, never to the cached ones).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import msgspec

from hub import rollups
from hub.actions.agents import do_create_agent
from hub.actions.lifecycle import do_assign, do_resolve
from hub.actions.messages import do_receive_message
from hub.clock import FakeClock
from hub.context import HubContext
from hub.inbound import IdentityIn, InboundMessage
from hub.rollups import build_days, build_partial, query_day_cells, query_stats

DAY = date(2026, 3, 4)  # a Wednesday


async def _consultation(ctx: HubContext, clock: FakeClock, n: int, agent: int) -> None:
    got = await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id=f"E{n}", received_at=clock.now(), body="Hola",
        identities=[IdentityIn("email", f"c{n}@example.org")]))
    assert got.ticket_id is not None
    clock.advance(minutes=3 + n)
    await do_assign(ctx, got.ticket_id, agent, by_agent_id=agent)
    clock.advance(minutes=10)
    await do_resolve(ctx, got.ticket_id, agent)


def _figures(stats):  # type: ignore[no-untyped-def]
    data = msgspec.to_builtins(stats)
    data.pop("days_from_rollups")
    data.pop("days_computed_live")
    return data


async def _in_another_process(build) -> None:  # type: ignore[no-untyped-def]
    """Run a build as another process would: this process's generation counter does not move."""
    generation = rollups._CACHE.generation
    await build
    rollups._CACHE.generation = generation


async def test_a_rebuild_elsewhere_and_a_new_consultation_are_seen_at_once(ctx: HubContext, clock: FakeClock) -> None:
    agent = await do_create_agent(ctx, "a@oac.example", "Agent A", "agent", "password123")
    clock.set(datetime(2026, 3, 3, 9, 0, tzinfo=UTC))
    await _consultation(ctx, clock, 1, agent)  # yesterday
    clock.set(datetime(2026, 3, 4, 8, 0, tzinfo=UTC))
    for n in range(2, 5):
        await _consultation(ctx, clock, n, agent)
    clock.set(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    await build_days(ctx, DAY - timedelta(days=1), DAY - timedelta(days=1))
    await build_partial(ctx, DAY, datetime(2026, 3, 4, 8, 10, tzinfo=UTC))  # the first consultation only
    first, last = DAY - timedelta(days=1), DAY

    one = await query_stats(ctx, first, last)
    assert (one.totals.consultations, one.totals.handled, one.days_from_rollups) == (4, 4, 2)
    # Answering again gives the same figures: the live part was not added into the cached cells.
    assert _figures(await query_stats(ctx, first, last)) == _figures(one)
    assert _figures(await query_stats(ctx, first, last)) == _figures(one)
    days = await query_day_cells(ctx, first, last)
    assert days[(DAY, "email", "consultations")].n == 3
    assert (await query_day_cells(ctx, first, last))[(DAY, "email", "consultations")].n == 3

    # A consultation now (after the watermark) is in the very next answer.
    await _consultation(ctx, clock, 5, agent)
    two = await query_stats(ctx, first, last)
    assert (two.totals.consultations, two.totals.handled) == (5, 5)
    assert (await query_day_cells(ctx, first, last))[(DAY, "email", "consultations")].n == 4

    # Another process moves today's watermark and rebuilds yesterday (after its rows were
    # changed under it): this process's answers follow the new `stats_days` state.
    await _in_another_process(build_partial(ctx, DAY, datetime(2026, 3, 4, 12, 0, tzinfo=UTC)))
    three = await query_stats(ctx, first, last)
    assert _figures(three) == _figures(two)
    assert three.days_from_rollups == 2
    async with ctx.sessionmaker() as session:  # yesterday's consultation's history is gone ...
        from sqlalchemy import delete

        from hub.db.tables import EventRow
        gone = await (await session.connection()).execute(
            delete(EventRow).where(EventRow.at < datetime(2026, 3, 4, tzinfo=UTC)))  # type: ignore[arg-type]
        assert gone.rowcount > 0
        await session.commit()
    assert (await query_stats(ctx, first, last)).totals.consultations == 5  # ... the roll-up still holds it
    await _in_another_process(build_days(ctx, DAY - timedelta(days=1), DAY - timedelta(days=1)))
    four = await query_stats(ctx, first, last)  # ... until it is rebuilt, anywhere
    assert (four.totals.consultations, four.totals.handled) == (4, 4)
    assert (await query_day_cells(ctx, first, last)).get((DAY - timedelta(days=1), "email", "consultations")) is None


async def test_today_not_rolled_up_is_computed_once_per_watermark_and_never_stale(
        ctx: HubContext, clock: FakeClock) -> None:
    agent = await do_create_agent(ctx, "a@oac.example", "Agent A", "agent", "password123")
    clock.set(datetime(2026, 3, 4, 8, 0, tzinfo=UTC))
    for n in range(1, 4):
        await _consultation(ctx, clock, n, agent)
    clock.set(datetime(2026, 3, 4, 12, 0, tzinfo=UTC))  # nothing rolled up: all of today from the events

    one = await query_stats(ctx, DAY, DAY)
    assert (one.totals.consultations, one.totals.handled, one.days_computed_live) == (3, 3, 1)
    assert _figures(await query_stats(ctx, DAY, DAY)) == _figures(one)  # the kept part is not added to twice
    assert (await query_day_cells(ctx, DAY, DAY))[(DAY, "email", "consultations")].n == 3

    await _consultation(ctx, clock, 4, agent)  # after the watermark (11:45): in the next answer
    assert (await query_stats(ctx, DAY, DAY)).totals.consultations == 4
    clock.set(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))  # written late, dated before the watermark ...
    await _consultation(ctx, clock, 5, agent)
    clock.set(datetime(2026, 3, 4, 12, 30, tzinfo=UTC))
    two = await query_stats(ctx, DAY, DAY)
    assert (two.totals.consultations, two.totals.handled) == (5, 5)  # ... counted all the same
    assert (await query_day_cells(ctx, DAY, DAY))[(DAY, "email", "consultations")].n == 5

    # The same figures as a computation from scratch, and as the scheduler's partial roll-up.
    rollups.forget_cached_stats()
    assert _figures(await query_stats(ctx, DAY, DAY)) == _figures(two)
    await build_partial(ctx, DAY, datetime(2026, 3, 4, 12, 0, tzinfo=UTC))
    assert _figures(await query_stats(ctx, DAY, DAY)) == _figures(two)
