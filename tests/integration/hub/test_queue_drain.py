"""Assignment against a real database: draining the queue, hand back, concurrent "take next"."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlmodel import select

from hub.actions.agents import do_create_agent
from hub.actions.lifecycle import do_drain_queue, do_resolve, do_take_next
from hub.actions.messages import do_receive_message
from hub.actions.routing import do_change_presence
from hub.clock import FakeClock
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Ticket
from hub.inbound import IdentityIn, InboundMessage
from tests.conftest import make_settings


async def email_ticket(ctx: HubContext, clock: FakeClock, n: int) -> int:
    got = await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id=f"<m{n}@example.net>", received_at=clock.now(), body=f"consulta {n}",
        identities=[IdentityIn("email", f"citizen{n}@example.net")], subject=f"Consulta {n}",
    ))
    clock.advance(timedelta(seconds=5))
    assert got.ticket_id is not None
    return got.ticket_id


async def owners(ctx: HubContext) -> dict[int, int | None]:
    async with ctx.sessionmaker() as s:
        return {t.id: t.assignee_id for t in (await s.exec(select(Ticket))).all()}  # type: ignore[misc]


async def test_an_agent_becoming_available_gets_the_oldest_tickets_up_to_capacity(ctx: HubContext, clock: FakeClock) -> None:
    small = await do_create_agent(ctx, "a@oac.example", "Anna Serra", "agent", "password123", capacity=1)
    big = await do_create_agent(ctx, "b@oac.example", "Bernat Roca", "agent", "password123", capacity=2)
    tickets = [await email_ticket(ctx, clock, i) for i in range(5)]
    assert set((await owners(ctx)).values()) == {None}  # nobody available: they wait
    await do_change_presence(ctx, small, "available")
    await do_change_presence(ctx, big, "available")
    assert await do_drain_queue(ctx) == 3
    now = await owners(ctx)
    assert [t for t in tickets if now[t] is not None] == tickets[:3]  # oldest first
    assert sum(1 for t in tickets if now[t] == small) == 1 and sum(1 for t in tickets if now[t] == big) == 2
    assert await do_drain_queue(ctx) == 0  # everyone is full
    # freeing capacity lets the next oldest through
    await do_resolve(ctx, next(t for t in tickets if now[t] == big), big)
    assert await do_drain_queue(ctx) == 1
    assert (await owners(ctx))[tickets[3]] == big


async def test_away_agents_get_nothing_and_going_offline_hands_tickets_back(ctx: HubContext, clock: FakeClock) -> None:
    agent = await do_create_agent(ctx, "a@oac.example", "Anna Serra", "agent", "password123", capacity=3)
    await do_change_presence(ctx, agent, "available")
    first = await email_ticket(ctx, clock, 1)  # auto-assigned on arrival
    assert (await owners(ctx))[first] == agent
    await do_change_presence(ctx, agent, "away")
    second = await email_ticket(ctx, clock, 2)
    assert await do_drain_queue(ctx) == 0 and (await owners(ctx))[second] is None
    handed = await do_change_presence(ctx, agent, "offline")
    assert handed == [first]
    assert set((await owners(ctx)).values()) == {None}


async def test_offline_agents_keep_their_tickets_when_the_office_says_so(ctx: HubContext, clock: FakeClock) -> None:
    from hub.actions.routing import HAND_BACK_OPTION
    from hub.db.tables import Option

    agent = await do_create_agent(ctx, "a@oac.example", "Anna Serra", "agent", "password123", capacity=3)
    await do_change_presence(ctx, agent, "available")
    ticket = await email_ticket(ctx, clock, 1)
    async with ctx.sessionmaker() as s:
        s.add(Option(key=HAND_BACK_OPTION, value=False, updated_at=clock.now()))
        await s.commit()
    assert await do_change_presence(ctx, agent, "offline") == []
    assert (await owners(ctx))[ticket] == agent


async def test_events_that_free_capacity_enqueue_a_drain(settings: Settings) -> None:
    from hub import events
    from runtime.broker import setup_broker
    from runtime.reactions import wire

    broker = setup_broker(settings)
    broker.flush_all()
    from runtime import tasks

    ctx = HubContext.create(settings)
    wire(ctx)
    try:
        for freed in (events.AgentChanged(1), events.Resolved(1), events.Unassigned(1), events.Transferred(1),
                      events.ClosedUnidentified(1)):
            await ctx.bus.publish([freed])
        await ctx.bus.publish([events.NoteAdded(1), events.Assigned(1, 2, 2)])
        await ctx.bus.publish([events.Resolved(2), events.AgentChanged(3)])  # one drain for one publication
        assert broker.queues[tasks.drain_queue.queue_name].qsize() == 6
    finally:
        broker.flush_all()
        await ctx.close()


@pytest.fixture
def pg_settings(tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    from tests.conftest import _db_url

    return make_settings(tmp_path, _db_url("postgres", tmp_path), auto_assign=False)


@pytest.mark.postgres
async def test_two_agents_taking_next_at_once_never_get_the_same_ticket(pg_settings: Settings, clock: FakeClock) -> None:
    ctx = HubContext.create(pg_settings, clock)
    try:
        agents = [await do_create_agent(ctx, f"a{i}@oac.example", f"Agent {i}", "agent", "password123", capacity=100)
                  for i in range(4)]
        for i in range(40):
            await email_ticket(ctx, clock, i)
        taken: list[int | None] = []
        for _ in range(12):  # rounds of four simultaneous clicks
            taken += await asyncio.gather(*(do_take_next(ctx, a) for a in agents))
        got = [t for t in taken if t is not None]
        assert len(got) == len(set(got)) == 40  # each ticket exactly once, none lost
        assert taken.count(None) == 8
    finally:
        await ctx.close()


def test_an_agent_becoming_available_is_given_waiting_tickets_by_the_worker(settings: Settings) -> None:
    """The whole path: presence change -> after-commit notice -> drain_queue actor -> assignment."""
    from dramatiq import Worker, get_broker, set_broker

    from runtime import state, tasks
    from runtime.broker import make_broker, setup_broker
    from runtime.reactions import wire

    state.configure(settings)
    setup_broker(settings)  # the process's broker, with the actors declared on it
    shared = get_broker()
    # The job goes through a broker of this test's own: a worker that an earlier test's app
    # left consuming the process's shared broker cannot take it (and never finish it).
    broker = make_broker(settings)
    broker.declare_actor(tasks.drain_queue)
    tasks.drain_queue.broker = broker
    set_broker(broker)
    worker = Worker(broker, worker_timeout=50, worker_threads=1)
    worker.start()

    async def scenario() -> tuple[int, list[int]]:
        ctx = HubContext.create(settings)
        wire(ctx)
        clock = FakeClock()
        ctx.clock = clock
        try:
            agent = await do_create_agent(ctx, "a@oac.example", "Anna Serra", "agent", "password123", capacity=2)
            tickets = [await email_ticket(ctx, clock, i) for i in range(3)]
            await do_change_presence(ctx, agent, "available")
            return agent, tickets
        finally:
            await ctx.close()

    try:
        agent, tickets = asyncio.run(scenario())
        broker.join("routing", timeout=20_000)
        worker.join()
    finally:
        worker.stop()
        broker.flush_all()
        tasks.drain_queue.broker = shared
        set_broker(shared)

    async def check() -> dict[int, int | None]:
        ctx = HubContext.create(settings)
        try:
            return await owners(ctx)
        finally:
            await ctx.close()

    now = asyncio.run(check())
    assert [now[t] for t in tickets] == [agent, agent, None]  # the two oldest, up to capacity
