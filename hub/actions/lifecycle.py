"""Opening, assigning, resolving and timing out tickets; automatic assignment."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import col, select

from hub import events
from hub.actions.audit import add_audit
from hub.actions.errors import Conflict, Invalid, NotFound
from hub.actions.office import calendar_in, opening_in
from hub.actions.permissions import Who, acting, check_ticket
from hub.actions.texts import queue_auto_message
from hub.actions.unit import UnitOfWork
from hub.actions.topics import check_topic_before_resolving
from hub.actors import Actor
from hub.channel_rules import reply_window_open, rules_for
from hub.context import HubContext
from hub.db.tables import Agent, Contact, SurveyResponse, Ticket, new_row
from hub.routing import AgentLoad, choose_agent
from hub.texts import normalise_language
from hub.tickets import (
    OWNED_STATUSES, Assign, DueKind, Event, EventKind, Open, Resolve, Status, TimerDue, Unassign,
    open_ticket,
)


def make_reference(prefix: str, year: int, ticket_id: int) -> str:
    return f"{prefix}-{year}-{ticket_id:06d}"


async def open_new_ticket(
    uow: UnitOfWork, contact: Contact, channel: str, *, subject: str = "", identify: bool = False,
    known: bool = False, late: bool = False,
    kind: str = "consultation", priority: int = 0,
) -> Ticket:
    result = open_ticket(Open(channel, identify=identify and not known, known=known, late=late), uow.now,
                         uow.ctx.policy)
    ticket = new_row(
        Ticket, contact_id=contact.id, channel=channel, kind=kind, status=result.state.status.value,
        subject=subject[:300], priority=priority, created_at=uow.now, updated_at=uow.now,
        queued_at=result.state.queued_at, identified_at=result.state.identified_at, due_at=result.state.due_at,
        due_kind=result.state.due_kind.value if result.state.due_kind else None, last_activity_at=uow.now,
    )
    await uow.add_new(ticket)  # written with the transaction's other new tickets, one statement
    assert ticket.id is not None
    ticket.reference = make_reference(uow.ctx.settings.reference_prefix, uow.now.year, ticket.id)
    for event in result.events:
        uow.record(ticket, event)
    uow.emit(events.TicketChanged(ticket.id))
    return ticket


# Assignment ----------------------------------------------------------------------------


async def agent_loads(uow: UnitOfWork) -> list[AgentLoad]:
    load = (
        select(Ticket.assignee_id, func.count())
        .where(col(Ticket.status).in_([s.value for s in OWNED_STATUSES]), col(Ticket.assignee_id).is_not(None))
        .group_by(Ticket.assignee_id)
    )
    counts = {aid: n for aid, n in (await uow.session.exec(load)).all()}
    agents = (await uow.session.exec(select(Agent).where(Agent.active == True))).all()  # noqa: E712
    return [
        AgentLoad(a.id, a.presence, a.capacity, counts.get(a.id, 0), a.last_assigned_at)
        for a in agents if a.id is not None
    ]


async def assign(uow: UnitOfWork, ticket: Ticket, agent: Agent) -> None:
    """Give `ticket` to `agent` and, where the channel wants it, introduce the agent."""
    previous = ticket.assignee_id
    uow.transition(ticket, Assign(agent.id))  # type: ignore[arg-type]
    agent.last_assigned_at = uow.now
    uow.session.add(agent)
    rules = rules_for(ticket.channel)
    if rules.introduce_agent and ticket.identified_at is not None:
        contact = await uow.session.get(Contact, ticket.contact_id)
        assert contact is not None
        shown = agent.name if uow.ctx.settings.agent_intro_name == "full" else agent.name.split()[0]
        # Taken after the reply window closed (a weekend): the introduction waits for the
        # citizen's next message instead of failing.
        hold = not reply_window_open(ticket.channel, ticket.last_inbound_at, uow.now)
        if previous is None and ticket.id in uow.cache.get("welcoming_back", ()):
            # A returning citizen taken at once: one message says hello and who will help.
            uow.cache["welcoming_back"].discard(ticket.id)
            await queue_auto_message(uow, ticket, contact, "identify_first.welcome_back_agent", hold=hold,
                                     office=uow.ctx.settings.office_name, citizen=contact.name, agent=shown)
        elif previous is None:
            await queue_auto_message(uow, ticket, contact, "agent_intro.text", hold=hold,
                                     citizen=contact.name or contact.display_hint, agent=shown)
        else:
            await queue_auto_message(uow, ticket, contact, "agent_intro.transfer", hold=hold, agent=shown)


async def tell_if_closed(uow: UnitOfWork, ticket: Ticket, contact: Contact) -> bool:
    """A citizen on a channel that introduces agents was just queued: outside office hours,
    tell them the office is closed, when it opens and their reference (the introduction waits
    until an agent takes the consultation). Returns whether the office is closed."""
    calendar = await calendar_in(uow)
    if calendar.is_open(uow.now):
        return False
    if rules_for(ticket.channel).introduce_agent:
        language = normalise_language(contact.language, uow.ctx.settings.language)
        opening = await opening_in(uow, language)
        await queue_auto_message(uow, ticket, contact, "outside_hours.text",
                                 citizen=contact.name or contact.display_hint, opening=opening,
                                 reference=ticket.reference)
    return True


async def welcome_back(uow: UnitOfWork, ticket: Ticket, contact: Contact) -> None:
    """The one message a returning citizen gets (`identified_recently`), once the consultation is
    queued: naming the agent if one took it at once (`assign`), saying when the office opens if
    it is closed, else only hello."""
    pending: set[int] = uow.cache.get("welcoming_back", set())
    if ticket.id not in pending:
        return  # the agent's name went in the welcome
    pending.discard(ticket.id)  # type: ignore[arg-type]
    office = uow.ctx.settings.office_name
    calendar = await calendar_in(uow)
    if calendar.is_open(uow.now):
        await queue_auto_message(uow, ticket, contact, "identify_first.welcome_back", office=office, citizen=contact.name)
        return
    language = normalise_language(contact.language, uow.ctx.settings.language)
    opening = await opening_in(uow, language)
    await queue_auto_message(uow, ticket, contact, "identify_first.welcome_back_outside_hours", office=office,
                             citizen=contact.name, opening=opening, reference=ticket.reference)


async def after_queued(uow: UnitOfWork, ticket: Ticket) -> None:
    """A ticket just entered the queue: hand it to the best available agent if configured and
    the office is open (outside hours nothing is pushed to agents who forgot to go offline)."""
    if not uow.ctx.settings.auto_assign or ticket.status != Status.WAITING:
        return
    if not (await calendar_in(uow)).is_open(uow.now):
        return
    # Within one transaction loads change only through transitions, which forget them: a
    # batch of tickets that finds nobody available asks once, not once per ticket.
    loads = uow.cache.get("agent_loads")
    if loads is None:
        loads = uow.cache["agent_loads"] = await agent_loads(uow)
    chosen = choose_agent(loads)
    if chosen is None:
        return
    agent = await uow.session.get(Agent, chosen.agent_id, with_for_update=True)
    if agent is not None:
        await assign(uow, ticket, agent)


def queue_order():  # type: ignore[no-untyped-def]
    """Priority first, then whoever has waited longest, then the oldest ticket."""
    return (col(Ticket.priority).desc(), col(Ticket.queued_at).asc(), col(Ticket.id).asc())


async def do_assign(ctx: HubContext, ticket_id: int, agent_id: int, by_agent_id: Who = None) -> None:
    """Manual assignment or transfer by `by_agent_id` (an actor, an agent id, None for the
    system); sticky until resolved. Refuses away/offline/full agents."""
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, by_agent_id)
        await assign_by_hand(uow, await uow.ticket_for_update(ticket_id), agent_id, actor)


async def assign_by_hand(uow: UnitOfWork, ticket: Ticket, agent_id: int, actor: Actor, **detail: object) -> None:
    """`do_assign` inside the caller's transaction, the ticket's row locked (bulk actions run one
    per ticket, `detail` marks their audit entries)."""
    check_ticket(actor, ticket)
    by_agent_id = actor.agent_id
    agent = await uow.session.get(Agent, agent_id, with_for_update=True)
    if agent is None or not agent.active:
        raise NotFound(f"agent {agent_id} does not exist")
    if ticket.status == Status.IDENTIFYING:
        raise Conflict("the citizen has not identified yet: the ticket cannot be assigned")
    if agent_id != by_agent_id:
        # Giving work to a colleague follows the routing rules: only to someone available
        # with room. Taking a ticket oneself is an explicit choice and always allowed.
        if agent.presence != "available":
            raise Conflict(f"{agent.name} is {agent.presence}: tickets can only go to available agents")
        load = next((a.load for a in await agent_loads(uow) if a.agent_id == agent_id), 0)
        if load >= agent.capacity and ticket.assignee_id != agent_id:
            raise Conflict(f"{agent.name} already has {load} tickets (capacity {agent.capacity})")
    await assign(uow, ticket, agent)
    record_assignment(uow, by_agent_id, ticket, agent_id, **detail)


def record_assignment(uow: UnitOfWork, by_agent_id: int | None, ticket: Ticket, to: int, **detail: object) -> None:
    """The `ticket.assign` entry, in the assignment's transaction (by hand, taking the next)."""
    add_audit(uow, by_agent_id, "ticket.assign", "ticket", ticket.id, to=to, **detail)


async def do_take_next(ctx: HubContext, agent_id: Actor | int) -> int | None:
    """The oldest waiting ticket (priority first) for this agent; None when the queue is empty.

    Two agents asking at once never get the same ticket: PostgreSQL skips rows another
    transaction has locked, SQLite serialises the writers.
    """
    if isinstance(agent_id, Actor):
        if agent_id.agent_id is None:
            raise Invalid("only an agent takes tickets from the queue")
        agent_id = agent_id.agent_id
    async with UnitOfWork(ctx) as uow:
        agent = await uow.session.get(Agent, agent_id, with_for_update=True)
        if agent is None or not agent.active:
            raise NotFound(f"agent {agent_id} does not exist")
        stmt = (
            select(Ticket).where(Ticket.status == Status.WAITING.value)
            .order_by(*queue_order()).limit(1).with_for_update(skip_locked=True)
        )
        ticket = (await uow.session.exec(stmt)).first()
        if ticket is None:
            return None
        await assign(uow, ticket, agent)
        record_assignment(uow, agent_id, ticket, agent_id, via="next")
        return ticket.id


async def do_unassign(ctx: HubContext, ticket_id: int, by: Who = None) -> None:
    """Hand the ticket back to the queue."""
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, by)
        unassign_ticket(uow, await uow.ticket_for_update(ticket_id), actor)


def unassign_ticket(uow: UnitOfWork, ticket: Ticket, actor: Actor, **detail: object) -> None:
    """`do_unassign` inside the caller's transaction, the ticket's row locked."""
    check_ticket(actor, ticket)
    uow.transition(ticket, Unassign())
    add_audit(uow, actor.agent_id, "ticket.unassign", "ticket", ticket.id, **detail)


async def do_drain_queue(ctx: HubContext, limit: int = 100) -> int:
    """Assign waiting tickets, oldest first, while available agents have room. Returns how many."""
    if not ctx.settings.auto_assign:
        return 0
    done = 0
    while done < limit:
        async with UnitOfWork(ctx) as uow:
            if not (await calendar_in(uow)).is_open(uow.now):
                return done
            chosen = choose_agent(await agent_loads(uow))
            if chosen is None:
                return done
            stmt = (
                select(Ticket).where(Ticket.status == Status.WAITING.value)
                .order_by(*queue_order()).limit(1).with_for_update(skip_locked=True)
            )
            ticket = (await uow.session.exec(stmt)).first()
            if ticket is None:
                return done
            agent = await uow.session.get(Agent, chosen.agent_id, with_for_update=True)
            assert agent is not None
            await assign(uow, ticket, agent)
        done += 1
    return done


# Resolution and surveys ----------------------------------------------------------------


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Resolved:
    ticket_id: int
    survey_url: str | None


async def do_resolve(ctx: HubContext, ticket_id: int, agent_id: Who, send_survey: bool = True,
                     require_topic: bool = True) -> Resolved:
    """Close a consultation; the citizen gets the survey link where the channel allows it.

    `require_topic=False`: a call logged as resolved in one step (its form has its own topic
    text), so the office's "topic before resolving" rule does not leave it logged but open.
    `agent_id`: who resolves (an actor, an agent id, None for the system)."""
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, agent_id)
        ticket = await uow.ticket_for_update(ticket_id)
        url = await resolve_ticket(uow, ticket, actor, send_survey, require_topic=require_topic)
        assert ticket.id is not None
        return Resolved(ticket.id, url)


async def _surveyed(uow: UnitOfWork, ticket: Ticket) -> bool:
    """A reopened consultation resolved again: its citizen was already asked once (one survey each)."""
    stmt = select(SurveyResponse.id).where(SurveyResponse.ticket_id == ticket.id)
    return (await uow.session.exec(stmt)).first() is not None


async def resolve_ticket(uow: UnitOfWork, ticket: Ticket, actor: Actor, send_survey: bool = True, *,
                         require_topic: bool = True, **detail: object) -> str | None:
    """`do_resolve` inside the caller's transaction, the ticket's row locked; returns the survey
    link, if one was sent (`detail` marks the audit entry, e.g. of a bulk action)."""
    check_ticket(actor, ticket)
    agent_id = actor.agent_id
    if ticket.status == Status.IDENTIFYING:
        raise Conflict("the citizen has not identified yet: close it by letting the timers run")
    if agent_id is not None and require_topic:
        await check_topic_before_resolving(uow, ticket)
    owner = ticket.assignee_id
    uow.transition(ticket, Resolve(agent_id))
    url = None
    if send_survey and rules_for(ticket.channel).send_survey and not await _surveyed(uow, ticket):
        token = secrets.token_urlsafe(24)
        uow.session.add(SurveyResponse(
            ticket_id=ticket.id, agent_id=owner or agent_id, channel=ticket.channel,
            token_hash=hash_token(token), created_at=uow.now,
            expires_at=uow.now + uow.ctx.settings.survey_valid_for,
        ))
        url = f"{uow.ctx.settings.public_url}/survey/{token}"
        contact = await uow.session.get(Contact, ticket.contact_id)
        assert contact is not None
        message = await queue_auto_message(
            uow, ticket, contact, "survey.invitation", reference=ticket.reference, url=url,
        )
        message.meta = {**message.meta, "survey": True}
        uow.record(ticket, Event(EventKind.SURVEY_SENT, uow.now, {"message_id": message.id}))
    record_resolution(uow, agent_id, ticket, **detail)
    return url


def record_resolution(uow: UnitOfWork, agent_id: int | None, ticket: Ticket, **detail: object) -> None:
    """The `ticket.resolve` entry, in the resolution's transaction (by hand, a call-back settled)."""
    add_audit(uow, agent_id, "ticket.resolve", "ticket", ticket.id, **detail)


# Timers ---------------------------------------------------------------------------------


async def due_ticket_ids(ctx: HubContext, limit: int = 500) -> list[int]:
    """Tickets whose timer is due: one range scan of the partial index on `due_at`."""
    now = ctx.clock.now()
    async with ctx.sessionmaker() as session:
        stmt = (
            select(Ticket.id).where(col(Ticket.due_at).is_not(None), col(Ticket.due_at) <= now)
            .order_by(col(Ticket.due_at)).limit(limit)
        )
        return [i for i in (await session.exec(stmt)).all() if i is not None]


async def next_due_at(ctx: HubContext):  # type: ignore[no-untyped-def]
    async with ctx.sessionmaker() as session:
        stmt = select(func.min(Ticket.due_at)).where(col(Ticket.due_at).is_not(None))
        return (await session.exec(stmt)).first()


async def do_fire_timer(ctx: HubContext, ticket_id: int) -> str | None:
    """Fire the ticket's due timer, once: a second scheduler finds nothing left to do."""
    async with UnitOfWork(ctx) as uow:
        ticket = await uow.ticket_for_update(ticket_id)
        if ticket.due_at is None or ticket.due_kind is None or ticket.due_at > uow.now:
            return None
        kind = DueKind(ticket.due_kind)
        uow.transition(ticket, TimerDue(kind))
        contact = await uow.session.get(Contact, ticket.contact_id)
        assert contact is not None
        if kind is DueKind.IDLE_CLOSE:
            # Resolved for silence: a polite word, no survey. Past WhatsApp's reply window
            # nothing free-form can be sent (and a message waiting for the citizen's next
            # one would never go: that message opens a new consultation), so then nothing is.
            if reply_window_open(ticket.channel, ticket.last_inbound_at, uow.now):
                await queue_auto_message(uow, ticket, contact, "idle_close.text", reference=ticket.reference)
            return kind.value
        key = "reminder.text" if kind is DueKind.REMINDER else "unidentified_close.text"
        await queue_auto_message(uow, ticket, contact, key)
        return kind.value


async def do_rename_contact(ctx: HubContext, contact_id: int, name: str, agent_id: Who) -> None:
    """Correct a citizen's name (any agent may); audited without the names (personal data)."""
    name = " ".join(name.split())[:200]
    if not name:
        raise Invalid("a name cannot be empty")
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, agent_id)
        agent_id = actor.agent_id
        contact = await uow.session.get(Contact, contact_id, with_for_update=True)
        if contact is None:
            raise NotFound(f"contact {contact_id} does not exist")
        if contact.erased_at is not None:
            raise Conflict("an erased contact cannot be renamed")
        if contact.merged_into_id is not None:
            raise Conflict(f"contact {contact_id} was merged into {contact.merged_into_id}: rename that one")
        old = contact.name
        contact.name = name
        contact.updated_at = uow.now
        uow.session.add(contact)
        open_tickets = (await uow.session.exec(select(Ticket).where(Ticket.contact_id == contact_id))).all()
        for ticket in open_tickets[-1:]:
            uow.record(ticket, Event(EventKind.NAME_CHANGED, uow.now, {"from": old, "to": name}), agent_id=agent_id)
        add_audit(uow, agent_id, "contact.rename", "contact", contact_id)
        uow.emit(events.ContactChanged(contact_id))
