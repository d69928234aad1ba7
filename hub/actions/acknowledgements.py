"""Automatic acknowledgements: "we have your message, its reference is ...".

A channel asks for one after a person's new consultation (never for automatic mail: the
channel decides what is automatic). The core decides whether it is still due: at most one
per ticket, and at most `per_hour` per contact, so a citizen writing ten mails in a row, or a
loop that slipped through, gets a bounded number of answers.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_
from sqlmodel import col, select

from hub.actions.office import calendar_in, opening_in
from hub.actions.texts import queue_auto_message
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Contact, Message, Ticket
from hub.texts import OUTSIDE_HOURS_VARIANT, normalise_language
from hub.tickets import OPEN_STATUSES


async def do_acknowledge(
    ctx: HubContext, ticket_id: int, key: str = "email.ack", per_hour: int = 3,
) -> int | None:
    """Queue the acknowledgement of a new ticket; returns its message id, or None if not due."""
    async with UnitOfWork(ctx) as uow:
        ticket = await uow.ticket_for_update(ticket_id)
        contact = await uow.session.get(Contact, ticket.contact_id)
        if contact is None:
            return None
        message = await acknowledge(uow, ticket, contact, key, per_hour)
        return message.id if message is not None else None


async def acknowledge(uow: UnitOfWork, ticket: Ticket, contact: Contact, key: str, per_hour: int) -> Message | None:
    """Inside a transaction that holds `ticket`: queue its acknowledgement if still due."""
    if ticket.status not in OPEN_STATUSES or contact.erased_at is not None:
        return None
    since = uow.now - timedelta(hours=1)
    sent_here: dict[int, list[Message]] = uow.cache.setdefault("acknowledgements", {})
    if contact.id in uow.cache.get("new_contacts", {}):
        autos = sent_here.get(contact.id, [])  # a contact created in this transaction has no history
    else:
        # One query: this contact's automatic messages of the last hour, and this ticket's.
        autos = list((await uow.session.exec(select(Message).where(
            Message.contact_id == contact.id, Message.kind == "auto", Message.direction == "out",
            or_(col(Message.created_at) >= since, Message.ticket_id == ticket.id),
        ))).all())
    variant = OUTSIDE_HOURS_VARIANT.get(key)
    ours = [m for m in autos if m.meta.get("text_key") in (key, variant)]
    if any(m.ticket_id == ticket.id for m in ours):
        return None  # once per ticket
    if sum(1 for m in ours if m.created_at >= since) >= per_hour:
        return None  # rate limit per sender
    calendar = await calendar_in(uow)
    if variant and not calendar.is_open(uow.now):
        language = normalise_language(contact.language, uow.ctx.settings.language)
        opening = await opening_in(uow, language)
        message = await queue_auto_message(uow, ticket, contact, variant, reference=ticket.reference, opening=opening)
    else:
        message = await queue_auto_message(uow, ticket, contact, key, reference=ticket.reference)
    assert contact.id is not None
    sent_here.setdefault(contact.id, []).append(message)
    return message
