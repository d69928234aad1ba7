"""Merging contacts: an email address and a phone number of one citizen become one contact."""

from __future__ import annotations

import pytest
from sqlmodel import SQLModel, select

from hub.actions.agents import do_create_agent
from hub.actions.calls import CallEntry, do_log_call, lookup_caller
from hub.actions.errors import Conflict, NotFound
from hub.actions.merge import OWNED_BY_CONTACT, do_merge_contacts
from hub.actions.messages import do_add_note, do_receive_message
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import AuditEntry, Call, Contact, Identity, Message, Ticket
from hub.inbound import IdentityIn, InboundMessage


async def rows(ctx: HubContext, table, *where):  # type: ignore[no-untyped-def]
    async with ctx.sessionmaker() as s:
        return list((await s.exec(select(table).where(*where).order_by(table.id))).all())


def mail(clock: FakeClock, sid: str) -> InboundMessage:
    return InboundMessage(
        channel="email", provider_id=sid, received_at=clock.now(), body="Bon dia, sobre el meu rebut",
        subject="Rebut", identities=[IdentityIn("email", "anna@example.org")], display_hint="Anna Serra",
    )


def whatsapp(clock: FakeClock, sid: str) -> InboundMessage:
    return InboundMessage(
        channel="whatsapp", provider_id=sid, received_at=clock.now(), body="Hola",
        identities=[IdentityIn("phone", "+34600111222")],
    )


async def test_merging_keeps_every_message_call_ticket_and_identity(ctx: HubContext, clock: FakeClock) -> None:
    agent = await do_create_agent(ctx, "marta@oac.example", "Marta Puig", "agent", "password123")
    await do_receive_message(ctx, mail(clock, "<m1@example.org>"))
    await do_receive_message(ctx, mail(clock, "<m2@example.org>"))
    await do_receive_message(ctx, whatsapp(clock, "SM1"))
    await do_log_call(ctx, CallEntry("600111222", outcome="missed"))
    await do_log_call(ctx, CallEntry("600111222", duration_s=40, agent_id=agent, follow_up=True))
    email_contact, phone_contact = await rows(ctx, Contact)
    wa_ticket = (await rows(ctx, Ticket, Ticket.channel == "whatsapp"))[0]
    await do_add_note(ctx, wa_ticket.id, agent, "Truca sovint")
    before = {t.__tablename__: {r.id for r in await rows(ctx, t)} for t in (Ticket, Message, Call, Identity)}

    result = await do_merge_contacts(ctx, phone_contact.id, email_contact.id, agent)

    assert (result.identities, result.tickets, result.calls) == (1, 3, 2)
    after = {t.__tablename__: {r.id for r in await rows(ctx, t)} for t in (Ticket, Message, Call, Identity)}
    assert after == before  # nothing lost, nothing duplicated
    for table in (Ticket, Message, Call, Identity):
        assert {r.contact_id for r in await rows(ctx, table)} == {email_contact.id}, table.__tablename__
    survivor, merged = await rows(ctx, Contact)
    assert merged.merged_into_id == survivor.id and survivor.merged_into_id is None
    assert survivor.display_hint == "Anna Serra"
    # The phone number now finds the survivor, with the consultations of every channel.
    found = await lookup_caller(ctx, "600 11 12 22")
    assert found.contact is not None and found.contact.id == survivor.id
    assert {t.channel for t in found.open_tickets} >= {"email", "whatsapp", "phone"}
    # And new traffic of either identity lands on the survivor.
    await do_receive_message(ctx, whatsapp(clock, "SM2"))
    assert {m.contact_id for m in await rows(ctx, Message)} == {survivor.id}
    [audit] = await rows(ctx, AuditEntry, AuditEntry.action == "contact.merge")  # the note is audited too
    assert audit.action == "contact.merge" and audit.detail["merged_id"] == merged.id and audit.agent_id == agent


async def test_contacts_merged_earlier_point_to_the_new_survivor(ctx: HubContext, clock: FakeClock) -> None:
    await do_log_call(ctx, CallEntry("600111222"))
    await do_log_call(ctx, CallEntry("973930247"))
    await do_log_call(ctx, CallEntry("+33142685300"))
    a, b, c = await rows(ctx, Contact)
    await do_merge_contacts(ctx, a.id, b.id, None)
    await do_merge_contacts(ctx, b.id, c.id, None)
    contacts = {x.id: x for x in await rows(ctx, Contact)}
    assert contacts[a.id].merged_into_id == c.id and contacts[b.id].merged_into_id == c.id
    assert (await lookup_caller(ctx, "600111222")).contact.id == c.id  # type: ignore[union-attr]


async def test_impossible_merges_are_refused(ctx: HubContext) -> None:
    await do_log_call(ctx, CallEntry("600111222"))
    await do_log_call(ctx, CallEntry("973930247"))
    a, b = await rows(ctx, Contact)
    with pytest.raises(Conflict, match="itself"):
        await do_merge_contacts(ctx, a.id, a.id, None)
    with pytest.raises(NotFound):
        await do_merge_contacts(ctx, a.id, 999, None)
    await do_merge_contacts(ctx, a.id, b.id, None)
    with pytest.raises(Conflict, match="merged already"):
        await do_merge_contacts(ctx, a.id, b.id, None)
    with pytest.raises(Conflict, match="merge into that one"):
        await do_merge_contacts(ctx, b.id, a.id, None)


def test_the_merge_moves_every_table_that_belongs_to_a_contact() -> None:
    owned = {t.__tablename__ for t in OWNED_BY_CONTACT}
    with_contact = {
        name for name, table in SQLModel.metadata.tables.items()
        if "contact_id" in table.columns and name != "contacts"
    }
    assert with_contact <= owned, f"merge forgets {sorted(with_contact - owned)}"


async def test_merge_on_both_databases(any_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    ctx = HubContext.create(make_settings(tmp_path, any_db_url), FakeClock())
    try:
        await do_log_call(ctx, CallEntry("600111222", outcome="missed"))
        await do_log_call(ctx, CallEntry("973930247"))
        a, b = await rows(ctx, Contact)
        result = await do_merge_contacts(ctx, a.id, b.id, None)
        assert (result.tickets, result.calls, result.identities) == (1, 1, 1)
        assert {c.contact_id for c in await rows(ctx, Call)} == {b.id}
    finally:
        await ctx.close()
