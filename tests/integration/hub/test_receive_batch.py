"""`do_receive_batch`: many messages in one transaction, each with `do_receive_message`'s effect.

The same arrivals are replayed on two databases, one message per transaction and as one
batch, and everything a person could see afterwards (tickets, their messages and events,
contacts, acknowledgements, assignments, the outbox) must be identical.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import msgspec
import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.messages import Received, do_receive_batch, do_receive_message
from hub.actions.texts import queue_auto_message
from hub.actions.unit import UnitOfWork
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Attachment, Contact, EventRow, Identity, Message, Outbox, Ticket
from hub.inbound import AttachmentIn, IdentityIn, InboundMessage
from tests.conftest import make_settings
from tests.support import databases, services


def mail(clock: FakeClock, pid: str, sender: str, body: str = "Bon dia", **kw: Any) -> InboundMessage:
    return InboundMessage(
        channel="email", provider_id=pid, received_at=clock.now(), identities=[IdentityIn("email", sender)],
        body=body, subject=f"Consulta {pid}", display_hint=sender.split("@")[0], acknowledge="email.ack", **kw,
    )


def whatsapp(clock: FakeClock, sid: str, number: str, body: str) -> InboundMessage:
    return InboundMessage(
        channel="whatsapp", provider_id=sid, received_at=clock.now(), identities=[IdentityIn("phone", number)],
        body=body, display_hint="Perfil",
    )


def arrivals(clock: FakeClock, old_ticket: int) -> list[InboundMessage]:
    return [
        mail(clock, "<e1@x>", "anna@example.cat"),
        mail(clock, "<e2@x>", "bernat@example.cat"),
        mail(clock, "<e3@x>", "anna@example.cat", "Una altra consulta"),  # a 2nd ticket, no 2nd ack (1/hour)
        mail(clock, "<e1@x>", "anna@example.cat"),  # the same mail again, in the same batch
        mail(clock, "<e0@x>", "old@example.cat"),  # already imported before the batch
        mail(clock, "<e4@x>", "old@example.cat", "Resposta", ticket_id=old_ticket),  # a follow-up
        mail(clock, "<e5@x>", "noreply@example.cat", "Fora de l'oficina", automatic=True),
        whatsapp(clock, "SM1", "+34600000001", "Hola"),
        whatsapp(clock, "SM2", "+34600000001", "Em dic Anna Serra"),  # answers the welcome
        mail(clock, "<e6@x>", "carla@example.cat", attachments=[AttachmentIn(
            filename="dni.pdf", content_type="application/pdf", size=3, storage_key="k", sha256="k",
        )]),
        whatsapp(clock, "SM3", "+34600000002", "Bon dia"),
        whatsapp(clock, "SM4", "+34600000003", "Marta Puig"),  # answers the welcome sent before the batch
        whatsapp(clock, "SM5", "+34600000003", "Necessito un certificat"),
    ]


async def prepare(ctx: HubContext, clock: FakeClock) -> int:
    """Both databases start alike: an available agent (room for two) and an older mail."""
    agent = await do_create_agent(ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123", capacity=2)
    await do_set_presence(ctx, agent, "available")
    asked = await do_receive_message(ctx, whatsapp(clock, "SM0", "+34600000003", "Bon dia"))  # asked for a name
    async with UnitOfWork(ctx) as uow:  # and something waits for this citizen's reply window
        ticket = await uow.ticket_for_update(asked.ticket_id or 0)
        contact = await uow.session.get(Contact, ticket.contact_id)
        assert contact is not None
        await queue_auto_message(uow, ticket, contact, "reply_window.waiting", hold=True, reference=ticket.reference)
    old = await do_receive_message(ctx, mail(clock, "<e0@x>", "old@example.cat"), ack_per_hour=1)
    assert old.ticket_id is not None
    clock.advance(minutes=5)
    return old.ticket_id


async def snapshot(ctx: HubContext) -> dict[str, Any]:
    async with ctx.sessionmaker() as s:
        tickets = (await s.exec(select(Ticket).order_by(col(Ticket.id)))).all()
        messages = (await s.exec(select(Message).order_by(col(Message.id)))).all()
        events = (await s.exec(select(EventRow).order_by(col(EventRow.id)))).all()
        identities = (await s.exec(select(Identity))).all()
        contacts = (await s.exec(select(Contact))).all()
        attachments = (await s.exec(select(Attachment))).all()
        outbox = (await s.exec(select(Outbox))).all()
    who = {c.id: sorted(i.value for i in identities if i.contact_id == c.id) for c in contacts}
    first_in = {t.id: next((m.provider_id for m in messages if m.ticket_id == t.id and m.direction == "in"), None)
                for t in tickets}
    by_message = {m.id: m.provider_id or m.meta.get("text_key") for m in messages}
    return {
        "tickets": sorted(
            (first_in[t.id], t.channel, t.status, t.subject, t.due_kind, t.assignee_id, tuple(who[t.contact_id]),
             tuple((m.direction, m.kind, m.body, m.provider_id, m.meta.get("text_key"), m.status) for m in messages
                   if m.ticket_id == t.id),
             tuple(e.kind for e in events if e.ticket_id == t.id))
            for t in tickets
        ),
        "contacts": sorted((tuple(who[c.id]), c.name, c.display_hint) for c in contacts),
        "attachments": sorted((by_message[a.message_id], a.filename, a.status) for a in attachments),
        "outbox": sorted(str(by_message[o.message_id]) for o in outbox),
    }


def _second_database(kind: str, tmp_path: Path) -> str:
    if kind == "postgres":
        import asyncio

        url = databases.postgres_database(services.require_postgres(), "batch")
        asyncio.run(databases.truncate_postgres(url))
        return url
    (tmp_path / "batch").mkdir()
    return databases.sqlite_url(tmp_path / "batch")


@pytest.fixture
def two_contexts(any_db_url: str, tmp_path: Path) -> tuple[HubContext, HubContext, FakeClock, FakeClock]:
    kind = "postgres" if any_db_url.startswith("postgresql") else "sqlite"
    one = make_settings(tmp_path / "one", any_db_url, auto_assign=True)
    two = make_settings(tmp_path / "two", _second_database(kind, tmp_path), auto_assign=True)
    clocks = FakeClock(), FakeClock()
    return HubContext.create(one, clocks[0]), HubContext.create(two, clocks[1]), *clocks


async def test_a_batch_has_the_effect_of_its_messages_one_by_one(two_contexts) -> None:  # type: ignore[no-untyped-def]
    single, batched, clock_a, clock_b = two_contexts
    try:
        old_a, old_b = await prepare(single, clock_a), await prepare(batched, clock_b)
        one_by_one = [await do_receive_message(single, m, ack_per_hour=1) for m in arrivals(clock_a, old_a)]
        together = await do_receive_batch(batched, arrivals(clock_b, old_b), ack_per_hour=1)

        assert [(r.duplicate, r.new_ticket) for r in together] == [(r.duplicate, r.new_ticket) for r in one_by_one]
        expected = await snapshot(single)
        assert await snapshot(batched) == expected
    finally:
        await single.close()
        await batched.close()

    # And what that is, so the comparison above is not between two equally wrong results.
    got: list[Received] = together
    assert [r.duplicate for r in got] == [False, False, False, True, True, False, False, False, False, False, False,
                                          False, False]
    assert [r.new_ticket for r in got[-2:]] == [False, False]
    assert got[3].message_id == got[0].message_id and got[5].ticket_id == old_b
    acks = [pid for pid in expected["outbox"] if pid == "email.ack"]
    assert len(acks) == 4  # e0 (before), e1, e2, e6: not e3 (one an hour), e4 (follow-up), e5 (automatic)
    assert ("anna@example.cat",) in [t[6] for t in expected["tickets"] if t[0] == "<e3@x>"]
    whatsapp_ticket = next(t for t in expected["tickets"] if t[0] == "SM1")
    assert whatsapp_ticket[2] in ("waiting", "assigned")
    assert (("+34600000001",), "Anna Serra", "Perfil") in expected["contacts"]
    assert (("+34600000003",), "Marta Puig", "Perfil") in expected["contacts"]
    assert sum(1 for t in expected["tickets"] if t[5] is not None) == 2  # the agent's capacity... of two
    assert expected["attachments"] == [("<e6@x>", "dni.pdf", "stored")]
    assert "reply_window.waiting" in expected["outbox"]  # released when the citizen wrote (SM4)


async def test_a_batch_is_all_or_nothing(ctx: HubContext, clock: FakeClock) -> None:
    broken = InboundMessage(
        channel="email", provider_id="<bad@x>", received_at=clock.now(),
        identities=[IdentityIn("email", None)],  # type: ignore[arg-type]  # NOT NULL in the database
    )
    with pytest.raises(IntegrityError):
        await do_receive_batch(ctx, [mail(clock, "<good@x>", "anna@example.cat"), broken])
    async with ctx.sessionmaker() as s:
        assert (await s.exec(select(Message))).all() == []
        assert (await s.exec(select(Ticket))).all() == []
    got = await do_receive_batch(ctx, [mail(clock, "<good@x>", "anna@example.cat")])
    assert got[0].new_ticket and not got[0].duplicate


async def test_a_later_batch_recognises_what_an_earlier_one_stored(ctx: HubContext, clock: FakeClock) -> None:
    first = await do_receive_batch(ctx, [mail(clock, f"<m{i}@x>", f"c{i}@example.cat") for i in range(5)])
    clock.advance(timedelta(minutes=1))
    again = await do_receive_batch(ctx, [mail(clock, f"<m{i}@x>", f"c{i}@example.cat") for i in range(3, 8)])
    assert [r.duplicate for r in again] == [True, True, False, False, False]
    assert [r.ticket_id for r in again[:2]] == [r.ticket_id for r in first[3:]]
    async with ctx.sessionmaker() as s:
        assert len((await s.exec(select(Ticket))).all()) == 8
        assert len((await s.exec(select(Contact))).all()) == 8


async def test_accepted_webhooks_are_processed_together_in_arrival_order(ctx: HubContext, clock: FakeClock) -> None:
    from hub.actions.messages import do_accept_inbound, do_process_inbox_batch

    ids = [
        await do_accept_inbound(ctx, whatsapp(clock, "SMa", "+34600000009", "Hola")),
        await do_accept_inbound(ctx, whatsapp(clock, "SMb", "+34600000009", "Em dic Pau Roca")),
        await do_accept_inbound(ctx, whatsapp(clock, "SMc", "+34600000010", "Bon dia")),
    ]
    assert await do_accept_inbound(ctx, whatsapp(clock, "SMa", "+34600000009", "Hola")) is None  # a retry
    got = await do_process_inbox_batch(ctx, [i for i in reversed(ids) if i is not None])
    assert [(r.new_ticket, r.duplicate) for r in got] == [(True, False), (False, False), (True, False)]
    async with ctx.sessionmaker() as s:
        [pau] = (await s.exec(select(Contact).where(Contact.name == "Pau Roca"))).all()
        tickets = (await s.exec(select(Ticket).order_by(col(Ticket.id)))).all()
    assert [t.status for t in tickets] == ["waiting", "identifying"] and tickets[0].contact_id == pau.id
    assert await do_process_inbox_batch(ctx, [i for i in ids if i is not None]) == []  # done already


async def test_one_bad_inbox_row_does_not_hold_back_the_others(runtime: HubContext, clock: FakeClock) -> None:
    from hub.actions.messages import do_accept_inbound
    from hub.db.tables import Inbox
    from hub.actions.messages import do_process_inbox_group

    good = await do_accept_inbound(runtime, whatsapp(clock, "SMg", "+34600000011", "Hola"))
    bad = await do_accept_inbound(runtime, whatsapp(clock, "SMx", "+34600000012", "Hola"))
    async with runtime.sessionmaker() as s:  # a payload this version cannot read
        row = await s.get(Inbox, bad)
        assert row is not None
        row.payload = {**row.payload, "identities": [{"kind": "phone", "value": None}]}
        s.add(row)
        await s.commit()
    with pytest.raises(msgspec.ValidationError):  # raised, so that dramatiq retries the bad row
        await do_process_inbox_group(runtime, [bad, good])
    async with runtime.sessionmaker() as s:
        rows = {r.id: r for r in (await s.exec(select(Inbox))).all()}
        assert rows[good].processed_at is not None and rows[bad].processed_at is None  # retried later
        assert len((await s.exec(select(Message).where(Message.provider_id == "SMg"))).all()) == 1
