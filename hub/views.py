"""Read models for the agents' screens and the JSON API: queue lanes, ticket lists, one ticket.

Reads only (writes go through `hub.actions`). Each function issues a fixed number of queries
whatever the number of rows (joins and `IN` lists, never one query per row), so the queue with
thousands of open tickets and a table of a million tickets stay fast. The Structs here are also
what the API returns.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import String, bindparam, cast, false, func, literal_column, or_, true, union_all
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub import search as ticket_search
from hub.actions.errors import NotFound
from hub.channel_rules import rules_for
from hub.actions.topics import TopicOut
from hub.db.tables import (
    Agent, Attachment, Call, Contact, EntryPoint, EventRow, Identity, Message, Ticket, TicketEntryPoint, TicketSeen,
    Topic, TicketTopic,
)
from hub.tickets import OPEN_STATUSES, OWNED_STATUSES, Status

LANE_LIMIT = 50
PAGE_LIMIT = 50
HISTORY_LIMIT = 20


class TicketSummary(msgspec.Struct):
    id: int
    reference: str | None
    channel: str
    kind: str
    status: str
    priority: int
    subject: str
    contact_id: int
    contact_name: str
    assignee_id: int | None
    assignee_name: str | None
    created_at: datetime
    queued_at: datetime | None
    last_inbound_at: datetime | None
    last_activity_at: datetime | None
    first_response_at: datetime | None = None
    # In my lane: the citizen's messages I have not seen (`hub.actions.seen`); 0 elsewhere.
    unread: int = 0


class Lane(msgspec.Struct):
    count: int
    tickets: list[TicketSummary]


class QueueOut(msgspec.Struct):
    waiting: Lane
    identifying: Lane
    mine: Lane
    unread: int = 0  # how many of my consultations have a citizen's message I have not seen


class Match(msgspec.Struct):
    """Why a search found a ticket: `field` is reference, identity, name, subject, message or
    note; `text` a plain-text excerpt and `spans` the [start, end) offsets of the words found in it."""

    ticket_id: int
    field: str
    text: str = ""
    spans: list[tuple[int, int]] = []


class TicketPage(msgspec.Struct):
    tickets: list[TicketSummary]
    next_cursor: int | None  # pass as ?before= for the next (older) page; None for a ranked search
    matches: list[Match] = []  # with `q`: one per ticket, in the same (ranked) order


class IdentityOut(msgspec.Struct):
    kind: str
    value: str


class ContactOut(msgspec.Struct):
    id: int
    name: str
    display_hint: str
    language: str
    identities: list[IdentityOut]
    tickets: list[TicketSummary]  # the contact's consultations on every channel, newest first


class AttachmentOut(msgspec.Struct):
    id: int
    filename: str
    content_type: str
    size: int | None
    status: str
    reason: str | None


class TimelineItem(msgspec.Struct):
    """One entry of the ticket's timeline: `type` is message, note, call or event."""

    type: str
    at: datetime
    id: int
    direction: str | None = None
    kind: str | None = None
    body: str = ""
    body_html: str = ""
    status: str | None = None
    error_code: str | None = None
    error_detail: str | None = None
    agent_id: int | None = None
    agent_name: str | None = None
    attachments: list[AttachmentOut] = []
    data: dict[str, Any] = {}


class ReplyWindow(msgspec.Struct):
    """Free-form replies are possible until `closes_at` (WhatsApp's 24 hours); None = no limit."""

    limited: bool
    open: bool
    closes_at: datetime | None


class TicketDetail(msgspec.Struct):
    ticket: TicketSummary
    contact: ContactOut
    timeline: list[TimelineItem]
    reply_window: ReplyWindow
    can_reply: bool
    version: int
    topics: list[TopicOut] = []
    entry_point: EntryPointBrief | None = None  # the WhatsApp entry point it came through


class EntryPointBrief(msgspec.Struct):
    id: int
    label: str


# The columns a TicketSummary needs, read as plain columns (no ORM objects: lists stay cheap).
_COLUMNS = (
    Ticket.id, Ticket.reference, Ticket.channel, Ticket.kind, Ticket.status, Ticket.priority, Ticket.subject,
    Ticket.contact_id, Ticket.assignee_id, Ticket.created_at, Ticket.queued_at, Ticket.last_inbound_at,
    Ticket.last_activity_at, Ticket.first_response_at,
)


def _page(inner: Any) -> tuple[Any, Any]:
    """Names joined onto an already filtered, ordered and limited set of tickets.

    The limit runs on `tickets` alone (an index range or a small sort); contacts and agents
    are then looked up for those rows only, so the cost does not grow with the contacts table.
    Returns the statement and the subquery's columns to order it by.
    """
    t = inner.subquery().c
    stmt = (
        select(*[t[c.key] for c in _COLUMNS], Contact.name, Contact.display_hint, Agent.name)
        .join(Contact, col(Contact.id) == t.contact_id)
        .outerjoin(Agent, col(Agent.id) == t.assignee_id)
    )
    return stmt, t


def _row_summary(row: Any) -> TicketSummary:
    (id_, reference, channel, kind, status, priority, subject, contact_id, assignee_id, created_at, queued_at,
     last_inbound_at, last_activity_at, first_response_at, contact_name, hint, assignee_name) = row
    # Positional, in the Struct's field order: a queue builds 150 of these per request, and
    # keyword arguments cost twice as much.
    return TicketSummary(
        id_, reference, channel, kind, status, priority, subject, contact_id, contact_name or hint or "",
        assignee_id, assignee_name, created_at, queued_at, last_inbound_at, last_activity_at, first_response_at,
    )


def _queue_order(t: Any = Ticket) -> tuple[Any, ...]:
    """Priority first, then whoever has waited longest (the order `do_take_next` follows)."""
    return (t.priority.desc(), t.queued_at.asc(), t.id.asc())


def _filters(stmt: Any, channel: Any, search: Any, topic_id: Any = None) -> Any:
    """The queue's filters; `channel` and `topic_id` are values or bound parameters."""
    if channel is not None:
        stmt = stmt.where(Ticket.channel == channel)
    if search is not None:
        stmt = stmt.where(search)
    if topic_id is not None:
        stmt = stmt.where(col(Ticket.id).in_(select(TicketTopic.ticket_id).where(TicketTopic.topic_id == topic_id)))
    return stmt


_REFERENCE = re.compile(r"^[A-Za-z][A-Za-z0-9]*-\d{4}-\d+$")
_PHONE_CHARS = set("+0123456789 ()-.")


async def _search(session: AsyncSession, q: str | None, subject: bool) -> Any:
    """What an agent types: a reference, an email address, a phone number, or part of a name.

    Returns a condition on tickets (None for no search). Each form uses an index (reference,
    identity, name: see `hub.search.contact_ids_by_name`); the subject is searched only where few rows are
    at stake (the open tickets of the queue), never across the whole ticket table.
    """
    text = (q or "").strip()[:100]
    if not text:
        return None
    if _REFERENCE.match(text):
        return Ticket.reference == text.upper()
    lowered = text.lower()
    if "@" in text and " " not in text:
        return col(Ticket.contact_id).in_(
            select(Identity.contact_id).where(Identity.kind == "email", Identity.value == lowered)
        )
    digits = "".join(ch for ch in text if ch.isdigit())
    if len(digits) >= 6 and set(text) <= _PHONE_CHARS:
        from hub.phones import try_normalise

        numbers = {n for n in (try_normalise(text), "+" + digits) if n}
        return col(Ticket.contact_id).in_(
            select(Identity.contact_id).where(Identity.kind == "phone", col(Identity.value).in_(numbers))
        )
    like = ticket_search.contains_pattern(lowered)  # a typed % or _ is a character, not a wildcard
    ids = await ticket_search.contact_ids_by_name(session, text)
    conditions = [col(Ticket.contact_id).in_(ids)] if ids else []
    if subject:
        conditions.append(func.lower(Ticket.subject).like(like, escape="\\"))
    return or_(*conditions) if conditions else false()


# Bound at execution: the queue's statement is built once per shape, not per request.
_AGENT = bindparam("lane_agent_id")
_LIMIT = bindparam("lane_limit")
_CHANNEL = bindparam("lane_channel")
_TOPIC = bindparam("lane_topic_id")
_QUEUE_STATEMENTS: dict[tuple[bool, bool, str], Any] = {}
WAITING, IDENTIFYING, MINE = 0, 1, 2  # the lanes, in the order the statement returns them


# The owned statuses written into the SQL (constants): a bound IN list is expanded and the SQL
# re-rendered on every execution.
_OWNED = [literal_column(f"'{s.value}'") for s in OWNED_STATUSES]


def _owned_by(agent: Any) -> list[Any]:
    return [col(Ticket.status).in_(_OWNED), Ticket.assignee_id == agent]


def _unread_messages(ticket_id: Any, agent: Any) -> list[Any]:
    """The ticket's citizen messages this agent has not seen: after their mark (`hub.actions.seen`),
    all of them if never seen."""
    seen = select(TicketSeen.message_id).where(TicketSeen.agent_id == agent, TicketSeen.ticket_id == ticket_id) \
        .correlate_except(TicketSeen).scalar_subquery()
    return [Message.ticket_id == ticket_id, Message.direction == "in", col(Message.id) > func.coalesce(seen, 0)]


# My lane's orders: latest activity first, or the citizen who has waited longest since writing.
MINE_ORDERS = {
    "activity": lambda t: (t.last_activity_at.desc(), t.id.desc()),
    "waiting": lambda t: (t.last_inbound_at.asc().nulls_last(), t.id.asc()),
}


def _queue_statement(by_channel: bool, search: Any, by_topic: bool, mine_sort: str) -> Any:
    """The whole queue in one statement: a row of counts (each lane's, my consultations with
    something unread) joined to each lane's first rows, in the lane's order, with the names and,
    in my lane, each ticket's unread messages. Unless a text is searched, it is built once per
    shape and kept (building it costs more than running it); its values (agent, limit, channel,
    topic) are bound parameters."""
    shape = (by_channel, by_topic, mine_sort)
    if search is None and shape in _QUEUE_STATEMENTS:
        return _QUEUE_STATEMENTS[shape]
    channel = _CHANNEL if by_channel else None
    topic_id = _TOPIC if by_topic else None

    def count(*where: Any) -> Any:
        return _filters(select(func.count()).select_from(Ticket).where(*where), channel, search, topic_id) \
            .scalar_subquery()

    def lane(number: int, where: list[Any], order: Any) -> Any:
        """The lane's first rows, numbered in its order (the numbers order the whole answer)."""
        first = _filters(select(func.row_number().over(order_by=order(Ticket)).label("pos"), *_COLUMNS)
                         .where(*where), channel, search, topic_id).order_by(*order(Ticket)).limit(_LIMIT).subquery()
        unread = literal_column("0")
        if number == MINE:
            unread = select(func.count()).select_from(Message).where(*_unread_messages(first.c.id, _AGENT)) \
                .scalar_subquery()
        return select(literal_column(str(number)).label("lane"), first, unread.label("unread"))

    counts = select(
        count(Ticket.status == Status.WAITING.value).label("n_waiting"),
        count(Ticket.status == Status.IDENTIFYING.value).label("n_identifying"),
        count(*_owned_by(_AGENT)).label("n_mine"),
        # Not filtered: the title's count is about all my consultations.
        select(func.count()).select_from(Ticket).where(
            *_owned_by(_AGENT), select(Message.id).where(*_unread_messages(Ticket.id, _AGENT)).exists(),
        ).scalar_subquery().label("n_unread"),
    ).subquery("counts")
    lanes = union_all(
        lane(WAITING, [Ticket.status == Status.WAITING.value], _queue_order),
        # The status written into the SQL: the lane's partial index (ix_tickets_identifying) is
        # usable by the statement's generic plan only for a constant.
        lane(IDENTIFYING, [Ticket.status == literal_column(f"'{Status.IDENTIFYING.value}'")],
             lambda t: (t.created_at.asc(), t.id.asc())),
        lane(MINE, _owned_by(_AGENT), MINE_ORDERS[mine_sort]),
    ).subquery("lanes")
    # Counts LEFT JOIN lanes: one row at least, so the counts arrive when every lane is empty.
    stmt = (
        select(counts, lanes.c.lane, *[lanes.c[c.key] for c in _COLUMNS], Contact.name, Contact.display_hint,
               Agent.name, lanes.c.unread)
        .select_from(counts.outerjoin(lanes, true())
                     .outerjoin(Contact, col(Contact.id) == lanes.c.contact_id)
                     .outerjoin(Agent, col(Agent.id) == lanes.c.assignee_id))
        .order_by(lanes.c.lane, lanes.c.pos)
    )
    if search is None:
        _QUEUE_STATEMENTS[shape] = stmt
    return stmt


async def _rows(session: AsyncSession, stmt: Any, params: dict[str, Any]) -> list[Any]:
    """Plain rows through the session's connection (column reads: no ORM result processing)."""
    return list((await (await session.connection()).execute(stmt, params)).all())


async def queue(session: AsyncSession, agent_id: int | None, channel: str | None = None, q: str | None = None,
                limit: int = LANE_LIMIT, topic_id: int | None = None, mine_sort: str = "activity") -> QueueOut:
    """The three lanes: waiting (assignable, oldest first), identifying (not assignable), mine.

    Each lane lists its first `limit` tickets and counts them all. One statement, however many
    tickets there are (and one more to find a typed name): see `_queue_statement`.
    """
    search = await _search(session, q, subject=True)
    sort = mine_sort if mine_sort in MINE_ORDERS else "activity"
    channel = channel or None
    rows = await _rows(session, _queue_statement(channel is not None, search, topic_id is not None, sort),
                       {"lane_agent_id": agent_id, "lane_limit": limit, "lane_channel": channel,
                        "lane_topic_id": topic_id})
    n_waiting, n_identifying, n_mine, n_unread = rows[0][:4]
    lanes: tuple[list[TicketSummary], ...] = ([], [], [])
    for row in rows:
        if row[4] is not None:  # None: every lane is empty (the row of counts alone)
            summary = _row_summary(row[5:-1])
            summary.unread = row[-1]
            lanes[row[4]].append(summary)
    return QueueOut(
        waiting=Lane(count=n_waiting, tickets=lanes[WAITING]),
        identifying=Lane(count=n_identifying, tickets=lanes[IDENTIFYING]),
        mine=Lane(count=n_mine if agent_id is not None else 0, tickets=lanes[MINE]),
        unread=n_unread if agent_id is not None else 0,
    )


async def unread_counts(session: AsyncSession, agent_id: int) -> dict[int, int]:
    """{ticket id: the citizen's messages this agent has not seen} over the agent's open
    consultations (those with none are left out). One query: my open tickets (an index range),
    their inbound messages after my mark (`hub.actions.seen`); never seen = all of them."""
    stmt = (
        select(Message.ticket_id, func.count())
        .join(Ticket, col(Ticket.id) == col(Message.ticket_id))
        .where(*_owned_by(agent_id), *_unread_messages(Ticket.id, agent_id))
        .group_by(Message.ticket_id)
    )
    return {int(t): int(n) for t, n in (await session.exec(stmt)).all()}


async def list_tickets(session: AsyncSession, f: ticket_search.TicketFilter, limit: int = PAGE_LIMIT) -> TicketPage:
    """Tickets matching the filter. Without search text: newest first, keyset-paginated on the id
    (no OFFSET, no COUNT over the table). With it: the best `limit` matches, ranked, each with
    why it matched (`hub.search.find`)."""
    if (f.q or "").strip():
        found = await ticket_search.find(session, f, limit)
        ids = [h.ticket_id for h in found.hits]
        if not ids:
            return TicketPage(tickets=[], next_cursor=None)
        stmt, _ = _page(select(*_COLUMNS).where(col(Ticket.id).in_(ids)))
        by_id = {s.id: s for s in (_row_summary(r) for r in (await session.exec(stmt)).all())}
        rows = [by_id[i] for i in ids if i in by_id]
        return TicketPage(tickets=rows, next_cursor=None, matches=await _matches(session, found, by_id))
    inner = select(*_COLUMNS).where(*ticket_search.conditions(f)).order_by(col(Ticket.id).desc()).limit(limit + 1)
    stmt, t = _page(inner)
    rows = [_row_summary(r) for r in (await session.exec(stmt.order_by(t.id.desc()))).all()]
    next_cursor = rows[limit - 1].id if len(rows) > limit else None
    return TicketPage(tickets=rows[:limit], next_cursor=next_cursor)


async def _matches(session: AsyncSession, found: ticket_search.Found, tickets: dict[int, TicketSummary]) -> list[Match]:
    """Each hit's excerpt: the matching message or note, else the subject or name found."""
    message_ids = [h.message_id for h in found.hits if h.message_id is not None]
    bodies: dict[int, str] = {}
    if message_ids:
        bodies = dict((await session.exec(select(Message.id, Message.body).where(col(Message.id).in_(message_ids)))).all())
    out: list[Match] = []
    for hit in found.hits:
        ticket = tickets.get(hit.ticket_id)
        if ticket is None:
            continue
        if hit.message_id is not None and hit.matched in ("message", "note"):
            value = bodies.get(hit.message_id, "")
        elif hit.matched == "subject":
            value = ticket.subject
        elif hit.matched == "name":
            value = ticket.contact_name
        elif hit.matched == "reference":
            value = ticket.reference or ""
        else:
            value = ""
        excerpt, spans = ticket_search.highlight(value, found.terms) if value else ("", [])
        out.append(Match(ticket_id=hit.ticket_id, field=hit.matched, text=excerpt, spans=spans))
    return out


def reply_window(ticket: Ticket | TicketSummary, now: datetime) -> ReplyWindow:
    window = rules_for(ticket.channel).reply_window
    if window is None:
        return ReplyWindow(limited=False, open=True, closes_at=None)
    if ticket.last_inbound_at is None:
        return ReplyWindow(limited=True, open=False, closes_at=None)
    closes = ticket.last_inbound_at + window
    return ReplyWindow(limited=True, open=now < closes, closes_at=closes)


@functools.cache
def _detail_statements() -> dict[str, Any]:
    """A ticket's page, statement by statement, built once (the ticket's and contact's ids bound).

    Each reads plain columns (no ORM objects: a long conversation is hundreds of rows, and not
    the columns the page does not show, such as a message's `meta`). What belongs to one row of
    a statement comes joined onto it, not by a statement of its own: the ticket's topics onto
    its head, a message's files and author onto the message, the agents a call or an event
    names onto it. Each statement is a round trip, and costs the web process more than the
    rows it reads."""
    ticket_id, contact_id = bindparam("ticket_id"), bindparam("contact_id")
    author, call_agent, actor, to_agent, from_agent = (aliased(Agent) for _ in range(5))

    def named_in_data(agent: Any, key: str) -> Any:
        # The agent an event's data names (`agent_id`, `from_agent_id`), compared as text: a
        # value that is not a number matches nobody instead of failing the read.
        return cast(agent.id, String) == EventRow.data[key].as_string()

    return {
        # The ticket's summary row (`_row_summary`), with what else the page needs of the ticket
        # and its contact, the entry point it came through (at most one), and its topics (one
        # row each; one row without a topic when it has none).
        "head": (select(*_COLUMNS, Contact.name, Contact.display_hint, Agent.name, Ticket.version, Contact.language,
                        EntryPoint.id, EntryPoint.label,
                        Topic.id, Topic.key, Topic.names, Topic.active, Topic.position)
                 .join(Contact, col(Contact.id) == col(Ticket.contact_id))
                 .outerjoin(Agent, col(Agent.id) == col(Ticket.assignee_id))
                 .outerjoin(TicketEntryPoint, col(TicketEntryPoint.ticket_id) == col(Ticket.id))
                 .outerjoin(EntryPoint, col(EntryPoint.id) == col(TicketEntryPoint.entry_point_id))
                 .outerjoin(TicketTopic, col(TicketTopic.ticket_id) == col(Ticket.id))
                 .outerjoin(Topic, col(Topic.id) == col(TicketTopic.topic_id))
                 .where(Ticket.id == ticket_id)
                 .order_by(col(Topic.position), col(Topic.id))),
        "contact": select(Contact.name, Contact.display_hint, Contact.language).where(Contact.id == contact_id),
        "identities": select(Identity.kind, Identity.value).where(Identity.contact_id == contact_id)
        .order_by(col(Identity.id)),
        "history": _history_statement(contact_id),
        # One row per message and file (a message without files: one row, no file).
        "messages": select(
            Message.id, Message.direction, Message.kind, Message.body, Message.body_html, Message.status,
            Message.error_code, Message.error_detail, Message.author_agent_id, Message.created_at, author.name,
            Attachment.id, Attachment.filename, Attachment.content_type, Attachment.size, Attachment.status,
            Attachment.reason,
        ).outerjoin(author, col(author.id) == col(Message.author_agent_id))
        .outerjoin(Attachment, col(Attachment.message_id) == col(Message.id))
        .where(Message.ticket_id == ticket_id)
        .order_by(col(Message.created_at), col(Message.id), col(Attachment.id)),
        "calls": select(
            Call.id, Call.started_at, Call.direction, Call.outcome, Call.notes, Call.state, Call.agent_id, Call.number,
            Call.duration_s, Call.wait_s, Call.topic, Call.done, call_agent.name,
        ).outerjoin(call_agent, col(call_agent.id) == col(Call.agent_id))
        .where(Call.ticket_id == ticket_id).order_by(col(Call.started_at)),
        "events": select(EventRow.id, EventRow.kind, EventRow.at, EventRow.agent_id, EventRow.data, actor.name,
                         to_agent.name, from_agent.name)
        .outerjoin(actor, col(actor.id) == col(EventRow.agent_id))
        .outerjoin(to_agent, named_in_data(to_agent, "agent_id"))
        .outerjoin(from_agent, named_in_data(from_agent, "from_agent_id"))
        .where(EventRow.ticket_id == ticket_id).order_by(col(EventRow.at), col(EventRow.id)),
    }


def _history_statement(contact_id: Any) -> Any:
    """The contact's latest consultations on every channel, newest first."""
    stmt, t = _page(
        select(*_COLUMNS).where(Ticket.contact_id == contact_id).order_by(col(Ticket.id).desc()).limit(HISTORY_LIMIT)
    )
    return stmt.order_by(t.id.desc())


_EVENT_ORDER = {"event": 0, "message": 1, "note": 1, "call": 1}  # at the same moment, the event first


async def ticket_detail(session: AsyncSession, ticket_id: int, now: datetime) -> TicketDetail:
    """One ticket, its contact (identities, consultations on every channel) and its whole timeline."""
    statements = _detail_statements()
    ids = {"ticket_id": ticket_id}
    head = await _rows(session, statements["head"], ids)
    if not head:
        raise NotFound(f"ticket {ticket_id} does not exist")
    *summary_row, version, language, entry_point_id, entry_point_label = head[0][:-5]
    summary = _row_summary(summary_row)
    contact_name, hint = summary_row[-3:-1]
    topics = [TopicOut(id=i, key=k, names=dict(n), active=a, position=p)
              for i, k, n, a, p in (row[-5:] for row in head) if i is not None]
    contact = await _contact_out(session, summary.contact_id, contact_name, hint, language)

    timeline: list[TimelineItem] = []
    message: TimelineItem | None = None
    # Hundreds of rows: unpacked, not read column by column.
    for (id_, direction, kind, body, body_html, status, error_code, error_detail, author, at, author_name,
         file_id, filename, content_type, size, file_status, reason) in await _rows(session, statements["messages"], ids):
        if message is None or message.id != id_:
            message = TimelineItem(
                type="note" if direction == "note" else "message", at=at, id=id_ or 0, direction=direction, kind=kind,
                body=body, body_html=body_html, status=status, error_code=error_code, error_detail=error_detail,
                agent_id=author, agent_name=author_name, attachments=[],
            )
            timeline.append(message)
        if file_id is not None:
            message.attachments.append(AttachmentOut(
                id=file_id, filename=filename, content_type=content_type, size=size, status=file_status, reason=reason,
            ))
    for (id_, started_at, direction, outcome, notes, state, agent_id, number, duration_s, wait_s, topic, done,
         agent_name) in await _rows(session, statements["calls"], ids):
        timeline.append(TimelineItem(
            type="call", at=started_at, id=id_ or 0, direction=direction, kind=outcome, body=notes,
            status=state, agent_id=agent_id, agent_name=agent_name,
            data={"number": number, "duration_s": duration_s, "wait_s": wait_s, "topic": topic,
                  "outcome": outcome, "done": done},
        ))
    for id_, kind, at, agent_id, data, actor_name, to_name, from_name in await _rows(session, statements["events"], ids):
        data = dict(data)
        if isinstance(data.get("agent_id"), int):
            data["agent_name"] = to_name
        if isinstance(data.get("from_agent_id"), int):
            data["from_agent_name"] = from_name
        timeline.append(TimelineItem(
            type="event", at=at, id=id_ or 0, kind=kind, agent_id=agent_id, agent_name=actor_name, data=data,
        ))
    timeline.sort(key=lambda item: (item.at, _EVENT_ORDER[item.type], item.id))
    return TicketDetail(
        ticket=summary,
        contact=contact,
        timeline=timeline,
        reply_window=reply_window(summary, now),
        can_reply=rules_for(summary.channel).can_reply and summary.status in {
            Status.WAITING, Status.ASSIGNED, Status.PENDING},
        version=version,
        topics=topics,
        entry_point=EntryPointBrief(entry_point_id, entry_point_label) if entry_point_id is not None else None,
    )


async def contact_panel(session: AsyncSession, contact_id: int) -> ContactOut:
    """A contact with its identities and its latest consultations on every channel."""
    found = await _rows(session, _detail_statements()["contact"], {"contact_id": contact_id})
    if not found:
        raise NotFound(f"contact {contact_id} does not exist")
    return await _contact_out(session, contact_id, *found[0])


async def _contact_out(session: AsyncSession, contact_id: int, name: str, hint: str, language: str) -> ContactOut:
    statements, ids = _detail_statements(), {"contact_id": contact_id}
    identities = await _rows(session, statements["identities"], ids)
    history = [_row_summary(r) for r in await _rows(session, statements["history"], ids)]
    return ContactOut(
        id=contact_id, name=name, display_hint=hint, language=language,
        identities=[IdentityOut(kind, value) for kind, value in identities], tickets=history,
    )


async def available_agents(session: AsyncSession) -> list[tuple[int, str, str, int, int]]:
    """(id, name, presence, load, capacity) of every active agent, for transfer pickers."""
    load = dict((await session.exec(
        select(Ticket.assignee_id, func.count()).where(
            col(Ticket.status).in_([s.value for s in OWNED_STATUSES]), col(Ticket.assignee_id).is_not(None),
        ).group_by(Ticket.assignee_id)
    )).all())
    agents = (await session.exec(select(Agent).where(Agent.active == True).order_by(col(Agent.name)))).all()  # noqa: E712
    return [(a.id or 0, a.name, a.presence, int(load.get(a.id, 0)), a.capacity) for a in agents]


class TransferTarget(msgspec.Struct):
    id: int
    name: str
    presence: str
    role: str
    load: int
    capacity: int


async def transfer_targets(session: AsyncSession) -> list[TransferTarget]:
    """Who a consultation can be transferred to: every active login, available agents first, each
    with what the picker must say (presence, role, load)."""
    rows = [TransferTarget(i, n, p, "agent", load, cap) for i, n, p, load, cap in await available_agents(session)]
    roles = dict((await session.exec(select(Agent.id, Agent.role).where(Agent.active == True))).all())  # noqa: E712
    for row in rows:
        row.role = roles.get(row.id, "agent")
    rows.sort(key=lambda r: (r.presence != "available", r.role == "admin", r.name))
    return rows


# The supervisor board ----------------------------------------------------------------------

BOARD_LIMIT = 2000  # open tickets shown; an office with more is counted, not listed


class BoardAgent(msgspec.Struct):
    id: int
    name: str
    presence: str
    load: int
    capacity: int
    tickets: list[TicketSummary]


class Board(msgspec.Struct):
    """Every open consultation: the unowned lanes, then each agent's, with presence and load."""

    waiting: list[TicketSummary]
    identifying: list[TicketSummary]
    agents: list[BoardAgent]
    open_count: int


BOARD_ORDERS = ("waiting", "activity")  # the queue's order (priority, longest waiting), or latest activity first


async def board(session: AsyncSession, sort: str = "waiting") -> Board:
    """One query for the open tickets (the queue index), one for the agents. Each lane in the
    queue's order, or (`sort="activity"`) the consultation with the latest activity first."""
    statuses = [s.value for s in OPEN_STATUSES]
    inner = (select(*_COLUMNS).where(col(Ticket.status).in_(statuses))
             .order_by(*_queue_order(Ticket)).limit(BOARD_LIMIT))
    stmt, t = _page(inner)
    rows = [_row_summary(r) for r in (await session.exec(stmt.order_by(*_queue_order(t)))).all()]
    if sort == "activity":
        rows.sort(key=lambda r: (r.last_activity_at.timestamp() if r.last_activity_at else 0.0, r.id), reverse=True)
    count = len(rows)
    if count >= BOARD_LIMIT:
        count = int((await session.exec(
            select(func.count()).select_from(Ticket).where(col(Ticket.status).in_(statuses)))).one())
    by_agent: dict[int, list[TicketSummary]] = {}
    for row in rows:
        if row.assignee_id is not None and row.status in (Status.ASSIGNED, Status.PENDING):
            by_agent.setdefault(row.assignee_id, []).append(row)
    agents = (await session.exec(select(Agent).where(Agent.active == True).order_by(col(Agent.name)))).all()  # noqa: E712
    known = {a.id for a in agents}
    out = [BoardAgent(id=a.id or 0, name=a.name, presence=a.presence, load=len(by_agent.get(a.id or 0, [])),
                      capacity=a.capacity, tickets=by_agent.get(a.id or 0, []))
           for a in agents if a.role == "agent" or by_agent.get(a.id or 0)]
    out += [BoardAgent(id=i, name=f"#{i}", presence="offline", load=len(ts), capacity=0, tickets=ts)
            for i, ts in by_agent.items() if i not in known]  # a deactivated agent's leftovers
    return Board(
        waiting=[r for r in rows if r.status == Status.WAITING],
        identifying=[r for r in rows if r.status == Status.IDENTIFYING],
        agents=out, open_count=count,
    )
