"""The core path: a citizen's message becomes a ticket, with the office's WhatsApp rules."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import select

from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.lifecycle import do_assign, do_fire_timer, do_resolve, due_ticket_ids
from hub.actions.messages import do_receive_message, do_reply
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Contact, EventRow, Message, Outbox, SurveyResponse, Ticket
from hub.inbound import IdentityIn, InboundMessage


def whatsapp(clock: FakeClock, sid: str, body: str, number: str = "+34600111222") -> InboundMessage:
    return InboundMessage(
        channel="whatsapp", provider_id=sid, received_at=clock.now(), body=body,
        identities=[IdentityIn("phone", number)], display_hint="Profile",
    )


async def rows(ctx: HubContext, table, *where):  # type: ignore[no-untyped-def]
    async with ctx.sessionmaker() as s:
        return list((await s.exec(select(table).where(*where))).all())


async def auto_keys(ctx: HubContext, ticket_id: int) -> list[str]:
    msgs = await rows(ctx, Message, Message.ticket_id == ticket_id, Message.direction == "out")
    return [m.meta.get("text_key", "") for m in sorted(msgs, key=lambda m: m.id)]


async def test_first_whatsapp_message_opens_an_identifying_ticket_and_asks_the_name(ctx: HubContext, clock: FakeClock) -> None:
    got = await do_receive_message(ctx, whatsapp(clock, "SM1", "Hola, necessito ajuda amb el padró"))
    assert got.new_ticket and not got.duplicate
    [ticket] = await rows(ctx, Ticket)
    assert ticket.status == "identifying"
    assert ticket.reference == f"OAC-{clock.now().year}-{ticket.id:06d}"
    assert ticket.due_kind == "reminder" and ticket.due_at == clock.now() + timedelta(minutes=20)
    assert await auto_keys(ctx, ticket.id) == ["identify_first.welcome"]
    [welcome] = await rows(ctx, Message, Message.direction == "out")
    assert "nom" in welcome.body  # Catalan by default
    assert len(await rows(ctx, Outbox)) == 1


async def test_the_answer_identifies_the_citizen_and_assignment_introduces_the_agent(ctx: HubContext, clock: FakeClock) -> None:
    agent_id = await do_create_agent(ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await do_receive_message(ctx, whatsapp(clock, "SM1", "Hola"))
    clock.advance(minutes=2)
    got = await do_receive_message(ctx, whatsapp(clock, "SM2", "Em dic Anna Serra"))
    assert not got.new_ticket
    [ticket] = await rows(ctx, Ticket)
    assert ticket.status == "waiting" and ticket.due_at is None
    [contact] = await rows(ctx, Contact)
    assert contact.name == "Anna Serra"
    await do_assign(ctx, ticket.id, agent_id, by_agent_id=agent_id)
    keys = await auto_keys(ctx, ticket.id)
    assert keys == ["identify_first.welcome", "agent_intro.text"]
    intro = (await rows(ctx, Message, Message.direction == "out"))[-1]
    assert "Jordi" in intro.body and "Vidal" not in intro.body and "Anna Serra" in intro.body


async def test_silence_brings_the_reminder_then_the_close(ctx: HubContext, clock: FakeClock) -> None:
    await do_receive_message(ctx, whatsapp(clock, "SM1", "Hola"))
    [ticket] = await rows(ctx, Ticket)
    clock.advance(minutes=19, seconds=59)
    assert await due_ticket_ids(ctx) == []
    clock.advance(seconds=1)
    assert await due_ticket_ids(ctx) == [ticket.id]
    assert await do_fire_timer(ctx, ticket.id) == "reminder"
    assert await do_fire_timer(ctx, ticket.id) is None  # fired once only
    clock.advance(minutes=20)
    assert await do_fire_timer(ctx, ticket.id) == "close"
    [ticket] = await rows(ctx, Ticket)
    assert ticket.status == "closed_unidentified" and ticket.due_at is None
    assert await auto_keys(ctx, ticket.id) == ["identify_first.welcome", "reminder.text", "unidentified_close.text"]
    assert await rows(ctx, SurveyResponse) == []
    # A later message starts a new consultation.
    got = await do_receive_message(ctx, whatsapp(clock, "SM9", "Hola de nou"))
    assert got.new_ticket and got.ticket_id != ticket.id


async def test_resolving_sends_the_survey_and_a_later_message_opens_a_new_ticket(ctx: HubContext, clock: FakeClock) -> None:
    agent_id = await do_create_agent(ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await do_set_presence(ctx, agent_id, "available")
    first = await do_receive_message(ctx, whatsapp(clock, "SM1", "Hola"))
    await do_receive_message(ctx, whatsapp(clock, "SM2", "Anna"))
    [ticket] = await rows(ctx, Ticket)
    assert ticket.status == "assigned" and ticket.assignee_id == agent_id  # auto-assigned
    await do_reply(ctx, ticket.id, agent_id, "Bon dia Anna, com et puc ajudar?")
    resolved = await do_resolve(ctx, ticket.id, agent_id)
    assert resolved.survey_url and resolved.survey_url.startswith("https://hub.example.org/survey/")
    [survey] = await rows(ctx, SurveyResponse)
    assert survey.agent_id == agent_id and survey.ticket_id == ticket.id
    assert (await auto_keys(ctx, ticket.id))[-1] == "survey.invitation"
    again = await do_receive_message(ctx, whatsapp(clock, "SM3", "Una altra pregunta"))
    assert again.new_ticket and again.ticket_id != first.ticket_id


async def test_duplicate_provider_ids_change_nothing(ctx: HubContext, clock: FakeClock) -> None:
    a = await do_receive_message(ctx, whatsapp(clock, "SM1", "Hola"))
    b = await do_receive_message(ctx, whatsapp(clock, "SM1", "Hola"))
    assert b.duplicate and b.message_id == a.message_id
    assert len(await rows(ctx, Message, Message.direction == "in")) == 1
    assert len(await rows(ctx, Outbox)) == 1  # one welcome, not two
    kinds = [e.kind for e in await rows(ctx, EventRow)]
    assert kinds.count("created") == 1


async def test_an_automatic_reply_is_filed_but_does_not_count_as_the_citizen_answering(ctx: HubContext, clock: FakeClock) -> None:
    agent_id = await do_create_agent(ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await do_set_presence(ctx, agent_id, "available")
    first = InboundMessage(channel="email", provider_id="<m1@example.org>", received_at=clock.now(),
                           body="Bon dia", identities=[IdentityIn("email", "anna@example.org")])
    got = await do_receive_message(ctx, first)
    await do_reply(ctx, got.ticket_id, agent_id, "Hola Anna")
    [ticket] = await rows(ctx, Ticket)
    assert ticket.status == "pending"
    clock.advance(minutes=1)
    ooo = InboundMessage(channel="email", provider_id="<ooo@example.org>", received_at=clock.now(),
                         body="I am out of the office", identities=[IdentityIn("email", "anna@example.org")],
                         ticket_id=got.ticket_id, automatic=True)
    again = await do_receive_message(ctx, ooo)
    assert again.ticket_id == got.ticket_id and not again.new_ticket
    [ticket] = await rows(ctx, Ticket)
    assert ticket.status == "pending" and ticket.last_inbound_at == first.received_at
    assert len(await rows(ctx, Message, Message.direction == "in")) == 2


async def test_a_handed_back_ticket_keeps_its_place_and_transfers_respect_colleagues(ctx: HubContext, clock: FakeClock) -> None:
    from hub.actions.lifecycle import do_unassign
    from hub.actions.errors import Conflict
    import pytest

    jordi = await do_create_agent(ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123", capacity=1)
    marta = await do_create_agent(ctx, "marta@oac.example", "Marta Puig", "agent", "password123", capacity=1)
    for i, number in enumerate(("+34600000001", "+34600000002")):
        await do_receive_message(ctx, whatsapp(clock, f"SMa{i}", "Hola", number))
        await do_receive_message(ctx, whatsapp(clock, f"SMb{i}", "Anna", number))
        clock.advance(minutes=1)
    first, second = sorted(await rows(ctx, Ticket), key=lambda t: t.id)
    queued_first = first.queued_at
    await do_assign(ctx, first.id, jordi, by_agent_id=jordi)
    with pytest.raises(Conflict, match="offline"):
        await do_assign(ctx, second.id, marta, by_agent_id=jordi)
    await do_set_presence(ctx, marta, "available")
    await do_assign(ctx, second.id, marta, by_agent_id=jordi)
    with pytest.raises(Conflict, match="capacity"):
        await do_assign(ctx, first.id, marta, by_agent_id=jordi)
    clock.advance(minutes=5)
    await do_unassign(ctx, first.id)
    [first] = [t for t in await rows(ctx, Ticket) if t.id == first.id]
    assert first.status == "waiting" and first.queued_at == queued_first
