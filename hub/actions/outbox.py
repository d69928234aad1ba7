"""Delivery bookkeeping for outbox rows: claim, complete, retry, fail, find the stuck ones.

Guarantees. A row is claimed by one conditional UPDATE (pending and due, or `sending` with an
expired lease), so however many jobs name it, one worker at a time sends it; a message is
marked sent only after its sender returned. While an attempt lasts its worker renews the lease
(HUB_OUTBOX_LEASE, renewed every third of it), so a slow send keeps its row and only a dead
worker's row frees, one lease after its last renewal. Such a row is `interrupted` (so is one
whose attempt ended in a transient error: a timeout may hide a message the provider has): its
attempt may have reached the provider. A worker process runs at most one attempt per worker thread, so
a crash interrupts at most that many (N threads: N). Before sending an interrupted message
again, a sender that can ask its provider does (`hub.delivery.Lookup`; Twilio's Messages list)
and adopts the earlier attempt it finds, so nothing is repeated; a sender that cannot (SMTP)
sends again: at most those N messages per crashed worker may reach the citizen twice.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select

from hub import events
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

    The lease (HUB_OUTBOX_LEASE) is renewed while the attempt lasts (`runtime.tasks`).
    """
    now = ctx.clock.now()
    lease = lease or ctx.settings.outbox_lease
    async with UnitOfWork(ctx) as uow:
        for taken_over, condition in (
            (False, (col(Outbox.status) == "pending") & (col(Outbox.next_attempt_at) <= now)),
            (True, (col(Outbox.status) == "sending") & (col(Outbox.lease_until) < now)),  # its worker died
        ):
            values: dict[str, object] = {"status": "sending", "attempts": col(Outbox.attempts) + 1, "lease_until": now + lease}
            if taken_over:
                values["uncertain"] = True
            stmt = (
                update(Outbox).where(col(Outbox.id) == outbox_id, condition).values(**values)
                .execution_options(synchronize_session=False)
            )
            if (await uow.session.exec(stmt)).rowcount == 1:  # type: ignore[call-overload]
                break
        else:
            return None
        row = await uow.session.get(Outbox, outbox_id)
        assert row is not None
        await uow.session.refresh(row)
        interrupted = row.uncertain
        message = await uow.session.get(Message, row.message_id)
        assert message is not None
        ticket = await uow.session.get(Ticket, message.ticket_id)
        contact = await uow.session.get(Contact, message.contact_id)
        assert ticket is not None and contact is not None
        identities: dict[str, list[str]] = {}
        for ident in (await uow.session.exec(select(Identity).where(Identity.contact_id == contact.id))).all():
            identities.setdefault(ident.kind, []).append(ident.value)
        attachments = [
            {"id": a.id, "filename": a.filename, "content_type": a.content_type, "storage_key": a.storage_key,
             "size": a.size, "sha256": a.sha256}
            for a in (await uow.session.exec(
                select(Attachment).where(Attachment.message_id == message.id).order_by(col(Attachment.id))
            )).all()
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
            attempt=row.attempts, attachments=attachments, claimed_at=now, created_at=message.created_at,
            interrupted=interrupted,
        )


async def extend_lease(ctx: HubContext, outbox_id: int, attempt: int, lease: timedelta | None = None) -> bool:
    """The attempt `attempt` is still running: keep the row for another lease. False if it is no longer ours."""
    lease = lease or ctx.settings.outbox_lease
    async with ctx.sessionmaker() as session:
        stmt = (
            update(Outbox).where(col(Outbox.id) == outbox_id, col(Outbox.status) == "sending",
                                 col(Outbox.attempts) == attempt)
            .values(lease_until=ctx.clock.now() + lease).execution_options(synchronize_session=False)
        )
        kept = (await session.exec(stmt)).rowcount == 1  # type: ignore[call-overload]
        await session.commit()
        return kept


async def complete_delivery(
    ctx: HubContext, outbox_id: int, provider_id: str | None, status: str = "sent", meta: dict | None = None
) -> None:
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(Outbox, outbox_id, with_for_update=True)
        if row is None or row.status == "sent":
            return
        row.status, row.sent_at, row.lease_until, row.last_error, row.uncertain = "sent", uow.now, None, None, False
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
        uow.emit(events.MessageStatusChanged(message.ticket_id, message_id=message.id))


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
        row.uncertain = True  # a timeout or a lost answer may hide a message the provider has
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
