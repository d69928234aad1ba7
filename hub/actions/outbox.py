"""Delivery bookkeeping for outbox rows: claim, complete, retry, fail, find the stuck ones.

Guarantee: a message is marked sent only after its sender returned. A worker that dies while
sending leaves the row `sending` with an expired lease; the relay hands it out again, so at
most the one message in flight at the crash may reach the citizen twice.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select

from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Attachment, Contact, Identity, Message, Outbox, Ticket
from hub.delivery import OutboundMessage, status_moves_forward
from hub.tickets import Event, EventKind

LEASE = timedelta(seconds=60)


def backoff(attempt: int) -> timedelta:
    """2 s, 4 s, 8 s ... capped at 10 minutes."""
    return timedelta(seconds=min(600, 2 ** max(1, attempt)))


async def claim_delivery(ctx: HubContext, outbox_id: int, lease: timedelta | None = None) -> OutboundMessage | None:
    """Take an outbox row for sending; None if it is not due, already sent, or leased by another.

    The lease (HUB_OUTBOX_LEASE, 60 s by default) must outlast one send attempt, timeouts included.
    """
    now = ctx.clock.now()
    lease = lease or ctx.settings.outbox_lease
    async with UnitOfWork(ctx) as uow:
        stmt = (
            update(Outbox)
            .where(
                col(Outbox.id) == outbox_id,
                or_(
                    (col(Outbox.status) == "pending") & (col(Outbox.next_attempt_at) <= now),
                    (col(Outbox.status) == "sending") & (col(Outbox.lease_until) < now),
                ),
            )
            .values(status="sending", attempts=col(Outbox.attempts) + 1, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        if (await uow.session.exec(stmt)).rowcount != 1:  # type: ignore[call-overload]
            return None
        row = await uow.session.get(Outbox, outbox_id)
        assert row is not None
        await uow.session.refresh(row)
        message = await uow.session.get(Message, row.message_id)
        assert message is not None
        ticket = await uow.session.get(Ticket, message.ticket_id)
        contact = await uow.session.get(Contact, message.contact_id)
        assert ticket is not None and contact is not None
        identities: dict[str, list[str]] = {}
        for ident in (await uow.session.exec(select(Identity).where(Identity.contact_id == contact.id))).all():
            identities.setdefault(ident.kind, []).append(ident.value)
        attachments = [
            {"filename": a.filename, "content_type": a.content_type, "storage_key": a.storage_key, "size": a.size}
            for a in (await uow.session.exec(select(Attachment).where(Attachment.message_id == message.id))).all()
        ]
        message.status = "sending"
        message.status_at = now
        uow.session.add(message)
        return OutboundMessage(
            outbox_id=outbox_id, message_id=message.id or 0, ticket_id=ticket.id or 0,
            ticket_reference=ticket.reference or "", channel=message.channel, kind=message.kind,
            body=message.body, meta=dict(message.meta), contact_id=contact.id or 0,
            contact_name=contact.name or contact.display_hint, language=contact.language,
            identities=identities, subject=ticket.subject, last_inbound_at=ticket.last_inbound_at,
            attempt=row.attempts, attachments=attachments, claimed_at=now,
        )


async def complete_delivery(
    ctx: HubContext, outbox_id: int, provider_id: str | None, status: str = "sent", meta: dict | None = None
) -> None:
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(Outbox, outbox_id, with_for_update=True)
        if row is None or row.status == "sent":
            return
        row.status, row.sent_at, row.lease_until, row.last_error = "sent", uow.now, None, None
        uow.session.add(row)
        message = await uow.session.get(Message, row.message_id, with_for_update=True)
        assert message is not None
        message.provider_id = provider_id or message.provider_id
        # A status callback may have raced ahead of us: keep whichever status is further on.
        if message.status in ("queued", "sending") or status_moves_forward(message.status, status):
            message.status = status
        message.status_at = uow.now
        if meta:
            message.meta = {**message.meta, **meta}
        uow.session.add(message)
        uow.notify("message_status", message.ticket_id, message_id=message.id, status=message.status)


async def retry_delivery(ctx: HubContext, outbox_id: int, error: str, delay: timedelta | None = None) -> bool:
    """Schedule another attempt; returns False when the attempts are used up (row failed)."""
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(Outbox, outbox_id, with_for_update=True)
        if row is None or row.status in ("sent", "failed"):
            return False
        if row.attempts >= ctx.settings.outbox_max_attempts:
            await _fail(uow, row, None, f"gave up after {row.attempts} attempts: {error}")
            return False
        row.status, row.lease_until, row.last_error = "pending", None, error[:500]
        row.next_attempt_at = uow.now + (delay or backoff(row.attempts))
        uow.session.add(row)
        message = await uow.session.get(Message, row.message_id, with_for_update=True)
        assert message is not None
        message.status = "queued"
        uow.session.add(message)
        return True


async def fail_delivery(ctx: HubContext, outbox_id: int, code: str | None, detail: str) -> None:
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(Outbox, outbox_id, with_for_update=True)
        if row is None or row.status in ("sent", "failed"):
            return
        await _fail(uow, row, code, detail)


async def _fail(uow: UnitOfWork, row: Outbox, code: str | None, detail: str) -> None:
    row.status, row.lease_until, row.last_error = "failed", None, detail[:500]
    uow.session.add(row)
    message = await uow.session.get(Message, row.message_id, with_for_update=True)
    assert message is not None
    message.status, message.error_code, message.error_detail = "failed", code, detail[:500]
    message.status_at = uow.now
    uow.session.add(message)
    ticket = await uow.session.get(Ticket, message.ticket_id)
    assert ticket is not None
    uow.record(ticket, Event(EventKind.MESSAGE_STATUS, uow.now, {
        "message_id": message.id, "status": "failed", "error_code": code,
    }))


async def stuck_deliveries(ctx: HubContext, older_than: timedelta, limit: int = 500) -> list[int]:
    """Rows whose broker message was probably lost, or whose worker died mid-send."""
    now = ctx.clock.now()
    async with ctx.sessionmaker() as session:
        stmt = (
            select(Outbox.id).where(or_(
                (col(Outbox.status) == "pending") & (col(Outbox.next_attempt_at) <= now - older_than),
                (col(Outbox.status) == "sending") & (col(Outbox.lease_until) < now),
            )).order_by(col(Outbox.id)).limit(limit)
        )
        return [i for i in (await session.exec(stmt)).all() if i is not None]


async def do_update_message_status(
    ctx: HubContext, channel: str, provider_id: str, status: str,
    error_code: str | None = None, detail: str | None = None,
) -> bool:
    """A provider reports on a message we sent. Returns True when the status moved forward."""
    async with UnitOfWork(ctx) as uow:
        message = (await uow.session.exec(select(Message).where(
            Message.channel == channel, Message.provider_id == provider_id
        ).with_for_update())).first()
        if message is None or not status_moves_forward(message.status, status):
            return False
        message.status, message.status_at = status, uow.now
        if error_code or detail:
            message.error_code, message.error_detail = error_code, (detail or "")[:500]
        uow.session.add(message)
        ticket = await uow.session.get(Ticket, message.ticket_id)
        assert ticket is not None
        uow.record(ticket, Event(EventKind.MESSAGE_STATUS, uow.now, {
            "message_id": message.id, "status": status, "error_code": error_code,
        }))
        return True


async def provider_message_exists(ctx: HubContext, channel: str, provider_id: str) -> bool:
    """Do we know a message by this provider id? (A status callback may race its own send.)"""
    async with ctx.sessionmaker() as session:
        stmt = select(Message.id).where(Message.channel == channel, Message.provider_id == provider_id).limit(1)
        return (await session.exec(stmt)).first() is not None
