"""The retention period: closed consultations are anonymised by the scheduler, on a fake clock."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from hub.actions.agents import do_create_agent
from hub.actions.audit import audit_entries
from hub.actions.lifecycle import do_resolve
from hub.actions.messages import do_receive_message
from hub.actions.privacy import do_anonymise_expired
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Contact, Identity, Message, Ticket
from hub.inbound import IdentityIn, InboundMessage

RETENTION = timedelta(days=730)


async def _consultation(ctx: HubContext, agent: int, who: str, body: str, resolve: bool = True) -> int:
    got = await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id=f"<{body}@x>", received_at=ctx.clock.now(), identities=[IdentityIn("email", who)],
        body=body, subject="Padró",
    ))
    assert got.ticket_id is not None
    if resolve:
        await do_resolve(ctx, got.ticket_id, agent, send_survey=False)
    return got.ticket_id


async def _bodies(ctx: HubContext, ticket_id: int) -> list[str]:
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(
            select(Message.body).where(Message.ticket_id == ticket_id, Message.direction == "in")
        )).all()
    return list(rows)


async def test_closed_consultations_are_anonymised_after_the_retention_period(ctx: HubContext, clock: FakeClock) -> None:
    assert ctx.settings.retention == RETENTION  # the documented default
    agent = await do_create_agent(ctx, "a@example.org", "Agent", "agent", "long enough pw")
    old = await _consultation(ctx, agent, "old@citizen.example", "OLD-TEXT")
    clock.advance(days=100)
    kept = await _consultation(ctx, agent, "both@citizen.example", "NEWER-TEXT")
    still_open = await _consultation(ctx, agent, "both@citizen.example", "OPEN-TEXT", resolve=False)

    clock.advance(RETENTION - timedelta(days=100) - timedelta(minutes=1))
    assert (await do_anonymise_expired(ctx)).tickets == 0  # one minute early: nothing
    clock.advance(minutes=2)
    swept = await do_anonymise_expired(ctx)
    assert (swept.tickets, swept.contacts) == (1, 1)  # the old one, and its person (nothing else left)
    assert await _bodies(ctx, old) == [""]
    assert await _bodies(ctx, kept) == ["NEWER-TEXT"]
    assert (await do_anonymise_expired(ctx)).tickets == 0  # done once

    clock.advance(days=200)  # the newer one expires; its person still has an open consultation
    assert (await do_anonymise_expired(ctx)).tickets == 1
    assert await _bodies(ctx, kept) == [""]
    assert await _bodies(ctx, still_open) == ["OPEN-TEXT"]
    async with ctx.sessionmaker() as session:
        contacts = {c.id: c for c in (await session.exec(select(Contact))).all()}
        tickets = {t.id: t for t in (await session.exec(select(Ticket))).all()}
        identities = {i.value for i in (await session.exec(select(Identity))).all()}
    assert contacts[tickets[old].contact_id].erased_at is not None
    assert contacts[tickets[kept].contact_id].erased_at is None
    assert identities == {"both@citizen.example"}
    assert tickets[old].status == "resolved" and tickets[old].resolved_at is not None  # statistics keep it
    assert [e.detail["tickets"] for e in await audit_entries(ctx, action="retention.anonymise")] == [1, 1]


async def test_a_backlog_drains_in_small_batches(ctx: HubContext, clock: FakeClock) -> None:
    agent = await do_create_agent(ctx, "a@example.org", "Agent", "agent", "long enough pw")
    ids = [await _consultation(ctx, agent, f"c{i}@citizen.example", f"T{i}") for i in range(5)]
    clock.advance(RETENTION + timedelta(days=1))
    assert [(await do_anonymise_expired(ctx, limit=2)).tickets for _ in range(4)] == [2, 2, 1, 0]
    async with ctx.sessionmaker() as session:
        done = (await session.exec(select(Ticket.id).where(col(Ticket.anonymised_at).is_not(None)))).all()
    assert sorted(done) == ids


async def test_retention_zero_switches_it_off(tmp_path, db_url: str, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    ctx = HubContext.create(make_settings(tmp_path, db_url, retention="0"), clock)
    try:
        agent = await do_create_agent(ctx, "a@example.org", "Agent", "agent", "long enough pw")
        await _consultation(ctx, agent, "c@citizen.example", "KEEP")
        clock.advance(days=5000)
        assert (await do_anonymise_expired(ctx)).tickets == 0
    finally:
        await ctx.close()


async def test_the_scheduler_runs_the_retention_sweep(runtime: HubContext, clock: FakeClock) -> None:
    from runtime.scheduler import tick

    agent = await do_create_agent(runtime, "a@example.org", "Agent", "agent", "long enough pw")
    ticket = await _consultation(runtime, agent, "c@citizen.example", "SWEPT")
    clock.advance(RETENTION + timedelta(seconds=1))
    assert (await tick(runtime, sweep=False)).get("anonymised", 0) == 0  # only on sweeps
    assert (await tick(runtime))["anonymised"] == 1
    assert await _bodies(runtime, ticket) == [""]
