"""The scheduler: timers fire on time, once, and only one scheduler leads."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlmodel import select

from hub.actions.messages import do_receive_message
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import EventRow, Ticket
from hub.inbound import IdentityIn, InboundMessage
from runtime.scheduler import LeaderLock, tick
from tests.conftest import make_settings


async def _open_identifying(ctx: HubContext, clock: FakeClock, n: int) -> None:
    for i in range(n):
        await do_receive_message(ctx, InboundMessage(
            channel="whatsapp", provider_id=f"SM{i}", received_at=clock.now(), body="hola",
            identities=[IdentityIn("phone", f"+3460000{i:04d}")],
        ))


async def _events(ctx: HubContext, kind: str) -> list[EventRow]:
    async with ctx.sessionmaker() as s:
        return list((await s.exec(select(EventRow).where(EventRow.kind == kind))).all())


async def test_timers_fire_at_their_time_and_not_before(runtime: HubContext, clock: FakeClock) -> None:
    await _open_identifying(runtime, clock, 3)
    clock.advance(minutes=19, seconds=59)
    assert (await tick(runtime, sweep=False))["fired"] == 0
    clock.advance(seconds=1)
    assert (await tick(runtime, sweep=False))["fired"] == 3
    assert (await tick(runtime, sweep=False))["fired"] == 0
    assert len(await _events(runtime, "reminder_sent")) == 3
    clock.advance(minutes=20)
    assert (await tick(runtime, sweep=False))["fired"] == 3
    async with runtime.sessionmaker() as s:
        statuses = {t.status for t in (await s.exec(select(Ticket))).all()}
    assert statuses == {"closed_unidentified"}


async def test_two_schedulers_never_fire_one_timer_twice(
    runtime: HubContext, clock: FakeClock, any_db_url: str, tmp_path: Path
) -> None:
    # Two independent contexts (two processes' worth of engines) on the same database.
    settings = make_settings(tmp_path, any_db_url)
    a, b = HubContext.create(settings, clock), HubContext.create(settings, clock)
    try:
        await _open_identifying(a, clock, 12)
        clock.advance(minutes=20)
        first, second = await asyncio.gather(tick(a, sweep=False), tick(b, sweep=False))
        assert first["fired"] + second["fired"] == 12
        assert len(await _events(a, "reminder_sent")) == 12
        async with a.sessionmaker() as s:
            from hub.db.tables import Message

            reminders = [m for m in (await s.exec(select(Message))).all() if m.meta.get("text_key") == "reminder.text"]
        assert len(reminders) == 12
    finally:
        await a.close()
        await b.close()


async def test_only_one_scheduler_leads_at_a_time(any_db_url: str, tmp_path: Path, clock: FakeClock) -> None:
    settings = make_settings(tmp_path, any_db_url)
    a, b = HubContext.create(settings, clock), HubContext.create(settings, clock)
    first, second = LeaderLock(a), LeaderLock(b)
    try:
        assert await first.acquire()
        assert await first.acquire()  # re-entrant for the leader
        assert not await second.acquire()
        await first.release()
        assert await second.acquire()
        assert not await first.acquire()
    finally:
        await first.release()
        await second.release()
        await a.close()
        await b.close()


async def test_a_pending_timer_costs_one_index_lookup(runtime: HubContext, clock: FakeClock) -> None:
    # Far-future timers are not touched by a tick: nothing due, nothing fired, nothing changed.
    await _open_identifying(runtime, clock, 5)
    async with runtime.sessionmaker() as s:
        before = [(t.id, t.version) for t in (await s.exec(select(Ticket))).all()]
    clock.advance(timedelta(minutes=5))
    assert (await tick(runtime, sweep=False))["fired"] == 0
    async with runtime.sessionmaker() as s:
        after = [(t.id, t.version) for t in (await s.exec(select(Ticket))).all()]
    assert before == after


async def test_a_sweep_runs_the_jobs_the_composition_root_gives_it_and_survives_a_failing_one(
    runtime: HubContext,
) -> None:
    from entrypoints.bootstrap import SWEEP_JOBS

    ran: list[str] = []

    async def broken(ctx: HubContext) -> None:
        ran.append("broken")
        raise RuntimeError("the job failed")

    async def fine(ctx: HubContext) -> None:
        ran.append("fine")

    await tick(runtime, sweep=False, jobs=[("broken", broken), ("fine", fine)])
    assert ran == []  # jobs run at sweeps only
    counts = await tick(runtime, sweep=True, jobs=[("broken", broken), ("fine", fine)])
    assert ran == ["broken", "fine"] and "anonymised" in counts
    assert [name for name, _ in SWEEP_JOBS] == ["weekly summaries"]


def test_a_row_that_stays_stuck_is_relayed_again_less_and_less_often() -> None:
    from runtime.scheduler import Relays

    now = [0.0]
    relays = Relays(clock=lambda: now[0])
    seen = []
    for second in range(40):
        now[0] = float(second)
        due = relays.due("outbox", [7])
        relays.relayed("outbox", due)
        seen += [second] * len(due)
    assert seen == [0, 2, 6, 14, 30]  # at once, then after 2, 4, 8, 16 s (30 s at most)
    now[0] = 41.0
    assert relays.due("outbox", []) == []  # sent meanwhile: forgotten
    assert relays.due("outbox", [7]) == [7]  # stuck again later: relayed at once


def test_a_relay_the_broker_refused_is_tried_again_on_the_next_pass() -> None:
    from runtime.scheduler import Relays

    relays = Relays(clock=lambda: 5.0)
    assert relays.due("inbox", [3]) == [3]  # the send failed: not recorded
    assert relays.due("inbox", [3]) == [3]
