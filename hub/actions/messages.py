"""Inbound and outbound messages: the path every channel's traffic takes into the core."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy import String, cast, func, update
from sqlmodel import col, select

from hub import events
from hub.actions.attachments import clean_filename
from hub.actions.claim import claim
from hub.actions.acknowledgements import acknowledge
from hub.actions.audit import add_audit
from hub.actions.contacts import find_or_create_contact, prefetch_identities
from hub.actions.entry_points import attribute_first_message
from hub.actions.errors import Conflict, Invalid, NotFound, Refused
from hub.actions.lifecycle import after_queued, open_new_ticket, tell_if_closed, welcome_back
from hub.actions.permissions import Who, acting, check_ticket
from hub.actions.texts import queue_auto_message
from hub.actions.unit import UnitOfWork
from hub.channel_rules import reply_window_open, rules_for
from hub.context import HubContext
from hub.db.lists import among
from hub.db.tables import Agent, Attachment, Contact, Identity, Inbox, Message, Outbox, Ticket, new_row
from hub.files import OutgoingFile, check_files
from hub.inbound import InboundMessage, decode_json, encode, encode_json, sender_key
from hub.names import name_from_answer, stated_name
from hub.tickets import OPEN_STATUSES, AgentReply, CitizenMessage, Event, EventKind, Status

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Received:
    ticket_id: int | None
    message_id: int | None
    duplicate: bool = False
    new_ticket: bool = False


# The webhook hot path ---------------------------------------------------------------------


async def do_accept_inbound(ctx: HubContext, message: InboundMessage) -> int | None:
    """Store an inbound message durably (one insert); None when it was already accepted.

    This is what a webhook calls before it answers the provider: a single statement, so the
    acknowledgement is fast, and a unique constraint, so retries change nothing.
    """
    now = ctx.clock.now()
    sender = sender_key(message)
    if ctx.engine.dialect.name == "postgresql":
        # The hot path: one prepared INSERT on its own asyncpg pool, committed when it returns
        # (autocommit). Through the ORM it costs about three times the CPU (hub.db.fast).
        inbox_id = await ctx.inbox_writer().insert(
            message.channel, message.provider_id, sender, encode_json(message), now)
    else:
        values = {
            "channel": message.channel, "provider_id": message.provider_id, "sender": sender,
            "payload": encode(message), "received_at": now, "attempts": 0,
        }
        stmt = sqlite_insert(Inbox).values(**values)
        stmt = stmt.on_conflict_do_nothing(index_elements=["channel", "provider_id"]).returning(Inbox.id)
        async with ctx.engine.begin() as conn:
            found = (await conn.execute(stmt)).first()
        inbox_id = found[0] if found is not None else None
    if inbox_id is None:
        return None
    await ctx.bus.publish([events.InboxAccepted(inbox_id)])
    return inbox_id


# Processing accepted messages, each sender's in arrival order (`hub.actions.claim`) ----------

# How long after a close a stated name still answers its welcome, on channels without a reply window.
LATE_ANSWER = timedelta(hours=24)


async def _process_senders(ctx: HubContext, hint: list[int] | None, senders: set[str]) -> tuple[list[tuple[int, Received]], set[str]]:
    """One transaction: claim the hinted senders that are free, process their waiting rows in order."""
    dialect = ctx.engine.dialect.name
    async with UnitOfWork(ctx) as uow:
        rows, held = await claim(uow, hint, senders)
        if not rows:
            return [], set()
        await uow.session.exec(  # type: ignore[call-overload]
            update(Inbox).where(among(dialect, col(Inbox.id), [i for i, _ in rows])).values(processed_at=uow.now)
            .execution_options(synchronize_session=False)  # no inbox row is in the session
        )
        inbounds = [decode_json(text) for _, text in rows]
        await _prefetch(uow, inbounds)
        done = [(inbox_id, await receive(uow, inbound)) for (inbox_id, _), inbound in zip(rows, inbounds)]
        return done, held


async def do_process_inbox_batch(ctx: HubContext, inbox_ids: list[int]) -> list[Received]:
    """Turn accepted inbound messages into ticket messages, each sender's in arrival order.

    `inbox_ids` is a hint: whose messages wait. Their senders' unprocessed rows are processed
    (earlier rows first, including ones not named), in one transaction per pass (`receive` on
    each, as `do_receive_batch` does); senders another worker holds right now are left to it.
    All or nothing per pass: on an error the caller may retry the rows one sender at a time.
    """
    if not inbox_ids:
        return []
    results: list[Received] = []
    done, held = await _process_senders(ctx, sorted(set(inbox_ids)), set())
    while done:
        results.extend(r for _, r in done)
        done, held = await _process_senders(ctx, None, held)  # rows that arrived meanwhile
    return results


async def do_process_inbox_group(ctx: HubContext, inbox_ids: list[int]) -> None:
    """Accepted webhooks that arrived together, turned into ticket messages in one transaction.

    If that fails, each row is tried on its own, so one bad row cannot hold the others back;
    the first error is raised afterwards, for the caller to retry (rows done are skipped).
    """
    try:
        await do_process_inbox_batch(ctx, inbox_ids)
        return
    except Exception:
        if len(inbox_ids) == 1:
            raise
        log.warning("processing %d inbox rows together failed; trying them one by one", len(inbox_ids))
    first: Exception | None = None
    for inbox_id in inbox_ids:
        try:
            await do_process_inbox(ctx, inbox_id)
        except Exception as exc:
            first = first or exc
    if first is not None:
        raise first


async def do_process_inbox(ctx: HubContext, inbox_id: int) -> Received | None:
    """Process one accepted message (after any earlier one of its sender); None if it was done already
    or its sender is being processed by another worker right now (who will process it)."""
    results: dict[int, Received] = {}
    done, held = await _process_senders(ctx, [inbox_id], set())
    while done:
        results.update(done)
        done, held = await _process_senders(ctx, None, held)
    return results.get(inbox_id)


async def pending_inbox_ids(ctx: HubContext, older_than_s: float = 0, limit: int = 500) -> list[int]:
    """The oldest unprocessed row of each sender whose messages wait longer than `older_than_s`."""
    cutoff = ctx.clock.now() - timedelta(seconds=older_than_s)
    async with ctx.sessionmaker() as session:
        stmt = (
            select(func.min(Inbox.id)).where(col(Inbox.processed_at).is_(None), Inbox.received_at <= cutoff)
            .group_by(func.coalesce(Inbox.sender, cast(Inbox.id, String))).order_by(func.min(Inbox.id)).limit(limit)
        )
        return [i for i in (await session.exec(stmt)).all() if i is not None]


# The core action --------------------------------------------------------------------------


async def do_receive_message(
    ctx: HubContext, inbound: InboundMessage, inbox_id: int | None = None, *, ack_per_hour: int = 3,
    files: dict[str, bytes] | None = None,
) -> Received:
    """A citizen wrote: store the message on the right ticket and apply the office's rules.
    `files`: the bytes of its stored attachments by checksum, kept in the same transaction."""
    async with UnitOfWork(ctx) as uow:
        await _keep_files(uow, files)
        return await receive(uow, inbound, inbox_id, ack_per_hour=ack_per_hour)


async def _keep_files(uow: UnitOfWork, files: dict[str, bytes] | None) -> None:
    """Attachments that arrived whole (mail) kept with the rows that point to them (`hub.storage`:
    in this very transaction in the database, so an erasure running now cannot remove them)."""
    for sha256, data in sorted((files or {}).items()):  # in key order, like every writer of several
        await uow.ctx.files.put(sha256, data, uow.session)


async def do_receive_batch(ctx: HubContext, inbounds: list[InboundMessage], *, ack_per_hour: int = 3,
                           files: dict[str, bytes] | None = None) -> list[Received]:
    """Many messages in one transaction, each with exactly `do_receive_message`'s effect.

    For bulk arrivals (a mailbox catching up): what every item needs to read (duplicates,
    identities, contacts, the tickets follow-ups continue) is read once for the batch, new rows
    get their ids up front, and everything is written at commit, a few statements per table.
    All or nothing: on an error nothing of the batch is stored, and the caller may retry the
    items one by one to find the culprit.
    """
    if not inbounds:
        return []
    async with UnitOfWork(ctx) as uow:
        await _keep_files(uow, files)
        await _prefetch(uow, inbounds)
        return [await receive(uow, inbound, ack_per_hour=ack_per_hour) for inbound in inbounds]


async def _prefetch(uow: UnitOfWork, inbounds: list[InboundMessage]) -> None:
    dialect = uow.ctx.engine.dialect.name
    n = len(inbounds)
    for model, count in ((Contact, n), (Identity, n), (Ticket, n), (Message, 2 * n), (Outbox, n)):  # a message and its acknowledgement
        uow.expect(model, count)
    seen: dict[tuple[str, str], tuple[int, int] | None] = uow.cache.setdefault("provider_ids", {})
    by_channel: dict[str, list[str]] = {}
    for inbound in inbounds:
        by_channel.setdefault(inbound.channel, []).append(inbound.provider_id)
    for channel, ids in by_channel.items():
        for start in range(0, len(ids), 1000):
            chunk = list(dict.fromkeys(ids[start:start + 1000]))
            seen.update({(channel, pid): None for pid in chunk})
            rows = (await uow.session.exec(select(Message.provider_id, Message.ticket_id, Message.id).where(
                Message.channel == channel, among(dialect, col(Message.provider_id), chunk),
            ))).all()
            seen.update({(channel, pid): (tid, mid) for pid, tid, mid in rows if pid and mid})
    await prefetch_identities(uow, [i for inbound in inbounds for i in inbound.identities])
    await _prefetch_open_tickets(uow, inbounds)
    followed = sorted({i.ticket_id for i in inbounds if i.ticket_id is not None})
    if followed:  # locked in id order, like any other writer of several tickets
        rows = (await uow.session.exec(
            select(Ticket).where(col(Ticket.id).in_(followed)).order_by(col(Ticket.id)).with_for_update()
        )).all()
        uow.cache["locked_tickets"] = {t.id for t in rows}


async def _prefetch_open_tickets(uow: UnitOfWork, inbounds: list[InboundMessage]) -> None:
    """The open consultation of every known sender, on channels where a message continues it.

    Locked (in id order) and kept in `uow.cache["open_tickets"]`, complete for the contacts it
    lists, so `_ticket_for` answers from memory; tickets opened later in the batch join it.
    """
    channels = {i.channel for i in inbounds if i.ticket_id is None and rules_for(i.channel).continue_open_ticket}
    known: dict[tuple[str, str], Identity | None] = uow.cache.get("identities", {})
    contact_ids = {
        row.contact_id for i in inbounds if i.channel in channels for ident in i.identities
        if (row := known.get((ident.kind, ident.value))) is not None
    }
    if not channels:
        return
    cache: dict[tuple[int, str], Ticket | None] = uow.cache.setdefault("open_tickets", {})
    uow.cache.setdefault("held", {})
    if not contact_ids:
        return
    rows = (await uow.session.exec(
        select(Ticket).where(
            among(uow.ctx.engine.dialect.name, col(Ticket.contact_id), sorted(contact_ids)),
            col(Ticket.channel).in_(sorted(channels)), Ticket.kind == "consultation",
            col(Ticket.status).in_([s.value for s in OPEN_STATUSES]),
        ).order_by(col(Ticket.id)).with_for_update()
    )).all()
    cache.update({(cid, channel): None for cid in contact_ids for channel in channels})
    for ticket in sorted(rows, key=lambda t: (t.created_at, t.id)):  # the most recent wins
        cache[(ticket.contact_id, ticket.channel)] = ticket
    await _prefetch_held(uow, [t.id for t in rows if t.id is not None and rules_for(t.channel).reply_window is not None])


async def _prefetch_held(uow: UnitOfWork, ticket_ids: list[int]) -> None:
    """What waits for these (locked) tickets' reply window, read in one query for the batch:
    `release_held` then answers from `uow.cache["held"]` instead of a query per message."""
    held: dict[int, list[Message]] = uow.cache.setdefault("held", {})
    for start in range(0, len(ticket_ids), 1000):
        chunk = ticket_ids[start:start + 1000]
        held.update({tid: [] for tid in chunk})
        for message in (await uow.session.exec(select(Message).where(
            among(uow.ctx.engine.dialect.name, col(Message.ticket_id), chunk), Message.status == "held",
        ).order_by(col(Message.id)))).all():
            held[message.ticket_id].append(message)


async def receive(
    uow: UnitOfWork, inbound: InboundMessage, inbox_id: int | None = None, *, ack_per_hour: int = 3,
) -> Received:
    """`do_receive_message` inside a transaction (see `do_receive_batch`)."""
    ctx = uow.ctx
    rules = rules_for(inbound.channel)
    if inbox_id is not None:
        inbox = await uow.session.get(Inbox, inbox_id, with_for_update=True)
        if inbox is None or inbox.processed_at is not None:
            return Received(None, None, duplicate=True)
        inbox.processed_at = uow.now
        uow.session.add(inbox)
    seen: dict[tuple[str, str], tuple[int, int] | None] = uow.cache.setdefault("provider_ids", {})
    key = (inbound.channel, inbound.provider_id)
    if key in seen:
        known = seen[key]
        if known is not None:
            return Received(known[0], known[1], duplicate=True)
    else:
        existing = (await uow.session.exec(select(Message).where(
            Message.channel == inbound.channel, Message.provider_id == inbound.provider_id
        ))).first()
        if existing is not None:
            return Received(existing.ticket_id, existing.id, duplicate=True)

    contact = await find_or_create_contact(uow, inbound.identities, inbound.display_hint, inbound.language)
    open_tickets: dict[tuple[int, str], Ticket | None] | None = uow.cache.get("open_tickets")
    if open_tickets is not None and contact.id in uow.cache.get("new_contacts", {}):
        open_tickets.setdefault((contact.id, inbound.channel), None)  # a new citizen has none
    ticket = await _ticket_for(uow, inbound, contact)
    new_ticket = ticket is None
    if ticket is None:
        identify = rules.identify_first and not inbound.automatic
        known_name = identify and await identified_recently(uow, contact, inbound.channel)
        late_name = "" if known_name or not identify else await late_answer(uow, contact, inbound)
        if late_name:
            contact.name, contact.updated_at = late_name, uow.now
            uow.keep(contact)
        ticket = await open_new_ticket(
            uow, contact, inbound.channel, subject=inbound.subject, identify=identify,
            known=known_name or bool(late_name), late=bool(late_name),
        )
        if open_tickets is not None and (contact.id, inbound.channel) in open_tickets:
            assert contact.id is not None
            open_tickets[(contact.id, inbound.channel)] = ticket
        if "held" in uow.cache:  # a ticket opened now holds nothing yet
            uow.cache["held"][ticket.id] = []
        if rules.entry_points and not inbound.automatic:
            await attribute_first_message(uow, ticket, inbound.body)
        if ticket.status == Status.IDENTIFYING:
            await queue_auto_message(uow, ticket, contact, "identify_first.welcome", office=ctx.settings.office_name)
        elif known_name:  # the welcome waits to know whether an agent takes it at once (`welcome_back`)
            uow.cache.setdefault("welcoming_back", set()).add(ticket.id)
        elif late_name:  # as if the name had come before the close: queued, told if the office is closed
            await tell_if_closed(uow, ticket, contact)
    else:
        was = ticket.status
        # An auto-reply or a bounce is filed on the ticket, but it is not the citizen
        # answering: the ticket stays where it is (still pending, still identifying).
        if not inbound.automatic:
            uow.transition(ticket, CitizenMessage())
        if was == Status.IDENTIFYING and not inbound.automatic:
            name = name_from_answer(inbound.body)
            if name:
                contact.name = name
                contact.updated_at = uow.now
                uow.keep(contact)
            await tell_if_closed(uow, ticket, contact)
            await after_queued(uow, ticket)

    message = new_row(
        Message, ticket_id=ticket.id, contact_id=contact.id, channel=inbound.channel, direction="in",
        kind=inbound.kind, body=inbound.body, body_html=inbound.body_html,
        provider_id=inbound.provider_id, status="received", created_at=inbound.received_at,
        status_at=uow.now, meta={**inbound.meta, **({"subject": inbound.subject} if inbound.subject else {})},
    )
    await uow.add_new(message)
    assert ticket.id is not None and message.id is not None
    seen[key] = (ticket.id, message.id)
    for att in inbound.attachments:
        row = new_row(
            Attachment, message_id=message.id, filename=clean_filename(att.filename), content_type=att.content_type, size=att.size,
            sha256=att.sha256, storage_key=att.storage_key, source_url=att.source_url,
            status=att.status, reason=att.reason, inline=att.inline, created_at=uow.now,
        )
        if att.status == "pending":  # one job per file to fetch: it needs the row's id
            uow.emit(events.AttachmentPending(ticket.id, message.id, await uow.assign_id(row)))
        else:
            uow.session.add(row)
    if not inbound.automatic:
        ticket.last_inbound_at = max(filter(None, [ticket.last_inbound_at, inbound.received_at]))
        if not new_ticket and rules.reply_window is not None:
            await release_held(uow, ticket)
    ticket.last_activity_at = uow.now
    uow.keep(ticket)
    uow.record(ticket, Event(EventKind.MESSAGE_RECEIVED, uow.now, {"message_id": message.id}))
    if new_ticket and ticket.status == Status.WAITING:
        await after_queued(uow, ticket)
        await welcome_back(uow, ticket, contact)
    if new_ticket and inbound.acknowledge and not inbound.automatic:
        await acknowledge(uow, ticket, contact, inbound.acknowledge, ack_per_hour)
    return Received(ticket.id, message.id, new_ticket=new_ticket)


async def release_held(uow: UnitOfWork, ticket: Ticket) -> int:
    """The citizen wrote: what waited for the reply window to open (an agent's text sent as a
    template notice, an introduction) goes now, in the order it was written."""
    known: dict[int, list[Message]] = uow.cache.get("held", {})
    if ticket.id in known:  # read for the whole batch (`_prefetch_held`), kept complete since
        held, known[ticket.id] = sorted(known[ticket.id], key=lambda m: m.id or 0), []
    else:
        held = list((await uow.session.exec(select(Message).where(
            Message.ticket_id == ticket.id, Message.status == "held",
        ).order_by(col(Message.id)))).all())
    for message in held:
        message.status, message.status_at = "queued", uow.now
        uow.keep(message)
        await uow.queue_delivery(message)
    return len(held)


async def identified_recently(uow: UnitOfWork, contact: Contact, channel: str) -> bool:
    """Did this citizen tell us their name on `channel` within `remember_name_for`?

    The office's decision for returning citizens: a name given recently is not asked again; the
    citizen is welcomed back by name (and told to correct it if it is not theirs) and queued at
    once. After that period, or when we never got a name, the welcome asks for it as usual.
    """
    remember = uow.ctx.settings.remember_name_for
    if not contact.name or remember <= timedelta(0):
        return False
    stmt = select(func.max(Ticket.identified_at)).where(
        Ticket.contact_id == contact.id, Ticket.channel == channel,
    )
    last = (await uow.session.exec(stmt)).first()
    return last is not None and uow.now - last <= remember


async def late_answer(uow: UnitOfWork, contact: Contact, inbound: InboundMessage) -> str:
    """The name a citizen states ("Perdó, em dic Laura Pons") in a message opening a consultation
    right after their last one closed unanswered (the welcome asked, the reminder ignored), within
    the channel's reply window: the answer to that welcome, late, so it is not asked again."""
    name = stated_name(inbound.body)
    if not name or contact.id in uow.cache.get("new_contacts", {}):
        return ""
    last = (await uow.session.exec(
        select(Ticket.status, Ticket.closed_at).where(
            Ticket.contact_id == contact.id, Ticket.channel == inbound.channel, Ticket.kind == "consultation",
        ).order_by(col(Ticket.created_at).desc(), col(Ticket.id).desc()).limit(1)
    )).first()
    window = rules_for(inbound.channel).reply_window or LATE_ANSWER
    if last is None or last[0] != Status.CLOSED_UNIDENTIFIED.value or last[1] is None:
        return ""
    closed_at = last[1] if last[1].tzinfo else last[1].replace(tzinfo=uow.now.tzinfo)
    return name if uow.now - closed_at <= window else ""


async def _ticket_for(uow: UnitOfWork, inbound: InboundMessage, contact: Contact) -> Ticket | None:
    """The open consultation this message continues, if any (a closed one never reopens)."""
    if inbound.ticket_id is not None:  # the channel recognised a follow-up (e.g. mail headers)
        locked = inbound.ticket_id in uow.cache.get("locked_tickets", ())
        ticket = await uow.session.get(Ticket, inbound.ticket_id, with_for_update=not locked)
        return ticket if ticket is not None and ticket.status in OPEN_STATUSES else None
    if not rules_for(inbound.channel).continue_open_ticket:
        return None
    known = uow.cache.get("open_tickets", {})
    if (contact.id, inbound.channel) in known:  # read (and locked) for the whole batch
        return known[(contact.id, inbound.channel)]
    stmt = (
        select(Ticket).where(
            Ticket.contact_id == contact.id, Ticket.channel == inbound.channel,
            Ticket.kind == "consultation", col(Ticket.status).in_([s.value for s in OPEN_STATUSES]),
        ).order_by(col(Ticket.created_at).desc()).limit(1).with_for_update()
    )
    return (await uow.session.exec(stmt)).first()


# Agents writing ---------------------------------------------------------------------------


async def _writing_agent(uow: UnitOfWork, who: Who, ticket: Ticket, *, reply: bool) -> int:
    """The agent writing on this ticket (locked), if they may: replies and notes have an author.
    A reply speaks for the ticket's owner (the single actions' rule); any agent may add a note."""
    actor = await acting(uow.session, who)
    if reply:
        check_ticket(actor, ticket)
    if actor.agent_id is None:
        raise Invalid("only an agent writes replies and notes")
    return actor.agent_id


MAX_CC = 10
_ADDRESS = re.compile(r"^[^@\s<>(),;:\"\[\]]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")


def clean_cc(cc: list[str] | str | None) -> list[str]:
    """Copies of an email reply: addresses separated by commas, semicolons or spaces; checked."""
    if cc is None:
        return []
    items = re.split(r"[,;\s]+", cc) if isinstance(cc, str) else list(cc)  # a list: one address each
    out: list[str] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        if len(item) > 254 or not _ADDRESS.match(item):
            raise Refused("%(address)s is not an email address.", address=item[:80])
        if item.lower() not in (o.lower() for o in out):
            out.append(item)
    if len(out) > MAX_CC:
        raise Refused("At most %(count)s addresses in copy.", count=MAX_CC)
    return out


async def do_reply(
    ctx: HubContext, ticket_id: int, agent_id: Who, body: str, meta: dict | None = None, *,
    files: Sequence[OutgoingFile] = (), subject: str | None = None, cc: list[str] | str | None = None,
) -> int:
    """An agent (an actor or an agent id) answers the citizen on the ticket's channel; returns
    the message id.

    `files` go with the reply (checked against the channel's `FileRules` first: a refused file
    changes nothing). On a channel whose messages carry one file each (WhatsApp), the reply is
    the text with the first file, then one message per further file, in order. Email replies
    may change the subject and add copies (`cc`); the agent's signature is kept with the message
    as it was when written, so every attempt sends the same mail.
    """
    body = body.strip()
    if not body and not files:
        raise Refused("A reply needs some text or a file.")
    rules = rules_for((await get_ticket(ctx, ticket_id)).channel)
    checked = check_files(rules.files, list(files), rules.name) if rules.can_reply else []
    extra: dict[str, Any] = {}
    if subject is not None and subject.strip() or cc:
        if not rules.mail_options:
            raise Invalid(f"{rules.name} replies have no subject or copies")
        clean_subject = " ".join((subject or "").split())[:250]
        if clean_subject:
            extra["subject"] = clean_subject
        addresses = clean_cc(cc)
        if addresses:
            extra["cc"] = addresses
    async with UnitOfWork(ctx) as uow:
        ticket = await uow.ticket_for_update(ticket_id)
        agent_id = await _writing_agent(uow, agent_id, ticket, reply=True)
        rules = rules_for(ticket.channel)
        if not rules.can_reply:
            raise Invalid(f"{ticket.channel} consultations are answered by calling the citizen back")
        if ticket.status not in OPEN_STATUSES or ticket.status == Status.IDENTIFYING:
            raise Conflict(f"cannot reply on a ticket that is {ticket.status}")
        if rules.mail_options:
            agent = await uow.session.get(Agent, agent_id)
            if agent is not None and agent.signature.strip():
                extra["signature"] = agent.signature.strip()
        uow.transition(ticket, AgentReply(agent_id))
        # Outside the channel's reply window (WhatsApp: 24 h after the citizen's last message,
        # e.g. a Friday-evening consultation answered on Monday) with an approved template: the
        # template tells the citizen an answer is waiting, the text is held until they write.
        hold = (
            not reply_window_open(ticket.channel, ticket.last_inbound_at, uow.now)
            and ctx.facts(ticket.channel).held_reply_notice
        )
        per = rules.files.per_message if rules.files is not None and rules.files.per_message else max(1, len(checked))
        groups = [checked[i:i + per] for i in range(0, len(checked), per)] or [[]]
        messages: list[Message] = []
        for n, group in enumerate(groups):
            message = Message(
                ticket_id=ticket.id, contact_id=ticket.contact_id, channel=ticket.channel, direction="out",
                kind="text", body=body if n == 0 else "", status="held" if hold else "queued",
                author_agent_id=agent_id, created_at=uow.now, status_at=uow.now,
                meta={**(meta or {}), **extra, **({"held": "window_closed"} if hold else {}),
                      **({"part_of": messages[0].id} if n else {})},
            )
            await uow.assign_id(message)
            assert message.id is not None
            for f in group:
                # Kept before the reply commits (`hub.storage`: flushed to this host's disk, or in
                # this very transaction in the database), so every delivery attempt finds it.
                await ctx.files.put(f.sha256, f.data, uow.session)
                uow.session.add(Attachment(
                    message_id=message.id, filename=clean_filename(f.filename) or "file", content_type=f.content_type,
                    size=f.size, sha256=f.sha256, storage_key=f.sha256, status="stored", created_at=uow.now,
                ))
            messages.append(message)
        await uow.session.flush()
        if hold:
            contact = await uow.session.get(Contact, ticket.contact_id)
            assert contact is not None
            await queue_auto_message(uow, ticket, contact, "reply_window.waiting", meta={"template_for": "agent_reply"},
                                     reference=ticket.reference)
            uow.record(ticket, Event(EventKind.REPLY_OUTSIDE_WINDOW, uow.now, {"message_id": messages[0].id}), agent_id)
        else:
            for message in messages:
                await uow.queue_delivery(message)
        ticket.last_activity_at = uow.now
        add_audit(uow, agent_id, "ticket.reply", "ticket", ticket_id, **({"files": len(checked)} if checked else {}))
        assert messages[0].id is not None
        return messages[0].id


async def do_add_note(ctx: HubContext, ticket_id: int, agent_id: Who, body: str) -> int:
    """An internal note (never sent to the citizen) by an agent (an actor or an agent id)."""
    body = body.strip()
    if not body:
        raise Invalid("a note needs some text")
    async with UnitOfWork(ctx) as uow:
        ticket = await uow.ticket_for_update(ticket_id)
        agent_id = await _writing_agent(uow, agent_id, ticket, reply=False)
        note = Message(
            ticket_id=ticket.id, contact_id=ticket.contact_id, channel=ticket.channel, direction="note",
            kind="note", body=body, status="note", author_agent_id=agent_id, created_at=uow.now,
        )
        uow.session.add(note)
        await uow.session.flush()
        uow.record(ticket, Event(EventKind.NOTE_ADDED, uow.now, {"message_id": note.id}), agent_id=agent_id)
        add_audit(uow, agent_id, "ticket.note", "ticket", ticket_id)
        assert note.id is not None
        return note.id


async def get_ticket(ctx: HubContext, ticket_id: int) -> Ticket:
    async with ctx.sessionmaker() as session:
        ticket = await session.get(Ticket, ticket_id)
    if ticket is None:
        raise NotFound(f"ticket {ticket_id} does not exist")
    return ticket


__all__ = [
    "Received", "do_accept_inbound", "do_add_note", "do_process_inbox", "do_process_inbox_batch", "do_process_inbox_group", "do_receive_batch", "do_receive_message", "do_reply",
    "get_ticket", "pending_inbox_ids", "receive",
]
