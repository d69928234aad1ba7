"""Citizens' personal data (GDPR): export, erasure, and the retention period.

- `contact_export` gathers everything the hub holds on one person (the contact and the contacts
  merged into it, identities, tickets, messages and notes, attachments' metadata, calls,
  events, survey answers) as plain JSON-ready data.
- `do_erase_contact` removes the person from the hub: names, identities, message texts and
  headers, the accepted webhook payloads, attachment files, call numbers and notes, survey
  comments. What statistics count stays: ticket rows with their timestamps and statuses,
  messages as empty rows (direction, channel, time), events, call durations and outcomes,
  survey ratings. The contact row stays, marked `erased_at`, so counts per contact still add up.
- `do_anonymise_expired` is the retention sweep: tickets closed longer than `HUB_RETENTION`
  ago lose their contents the same way (in small batches, called by the scheduler); a contact
  left with nothing but anonymised tickets and no recent activity is then erased.

Every export and erasure is in the audit trail (`hub.actions.audit`); the retention sweep
records one entry per batch.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import SQLModel, col, select

from hub.actions.audit import add_audit
from hub.actions.permissions import Who, acting, check_manager
from hub.actions.errors import Conflict, NotFound
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.events import ContactChanged
from hub.tickets import CLOSED_STATUSES
from hub.db.tables import (
    Attachment, Call, Contact, EventRow, Identity, Inbox, Message, SurveyResponse, Ticket, TicketEntryPoint, TicketTopic,
)

log = logging.getLogger(__name__)

CLOSED = [s.value for s in CLOSED_STATUSES]

EXPORT_FORMAT = "contact-hub.export/1"
ERASED_META = {"erased": True}
# Event data keys that may hold a person's words, name or number (e.g. name_changed from/to).
PERSONAL_EVENT_KEYS = frozenset({"from", "to", "name", "number", "body", "text", "comment", "subject", "email",
                                 "topic", "notes"})
# Columns never exported: secrets of the hub, not data about the person.
_NOT_EXPORTED = {SurveyResponse: {"token_hash"}}


# Export ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _row(row: SQLModel) -> dict[str, Any]:
    skip = _NOT_EXPORTED.get(type(row), set())
    return {k: _plain(v) for k, v in row.model_dump().items() if k not in skip}


async def _contact_ids(session: Any, contact_id: int) -> list[int]:
    """The contact and every contact merged into it (they are the same person)."""
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise NotFound(f"contact {contact_id} does not exist")
    if contact.merged_into_id is not None:
        raise Conflict(f"contact {contact_id} was merged into {contact.merged_into_id}: use that one")
    merged = (await session.exec(select(Contact.id).where(Contact.merged_into_id == contact_id))).all()
    return [contact_id, *merged]


async def contact_export(ctx: HubContext, contact_id: int, agent_id: Who) -> dict[str, Any]:
    """Everything the hub holds on one person, machine-readable, for a manager or admin (an
    actor or an agent id; None is the system); the read and its entry share a transaction."""
    async with UnitOfWork(ctx) as uow:
        session = uow.session
        actor = await acting(session, agent_id)
        check_manager(actor)
        ids = await _contact_ids(session, contact_id)
        contacts = (await session.exec(select(Contact).where(col(Contact.id).in_(ids)).order_by(col(Contact.id)))).all()
        identities = (await session.exec(
            select(Identity).where(col(Identity.contact_id).in_(ids)).order_by(col(Identity.id))
        )).all()
        tickets = (await session.exec(
            select(Ticket).where(col(Ticket.contact_id).in_(ids)).order_by(col(Ticket.id))
        )).all()
        ticket_ids = [t.id for t in tickets]
        messages = (await session.exec(
            select(Message).where(col(Message.ticket_id).in_(ticket_ids) | col(Message.contact_id).in_(ids))
            .order_by(col(Message.id))
        )).all()
        message_ids = [m.id for m in messages]
        attachments = (await session.exec(
            select(Attachment).where(col(Attachment.message_id).in_(message_ids)).order_by(col(Attachment.id))
        )).all()
        calls = (await session.exec(
            select(Call).where(col(Call.contact_id).in_(ids) | col(Call.ticket_id).in_(ticket_ids))
            .order_by(col(Call.id))
        )).all()
        events = (await session.exec(
            select(EventRow).where(col(EventRow.ticket_id).in_(ticket_ids)).order_by(col(EventRow.id))
        )).all()
        surveys = (await session.exec(
            select(SurveyResponse).where(col(SurveyResponse.ticket_id).in_(ticket_ids))
            .order_by(col(SurveyResponse.id))
        )).all()
        # What the consultations were about (no personal data: kept on erasure, like the tickets).
        # Not exported and kept as they are: TicketSeen (which message each agent last saw: ids
        # only, the agents' own reading state, nothing the citizen said or is).
        topics = (await session.exec(
            select(TicketTopic).where(col(TicketTopic.ticket_id).in_(ticket_ids))
            .order_by(col(TicketTopic.ticket_id), col(TicketTopic.topic_id))
        )).all()
        entry_points = (await session.exec(
            select(TicketEntryPoint).where(col(TicketEntryPoint.ticket_id).in_(ticket_ids))
            .order_by(col(TicketEntryPoint.ticket_id))
        )).all()
        add_audit(uow, actor.agent_id, "contact.export", "contact", contact_id,
                  tickets=len(tickets), messages=len(messages))
        exported_at = uow.now
    data = {
        "format": EXPORT_FORMAT,
        "exported_at": exported_at.isoformat(),
        "contact_id": contact_id,
        "contacts": [_row(c) for c in contacts],
        "identities": [_row(i) for i in identities],
        "tickets": [_row(t) for t in tickets],
        "messages": [_row(m) for m in messages],
        "attachments": [_row(a) for a in attachments],
        "calls": [_row(c) for c in calls],
        "events": [_row(e) for e in events],
        "survey_responses": [_row(s) for s in surveys],
        "ticket_topics": [_row(t) for t in topics],
        "ticket_entry_points": [_row(e) for e in entry_points],
    }
    return data


# Erasure ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Erased:
    contact_id: int
    identities: int
    tickets: int
    messages: int
    attachments: int
    files: int
    calls: int
    surveys: int


async def _scrub_tickets(uow: UnitOfWork, ticket_ids: list[int], contact_ids: list[int]) -> dict[str, Any]:
    """Remove the contents of these tickets (and of the contacts' ticketless messages and calls).

    Returns the counts and the sha256 of attachment files that may now be unreferenced.
    """
    session = uow.session
    msg_filter = col(Message.ticket_id).in_(ticket_ids)
    if contact_ids:
        msg_filter = msg_filter | col(Message.contact_id).in_(contact_ids)
    messages = (await session.exec(select(Message.id, Message.channel, Message.provider_id).where(msg_filter))).all()
    message_ids = [m[0] for m in messages]
    # Accepted webhook payloads and senders hold the raw message (text, numbers): empty them, keep the row
    # so a provider retry of the same id is still recognised as a duplicate.
    by_channel: dict[str, list[str]] = {}
    for _, channel, provider_id in messages:
        if provider_id:
            by_channel.setdefault(channel, []).append(provider_id)
    for channel, provider_ids in by_channel.items():
        for start in range(0, len(provider_ids), 500):
            await session.exec(update(Inbox).where(  # type: ignore[call-overload]
                Inbox.channel == channel, col(Inbox.provider_id).in_(provider_ids[start:start + 500])
            ).values(payload={}, error=None, sender=None).execution_options(synchronize_session=False))
    shas: set[str] = set()
    attachments = 0
    if message_ids:
        rows = (await session.exec(
            select(Attachment).where(col(Attachment.message_id).in_(message_ids), Attachment.status != "erased")
        )).all()
        for att in rows:
            if att.sha256:
                shas.add(att.sha256)
            att.filename, att.storage_key, att.sha256, att.source_url = "", None, None, None
            att.status, att.reason = "erased", None
            session.add(att)
        attachments = len(rows)
        await session.exec(update(Message).where(col(Message.id).in_(message_ids)).values(  # type: ignore[call-overload]
            body="", body_html="", meta=ERASED_META, error_detail=None,
        ).execution_options(synchronize_session=False))
    call_filter = col(Call.ticket_id).in_(ticket_ids)
    if contact_ids:
        call_filter = call_filter | col(Call.contact_id).in_(contact_ids)
    calls = (await session.exec(  # type: ignore[call-overload]
        update(Call).where(call_filter).values(number="", topic="", notes="")
        .execution_options(synchronize_session=False)
    )).rowcount
    surveys = (await session.exec(  # type: ignore[call-overload]
        update(SurveyResponse).where(col(SurveyResponse.ticket_id).in_(ticket_ids)).values(comment="")
        .execution_options(synchronize_session=False)
    )).rowcount
    # Events stay (statistics are built from them); the few that carry a name or a number lose it.
    if ticket_ids:
        for event in (await session.exec(select(EventRow).where(col(EventRow.ticket_id).in_(ticket_ids)))).all():
            data = dict(event.data or {})
            if any(k in PERSONAL_EVENT_KEYS and isinstance(v, str) and v for k, v in data.items()):
                event.data = {k: ("" if k in PERSONAL_EVENT_KEYS and isinstance(v, str) else v) for k, v in data.items()}
                session.add(event)
    await session.exec(update(Ticket).where(col(Ticket.id).in_(ticket_ids)).values(  # type: ignore[call-overload]
        subject="", anonymised_at=uow.now,
    ).execution_options(synchronize_session=False))
    return {"messages": len(message_ids), "attachments": attachments, "calls": calls, "surveys": surveys,
            "shas": shas}


async def _unreferenced(uow: UnitOfWork, shas: set[str]) -> list[str]:
    """Of these files, those no remaining attachment points to (files are shared by content)."""
    if not shas:
        return []
    await uow.ctx.files.hold(uow.session, shas)  # a transaction keeping one of them now commits first
    used = set((await uow.session.exec(
        select(Attachment.sha256).where(col(Attachment.sha256).in_(list(shas)))
    )).all())
    return sorted(shas - used)


async def _erase_people(uow: UnitOfWork, ids: list[int]) -> int:
    identities = (await uow.session.exec(  # type: ignore[call-overload]
        delete(Identity).where(col(Identity.contact_id).in_(ids)).execution_options(synchronize_session=False)
    )).rowcount
    await uow.session.exec(update(Contact).where(col(Contact.id).in_(ids)).values(  # type: ignore[call-overload]
        name="", display_hint="", erased_at=uow.now, updated_at=uow.now,
    ).execution_options(synchronize_session=False))
    return int(identities or 0)


async def do_erase_contact(ctx: HubContext, contact_id: int, agent_id: Who) -> Erased:
    """Erase one person's data, by a manager or admin (an actor or an agent id; None is the
    system); statistics keep their counts. Idempotent."""
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, agent_id)
        check_manager(actor)
        agent_id = actor.agent_id
        contact = await uow.session.get(Contact, contact_id, with_for_update=True)
        if contact is None:
            raise NotFound(f"contact {contact_id} does not exist")
        ids = await _contact_ids(uow.session, contact_id)
        open_tickets = (await uow.session.exec(
            select(func.count()).select_from(Ticket)
            .where(col(Ticket.contact_id).in_(ids), col(Ticket.status).notin_(CLOSED))
        )).one()
        ticket_ids = list((await uow.session.exec(select(Ticket.id).where(col(Ticket.contact_id).in_(ids)))).all())
        counts = await _scrub_tickets(uow, ticket_ids, ids)
        identities = await _erase_people(uow, ids)
        shas = await _unreferenced(uow, counts["shas"])
        files = await ctx.files.forget(uow.session, shas)  # in the database: with the rows
        add_audit(uow, agent_id, "contact.erase", "contact", contact_id, tickets=len(ticket_ids),
                  messages=counts["messages"], open_tickets=int(open_tickets))
        uow.emit(ContactChanged(contact_id))
    files += ctx.files.forget_after_commit(shas)  # on a disk: only once the erasure is committed
    return Erased(contact_id, identities, len(ticket_ids), counts["messages"], counts["attachments"], files,
                  int(counts["calls"] or 0), int(counts["surveys"] or 0))


# Retention ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Swept:
    tickets: int
    contacts: int
    files: int


async def do_anonymise_expired(ctx: HubContext, limit: int = 50) -> Swept:
    """Anonymise up to `limit` tickets closed longer than the retention period ago.

    The scheduler calls it every sweep; a backlog drains `limit` tickets at a time, so one
    transaction never holds many rows. Returns what it did (zero when there is nothing due).
    """
    retention = ctx.settings.retention
    if not retention:  # 0 switches retention off
        return Swept(0, 0, 0)
    cutoff = ctx.clock.now() - retention
    async with UnitOfWork(ctx) as uow:
        rows = (await uow.session.exec(
            select(Ticket.id, Ticket.contact_id).where(
                col(Ticket.status).in_(CLOSED), col(Ticket.closed_at) < cutoff, col(Ticket.anonymised_at).is_(None),
            ).order_by(col(Ticket.closed_at)).limit(limit).with_for_update(skip_locked=True)
        )).all()
        if not rows:
            return Swept(0, 0, 0)
        ticket_ids = [r[0] for r in rows]
        counts = await _scrub_tickets(uow, ticket_ids, [])
        # A person with nothing left but anonymised tickets, and quiet since the cutoff, goes too.
        contact_ids = sorted({r[1] for r in rows})
        live = set((await uow.session.exec(
            select(Ticket.contact_id).where(
                col(Ticket.contact_id).in_(contact_ids), col(Ticket.anonymised_at).is_(None),
                col(Ticket.id).notin_(ticket_ids),
            )
        )).all())
        recent_calls = set((await uow.session.exec(
            select(Call.contact_id).where(col(Call.contact_id).in_(contact_ids), col(Call.started_at) >= cutoff)
        )).all())
        gone = [
            c.id for c in (await uow.session.exec(
                select(Contact).where(col(Contact.id).in_(contact_ids), col(Contact.erased_at).is_(None))
            )).all()
            if c.id not in live and c.id not in recent_calls and c.merged_into_id is None
        ]
        if gone:
            extra = await _scrub_tickets(uow, [], gone)  # their ticketless calls and messages
            counts["shas"] |= extra["shas"]
            merged = list((await uow.session.exec(select(Contact.id).where(col(Contact.merged_into_id).in_(gone)))).all())
            await _erase_people(uow, [*gone, *merged])
        shas = await _unreferenced(uow, counts["shas"])
        files = await ctx.files.forget(uow.session, shas)
        add_audit(uow, None, "retention.anonymise", "ticket", ticket_ids[0], tickets=len(ticket_ids),
                  contacts=len(gone), retention_days=retention.days)
    files += ctx.files.forget_after_commit(shas)
    return Swept(len(ticket_ids), len(gone), files)
