"""Automatic messages: pick the text (manager's override or catalogue), queue it for delivery."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from hub.actions.unit import UnitOfWork
from hub.db.tables import Contact, Message, Text, Ticket
from hub.texts import default_text, normalise_language, render
from hub.tickets import EventKind, Event


async def text_for(uow: UnitOfWork, key: str, language: str) -> str:
    texts: dict[tuple[str, str], str] = uow.cache.setdefault("texts", {})
    if (key, language) not in texts:
        row = (await uow.session.exec(select(Text).where(Text.key == key, Text.language == language))).first()
        texts[(key, language)] = row.body if row is not None and row.body.strip() else default_text(key, language)
    return texts[(key, language)]


async def queue_auto_message(
    uow: UnitOfWork, ticket: Ticket, contact: Contact, key: str, *, hold: bool = False,
    meta: dict[str, Any] | None = None, **values: Any
) -> Message:
    """Queue the automatic text `key`; with `hold`, keep it (status `held`) until the citizen
    writes again (a message that cannot go outside the reply window)."""
    language = normalise_language(contact.language, uow.ctx.settings.language)
    body = render(await text_for(uow, key, language), **values)
    message = Message(
        ticket_id=ticket.id, contact_id=contact.id, channel=ticket.channel, direction="out", kind="auto",
        body=body, status="held" if hold else "queued", created_at=uow.now, status_at=uow.now,
        meta={"text_key": key, "language": language, "variables": {k: str(v) for k, v in values.items()},
              **(meta or {}), **({"held": "window_closed"} if hold else {})},
    )
    await uow.assign_id(message)
    if not hold:
        uow.queue_delivery(message)
    uow.record(ticket, Event(EventKind.AUTO_MESSAGE_SENT, uow.now, {"text_key": key, "message_id": message.id}))
    return message
