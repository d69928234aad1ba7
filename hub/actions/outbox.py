"""Delivery bookkeeping for outbox rows: claim, complete, retry, fail, find the stuck ones.

Guarantees. A row is claimed by one conditional UPDATE (pending and due, or `sending` with an
expired lease), so however many jobs name it, one worker at a time sends it; a message is
marked sent only after its sender returned. While an attempt lasts its worker renews the lease
(HUB_OUTBOX_LEASE, renewed every third of it), so a slow send keeps its row and only a dead
worker's row frees, one lease after its last renewal. Such a row is `interrupted` (so is one
whose attempt ended in a transient error: a timeout may hide a message the provider has): its
attempt may have reached the provider. Before sending an interrupted message again, a sender
that can ask its provider does (`hub.delivery.Lookup`; Twilio's Messages list) and adopts the
earlier attempt it finds, so nothing is repeated. A worker thread's job has several attempts
on their way at once (`hub.actions.deliver`), but of those its provider could not be asked
about (SMTP, a WhatsApp template) only one, marked sent before the next begins: a crash
interrupts at most one such send per worker thread (N threads: N), and only those N messages
per crashed worker may reach the citizen twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, any_, bindparam, case, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select

from hub import events
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Attachment, Contact, Identity, Message, Outbox, Ticket
from hub.delivery import Delivered, OutboundMessage, status_moves_forward
from hub.tickets import Event, EventKind

LEASE = timedelta(seconds=60)
_OUTBOX, _MESSAGES = Outbox.__table__, Message.__table__  # type: ignore[attr-defined]


def backoff(attempt: int) -> timedelta:
    """2 s, 4 s, 8 s ... capped at 10 minutes."""
    return timedelta(seconds=min(600, 2 ** max(1, attempt)))


async def claim_delivery(ctx: HubContext, outbox_id: int, lease: timedelta | None = None) -> OutboundMessage | None:
    """Take an outbox row for sending; None if it is not due, already sent, or leased by another.

    The lease (HUB_OUTBOX_LEASE) is renewed while the attempt lasts (`hub.actions.deliver`).
    """
    claimed = await mark_sent_and_claim(ctx, [], [outbox_id], lease)
    return claimed[0] if claimed else None


async def complete_delivery(
    ctx: HubContext, outbox_id: int, provider_id: str | None, status: str = "sent", meta: dict | None = None
) -> None:
    await mark_sent_and_claim(ctx, [(outbox_id, Delivered(provider_id, status, meta or {}))], [])


async def mark_sent_and_claim(ctx: HubContext, sent: Sequence[tuple[int, Delivered]], claim: Sequence[int],
                              lease: timedelta | None = None) -> list[OutboundMessage]:
    """One transaction: rows whose sender returned marked sent, then rows claimed for sending.

    Marking: a row already marked sent is left as it is; its message keeps whichever status is
    further on (a status callback may have raced ahead). Claiming, in id order: the rows due (or
    whose lease lapsed: taken over, `interrupted`) are taken, the others left; on PostgreSQL a
    row another transaction holds locked right now is left too (SKIP LOCKED): whoever holds it
    is settling it. Eight statements at most, whatever the number of rows, each prepared once
    (`_Statements`); plain rows, no ORM objects. `MessageStatusChanged` is announced after commit.
    """
    if not sent and not claim:
        return []
    now = ctx.clock.now()
    q = _statements(ctx.engine.dialect.name)
    announced: list[events.Announcement] = []
    claimed: list[OutboundMessage] = []
    async with ctx.engine.begin() as conn:
        if sent:
            announced = await _mark_sent(conn, q, now, sent)
        if claim:
            claimed = await _claim(conn, q, now, now + (lease or ctx.settings.outbox_lease), claim)
    await ctx.bus.publish(announced)
    return claimed


async def _mark_sent(conn: AsyncConnection, q: "_Statements", now: datetime,
                     sent: Sequence[tuple[int, Delivered]]) -> list[events.Announcement]:
    delivered = dict(sent)
    marked = (await conn.execute(q.mark_sent, {"ids": sorted(delivered), "now": now})).all()
    if not marked:
        return []
    by_message = {message_id: delivered[outbox_id] for outbox_id, message_id in marked}
    changes, announced = [], []
    for message_id, ticket_id, current, provider_id, meta in (
        await conn.execute(q.lock_messages, {"mids": sorted(by_message)})
    ).all():
        result = by_message[message_id]
        moves = current in ("queued", "sending") or status_moves_forward(current, result.status)
        changes.append({
            "m_id": message_id, "m_provider_id": result.provider_id or provider_id, "m_at": now,
            "m_status": result.status if moves else current, "m_meta": {**meta, **result.meta} if result.meta else meta,
        })
        announced.append(events.MessageStatusChanged(ticket_id, message_id=message_id))
    await conn.execute(q.message_sent, changes)
    return announced


async def _claim(conn: AsyncConnection, q: "_Statements", now: datetime, until: datetime,
                 outbox_ids: Sequence[int]) -> list[OutboundMessage]:
    taken = (await conn.execute(q.claim, {"ids": sorted(outbox_ids), "now": now, "until": until})).all()
    if not taken:
        return []
    message_ids = sorted(row.message_id for row in taken)
    messages = {row.id: row for row in (await conn.execute(q.messages, {"mids": message_ids})).all()}
    identities: dict[int, dict[str, list[str]]] = {}
    contacts = sorted({row.contact_id for row in messages.values()})
    for contact_id, kind, value in (await conn.execute(q.identities, {"cids": contacts})).all():
        identities.setdefault(contact_id, {}).setdefault(kind, []).append(value)
    attachments: dict[int, list[dict[str, object]]] = {}
    for row in (await conn.execute(q.attachments, {"mids": message_ids})).all():
        attachments.setdefault(row.message_id, []).append({
            "id": row.id, "filename": row.filename, "content_type": row.content_type, "storage_key": row.storage_key,
            "size": row.size, "sha256": row.sha256,
        })
    await conn.execute(q.messages_sending, {"mids": message_ids, "now": now})
    out = []
    for row in sorted(taken, key=lambda r: r.id):
        msg = messages[row.message_id]
        out.append(OutboundMessage(
            outbox_id=row.id, message_id=msg.id, ticket_id=msg.ticket_id, ticket_reference=msg.reference or "",
            channel=msg.channel, kind=msg.kind, body=msg.body, meta=dict(msg.meta), contact_id=msg.contact_id,
            contact_name=msg.name or msg.display_hint, language=msg.language,
            identities=identities.get(msg.contact_id, {}), subject=msg.subject, last_inbound_at=msg.last_inbound_at,
            attempt=row.attempts, attachments=attachments.get(msg.id, []), claimed_at=now,
            created_at=msg.created_at, interrupted=bool(row.uncertain),
        ))
    return out


class _Statements:
    """The statements of `mark_sent_and_claim`, built once per dialect: building a statement
    and its cache key costs more CPU than running it. Ids travel as one array on PostgreSQL
    (`= ANY($1)`: one prepared statement whatever their number), as an expanding IN elsewhere."""

    def __init__(self, dialect: str) -> None:
        o, m, t = _OUTBOX, _MESSAGES, Ticket.__table__  # type: ignore[attr-defined]
        c, i, a = Contact.__table__, Identity.__table__, Attachment.__table__  # type: ignore[attr-defined]

        def among(column: Any, name: str) -> Any:
            if dialect == "postgresql":
                return column == any_(bindparam(name, type_=postgresql.ARRAY(Integer)))
            return column.in_(bindparam(name, expanding=True))

        now = bindparam("now", type_=o.c.next_attempt_at.type)
        due = ((o.c.status == "pending") & (o.c.next_attempt_at <= now)) | ((o.c.status == "sending") & (o.c.lease_until < now))
        free = sa_select(o.c.id).where(among(o.c.id, "ids"), due).order_by(o.c.id).with_for_update(skip_locked=True)
        self.claim = update(o).where(o.c.id.in_(free), due).values(
            status="sending", attempts=o.c.attempts + 1, lease_until=bindparam("until", type_=o.c.lease_until.type),
            uncertain=case((o.c.status == "sending", True), else_=o.c.uncertain),  # its worker died
        ).returning(o.c.id, o.c.message_id, o.c.attempts, o.c.uncertain)
        self.messages = (
            sa_select(m.c.id, m.c.ticket_id, m.c.contact_id, m.c.channel, m.c.kind, m.c.body, m.c.meta, m.c.created_at,
                      t.c.reference, t.c.subject, t.c.last_inbound_at, c.c.name, c.c.display_hint, c.c.language)
            .join_from(m, t, t.c.id == m.c.ticket_id).join(c, c.c.id == m.c.contact_id).where(among(m.c.id, "mids"))
        )
        self.identities = sa_select(i.c.contact_id, i.c.kind, i.c.value).where(among(i.c.contact_id, "cids")).order_by(i.c.id)
        self.attachments = (
            sa_select(a.c.id, a.c.message_id, a.c.filename, a.c.content_type, a.c.storage_key, a.c.size, a.c.sha256)
            .where(among(a.c.message_id, "mids")).order_by(a.c.id)
        )
        self.messages_sending = update(m).where(among(m.c.id, "mids")).values(
            status="sending", status_at=bindparam("now", type_=m.c.status_at.type))
        self.by_citizen = (
            sa_select(o.c.id, m.c.contact_id, o.c.channel).join_from(o, m, m.c.id == o.c.message_id)
            .where(among(o.c.id, "ids"), o.c.status.in_(("pending", "sending"))).order_by(o.c.id)
        )
        self.mark_sent = (
            update(o).where(among(o.c.id, "ids"), o.c.status != "sent")
            .values(status="sent", sent_at=bindparam("now", type_=o.c.sent_at.type), lease_until=None, last_error=None,
                    uncertain=False)
            .returning(o.c.id, o.c.message_id)
        )
        self.lock_messages = (
            sa_select(m.c.id, m.c.ticket_id, m.c.status, m.c.provider_id, m.c.meta)
            .where(among(m.c.id, "mids")).order_by(m.c.id).with_for_update()
        )
        self.message_sent = update(m).where(m.c.id == bindparam("m_id")).values(
            provider_id=bindparam("m_provider_id"), status=bindparam("m_status"),
            status_at=bindparam("m_at", type_=m.c.status_at.type), meta=bindparam("m_meta", type_=m.c.meta.type),
        )


_BUILT: dict[str, _Statements] = {}


def _statements(dialect: str) -> _Statements:
    if dialect not in _BUILT:
        _BUILT[dialect] = _Statements(dialect)
    return _BUILT[dialect]


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


async def deliveries_by_citizen(ctx: HubContext, outbox_ids: Sequence[int]) -> list[tuple[int, int, str]]:
    """(outbox id, contact id, channel) of those rows still to send (pending or sending), in id order."""
    async with ctx.engine.connect() as conn:
        rows = (await conn.execute(_statements(ctx.engine.dialect.name).by_citizen, {"ids": sorted(outbox_ids)})).all()
        await conn.rollback()
    return [(outbox_id, contact_id, channel) for outbox_id, contact_id, channel in rows]


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
