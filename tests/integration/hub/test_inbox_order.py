"""Accepted inbound messages are processed in each sender's arrival order, whatever the jobs say.

A broker job names inbox rows only as a hint; the database decides: a sender's later message is
never processed while an earlier one of theirs waits, a sender another worker holds is left to
it, and rows that arrived meanwhile are not left behind.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from hub.actions.messages import do_accept_inbound, do_process_inbox, do_process_inbox_batch, pending_inbox_ids
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Contact, Identity, Inbox, Message, Ticket
from tests.integration.hub.test_receive_batch import whatsapp
from tests.support import databases


async def _accept(ctx: HubContext, clock: FakeClock, sid: str, number: str, body: str) -> int:
    inbox_id = await do_accept_inbound(ctx, whatsapp(clock, sid, number, body))
    assert inbox_id is not None
    return inbox_id


async def _order(ctx: HubContext, number: str) -> list[str]:
    """The provider ids of a citizen's stored messages, in the order they were processed."""
    async with ctx.sessionmaker() as s:
        rows = (await s.exec(select(Message.provider_id).join(Identity, Identity.contact_id == Message.contact_id).where(
            Message.direction == "in", Identity.value == number,
        ).order_by(col(Message.id)))).all()
    return [r or "" for r in rows]


async def test_a_job_for_a_later_message_processes_the_earlier_ones_first(ctx: HubContext, clock: FakeClock) -> None:
    first = await _accept(ctx, clock, "SMa-1", "+34600000021", "Hola")
    await _accept(ctx, clock, "SMb-1", "+34600000021", "Em dic Pau Roca")
    last = await _accept(ctx, clock, "SMc-1", "+34600000021", "Necessito un certificat")
    got = await do_process_inbox_batch(ctx, [last])  # the jobs of the first two were lost
    assert [(r.new_ticket, r.duplicate) for r in got] == [(True, False), (False, False), (False, False)]
    assert await _order(ctx, "+34600000021") == ["SMa-1", "SMb-1", "SMc-1"]
    async with ctx.sessionmaker() as s:
        assert [c.name for c in (await s.exec(select(Contact))).all()] == ["Pau Roca"]
        assert len((await s.exec(select(Ticket))).all()) == 1
    assert await do_process_inbox(ctx, first) is None  # done already


async def test_the_sweep_names_only_the_oldest_waiting_row_of_each_sender(ctx: HubContext, clock: FakeClock) -> None:
    a1 = await _accept(ctx, clock, "SMa-2", "+34600000022", "Hola")
    await _accept(ctx, clock, "SMb-2", "+34600000022", "Em dic Anna")
    b1 = await _accept(ctx, clock, "SMc-2", "+34600000023", "Hola")
    assert await pending_inbox_ids(ctx) == [a1, b1]


@pytest.mark.skipif(databases.backend() != "postgres", reason="row locks: PostgreSQL (SQLite runs one writer at a time)")
async def test_a_sender_held_by_another_worker_is_left_to_it(ctx: HubContext, clock: FakeClock) -> None:
    first = await _accept(ctx, clock, "SMa-3", "+34600000024", "Hola")
    second = await _accept(ctx, clock, "SMb-3", "+34600000024", "Em dic Marta Puig")
    other = await _accept(ctx, clock, "SMc-3", "+34600000025", "Hola")
    async with ctx.engine.connect() as held:  # another worker busy with this citizen's first message
        await held.execute(text("SELECT id FROM inbox WHERE id = :i FOR UPDATE"), {"i": first})
        got = await do_process_inbox_batch(ctx, [second, other])
        assert len(got) == 1 and got[0].new_ticket  # only the other citizen's message
        async with ctx.sessionmaker() as s:
            waiting = (await s.exec(select(Inbox.id).where(col(Inbox.processed_at).is_(None)))).all()
        assert sorted(waiting) == [first, second]  # the second was not taken before the first
        await held.rollback()
    await do_process_inbox_batch(ctx, [second])
    assert await _order(ctx, "+34600000024") == ["SMa-3", "SMb-3"]


@pytest.mark.skipif(databases.backend() != "postgres", reason="concurrent transactions: PostgreSQL")
async def test_concurrent_workers_with_shuffled_jobs_keep_every_senders_order(ctx: HubContext, clock: FakeClock) -> None:
    citizens, each = 12, 5
    ids: dict[int, list[int]] = {n: [] for n in range(citizens)}
    for k in range(each):
        for n in range(citizens):
            body = "Hola" if k == 0 else (f"Em dic Persona {n}" if k == 1 else f"Pregunta {k}")
            ids[n].append(await _accept(ctx, clock, f"SM{k}-{n:02d}x", f"+346000001{n:02d}", body))
    everything = [i for row in ids.values() for i in row]
    jobs = [everything[j::7][::-1] for j in range(7)] + [[i] for i in reversed(everything)]
    workers = [HubContext.create(ctx.settings, clock) for _ in range(4)]
    try:
        async def worker(w: int) -> None:
            for job in jobs[w::4]:
                await do_process_inbox_batch(workers[w], job)
        await asyncio.gather(*(worker(w) for w in range(4)))
    finally:
        for w in workers:
            await w.close()
    for n in range(citizens):
        assert await _order(ctx, f"+346000001{n:02d}") == [f"SM{k}-{n:02d}x" for k in range(each)]
    async with ctx.sessionmaker() as s:
        names = sorted(c.name or "" for c in (await s.exec(select(Contact))).all())
        assert names == sorted(f"Persona {n}" for n in range(citizens))
        assert len((await s.exec(select(Message).where(Message.direction == "in"))).all()) == citizens * each
