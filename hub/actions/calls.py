"""Phone calls: logging them (by an agent or from a provider's progress signals), the call-back
tasks missed calls create, and looking a caller up. The only writer of the `calls` table.

What a call does to the queue:
- answered: attached to the ticket the agent picks (any channel of the contact), or to a new phone
  ticket that is resolved on the call, or left in the queue for follow-up;
- an inbound call nobody answered (missed, busy, voicemail) from a known number: a call-back task,
  a ticket of kind `callback` in the queue (one per contact: more missed calls join it); the
  missed calls stay `done=False`;
- any answered call with a contact who has open call-back tasks settles them: their missed calls
  become `done`, the tasks are resolved and `called_back` is recorded.

Events (for statistics and the timeline; channel is always "phone", whatever the ticket's):
- `call_logged`, once per call when it has ended, at the call's start, on its ticket (or none):
  data `call_id, direction, outcome, number, talk_s, wait_s, needs_call_back, source`
  (`source` is `agent` or `provider`);
- `called_back` on a call-back ticket when it is settled: `call_id` (the call that reached the
  citizen), `missed_call_ids`, `after_s` (from the first missed call to the call-back);
- `call_attached` when an already logged call is filed on a ticket afterwards.
Announced after commit (`hub.events`): `CallRinging` (a provider reports a new ringing call) and
`CallChanged` (answered, ended, filed) so agents' screens can follow.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hub import events
from hub.actions.contacts import find_contact, find_or_create_contact
from hub.actions.errors import Conflict, Forbidden, Invalid, NotFound
from hub.actions.lifecycle import after_queued, do_resolve, open_new_ticket, record_resolution, resolve_ticket
from hub.actions.permissions import acting, check_ticket
from hub.actions.unit import UnitOfWork
from hub.actors import Actor
from hub.calls import CallLog, CallSignal, CallState, Outcome, needs_call_back
from hub.channel_rules import rules_for
from hub.context import HubContext
from hub.db.tables import Agent, Call, Contact, Identity, Ticket
from hub.inbound import IdentityIn
from hub.phones import ANONYMOUS, InvalidNumber, normalise
from hub.tickets import OPEN_STATUSES, Assign, EventKind, Resolve, Status

DIRECTIONS = ("inbound", "outbound")
OUTCOMES = tuple(o.value for o in Outcome)
MAX_DURATION = timedelta(hours=12)


@dataclass(frozen=True)
class CallEntry:
    """A call as an agent logs it (the web form and `POST /api/v1/calls`)."""

    number: str
    direction: str = "inbound"
    outcome: str = "answered"
    started_at: datetime | None = None  # default: now minus the duration
    duration_s: int = 0
    topic: str = ""
    notes: str = ""
    agent_id: int | None = None
    ticket_id: int | None = None  # attach to this ticket (any channel of the contact)
    # With no ticket: an answered call opens a phone ticket resolved on the call, or left in the
    # queue when `follow_up`. With a ticket: `resolve` closes it on the call.
    follow_up: bool = False
    resolve: bool = False
    call_id: int | None = None  # file a call the provider logged already (topic, notes, ticket)


@dataclass(frozen=True)
class LoggedCall:
    call_id: int
    ticket_id: int | None
    contact_id: int | None
    called_back_ticket_ids: tuple[int, ...] = ()
    new_ticket: bool = False


@dataclass(frozen=True)
class CallerLookup:
    number: str
    contact: Contact | None
    open_tickets: list[Ticket] = field(default_factory=list)
    recent_tickets: list[Ticket] = field(default_factory=list)
    recent_calls: list[Call] = field(default_factory=list)


# Checking input ---------------------------------------------------------------------------


def check_number(ctx: HubContext, raw: str) -> str:
    try:
        return normalise(raw, ctx.settings.phone_region)
    except InvalidNumber as exc:
        raise Invalid(str(exc)) from None


def check_entry(ctx: HubContext, entry: CallEntry, now: datetime) -> tuple[str, datetime]:
    """The normalised number and start of a logged call, or `Invalid` naming what is wrong."""
    number = check_number(ctx, entry.number)
    if entry.direction not in DIRECTIONS:
        raise Invalid(f"direction must be one of {', '.join(DIRECTIONS)}")
    if entry.outcome not in OUTCOMES:
        raise Invalid(f"outcome must be one of {', '.join(OUTCOMES)}")
    if entry.duration_s < 0 or entry.duration_s > MAX_DURATION.total_seconds():
        raise Invalid("duration must be between 0 seconds and 12 hours")
    if entry.outcome != Outcome.ANSWERED and entry.duration_s:
        raise Invalid("only an answered call has a talking time")
    if len(entry.topic) > 200:
        raise Invalid("a topic has at most 200 characters")
    started = entry.started_at or now - timedelta(seconds=entry.duration_s)
    if started.tzinfo is None:
        raise Invalid("the start needs a time zone (e.g. 2026-03-02T09:00:00Z)")
    if started > now + timedelta(minutes=5):
        raise Invalid("a call cannot start in the future")
    if number == ANONYMOUS and entry.direction == "outbound":
        raise Invalid("an outbound call needs the number that was called")
    if entry.follow_up and entry.resolve:
        raise Invalid("a call either resolves its ticket or leaves it for follow-up, not both")
    return number, started


# An agent logs a call ---------------------------------------------------------------------


def check_logger(entry: CallEntry, by: Actor | None) -> None:
    """An agent logs their own calls; managers and admins (and the system) a colleague's too."""
    if by is not None and by.is_agent and not by.is_manager and entry.agent_id not in (None, by.agent_id):
        raise Forbidden("only managers log calls on a colleague's behalf")


async def do_log_call(ctx: HubContext, entry: CallEntry, by: Actor | None = None) -> LoggedCall:
    """Log a call an agent made or took, attach it to the queue, settle call-backs (`by`: who
    logs it, when not the system; see `check_logger`)."""
    check_logger(entry, by)
    if entry.call_id is not None:
        return await do_file_call(ctx, entry)
    resolve_later: int | None = None
    async with UnitOfWork(ctx) as uow:
        number, started = check_entry(ctx, entry, uow.now)
        await _check_agent(uow, entry.agent_id)
        chosen = await _chosen_ticket(uow, entry)
        contact = await _contact_for(uow, number, chosen)
        outcome = Outcome(entry.outcome)
        answered = outcome is Outcome.ANSWERED
        call = Call(
            contact_id=contact.id if contact else None, number=number, direction=entry.direction,
            state=CallState.ENDED.value, outcome=outcome.value, started_at=started,
            answered_at=started if answered else None,
            ended_at=started + timedelta(seconds=entry.duration_s),
            duration_s=entry.duration_s if answered else 0, topic=entry.topic.strip(), notes=entry.notes.strip(),
            agent_id=entry.agent_id, done=not needs_call_back(entry.direction, outcome, number),
            created_at=uow.now,
        )
        uow.session.add(call)
        await uow.session.flush()
        assert call.id is not None

        settled: list[Ticket] = []
        if answered and contact is not None:
            settled = await _settle_call_backs(uow, contact.id, call, entry.agent_id)  # type: ignore[arg-type]
        ticket, new_ticket = chosen, False
        if ticket is not None:
            if entry.resolve and ticket.status in OPEN_STATUSES:
                if rules_for(ticket.channel).send_survey:
                    resolve_later = ticket.id  # the channel's own resolution (its survey) after commit
                else:
                    await resolve_ticket(uow, ticket, await acting(uow.session, entry.agent_id), send_survey=False,
                                         require_topic=False)
        elif answered and settled and not entry.follow_up:
            ticket = settled[0]
        elif answered and contact is not None:
            ticket, new_ticket = await _new_phone_ticket(uow, contact, entry), True
        elif not answered and contact is not None:
            open_call_back = await _open_call_back(uow, contact.id)  # type: ignore[arg-type]
            if open_call_back is not None:
                ticket = open_call_back
            elif entry.direction == "inbound" or entry.follow_up:
                ticket, new_ticket = await _new_call_back(uow, contact, number), True
        call.ticket_id = ticket.id if ticket else None
        uow.session.add(call)
        if ticket is not None:
            _touch(uow, ticket, entry.topic)
        _record_call_logged(uow, call, ticket, source="agent")
        uow.emit(events.CallChanged(ticket.id if ticket else None, call.id))
        result = LoggedCall(
            call.id, call.ticket_id, call.contact_id, tuple(t.id for t in settled if t.id is not None), new_ticket,
        )
    if resolve_later is not None:
        await do_resolve(ctx, resolve_later, entry.agent_id, require_topic=False)
    return result


async def do_file_call(ctx: HubContext, entry: CallEntry) -> LoggedCall:
    """Complete a call the provider logged: topic, notes, agent, and the ticket it belongs to."""
    assert entry.call_id is not None
    if len(entry.topic) > 200:
        raise Invalid("a topic has at most 200 characters")
    if entry.follow_up and entry.resolve:
        raise Invalid("a call either resolves its ticket or leaves it for follow-up, not both")
    resolve_later: int | None = None
    async with UnitOfWork(ctx) as uow:
        call = (await uow.session.exec(select(Call).where(Call.id == entry.call_id).with_for_update())).first()
        if call is None:
            raise NotFound(f"call {entry.call_id} does not exist")
        if call.state != CallState.ENDED:
            raise Conflict("the call has not ended yet")
        await _check_agent(uow, entry.agent_id)
        chosen = await _chosen_ticket(uow, entry)
        contact = await uow.session.get(Contact, call.contact_id) if call.contact_id else None
        if contact is None and call.number != ANONYMOUS:
            contact = await _contact_for(uow, call.number, chosen)
            call.contact_id = contact.id if contact else None
        elif contact is not None and chosen is not None and chosen.contact_id != contact.id:
            raise Conflict("that ticket belongs to another contact: merge the contacts first")
        call.topic = entry.topic.strip() or call.topic
        call.notes = entry.notes.strip() or call.notes
        call.agent_id = entry.agent_id or call.agent_id
        ticket, new_ticket = chosen, False
        if ticket is None and call.ticket_id is None and contact is not None and call.outcome == Outcome.ANSWERED:
            ticket, new_ticket = await _new_phone_ticket(uow, contact, entry), True
        if ticket is not None and ticket.id != call.ticket_id:
            call.ticket_id = ticket.id
            _record(uow, ticket, EventKind.CALL_ATTACHED, uow.now, {"call_id": call.id}, entry.agent_id)
        if ticket is not None and not new_ticket:
            _touch(uow, ticket, entry.topic)
            if entry.resolve and ticket.status in OPEN_STATUSES:
                if rules_for(ticket.channel).send_survey:
                    resolve_later = ticket.id
                else:
                    await resolve_ticket(uow, ticket, await acting(uow.session, entry.agent_id), send_survey=False,
                                         require_topic=False)
        uow.session.add(call)
        uow.emit(events.CallChanged(call.ticket_id, call.id))
        assert call.id is not None
        result = LoggedCall(call.id, call.ticket_id, call.contact_id, (), new_ticket)
    if resolve_later is not None:
        await do_resolve(ctx, resolve_later, entry.agent_id, require_topic=False)
    return result


# A provider reports a call's progress ---------------------------------------------------------


async def do_record_call_signal(ctx: HubContext, signal: CallSignal) -> int:
    """Fold one progress signal into its call's log (idempotent, order-free); returns the call id.

    The log itself is `hub.calls.CallLog`; what happens to the queue happens once, when the log
    first reaches `ended`, and `CallRinging` is announced when a call first appears ringing.
    """
    for attempt in range(3):
        try:
            return await _record_call_signal(ctx, signal)
        except IntegrityError:
            # Two signals of a new call raced to insert it; the loser merges into the winner's row.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _record_call_signal(ctx: HubContext, signal: CallSignal) -> int:
    async with UnitOfWork(ctx) as uow:
        stmt = select(Call).where(Call.provider_id == signal.provider_id).with_for_update()
        call = (await uow.session.exec(stmt)).first()
        before = log_of(call) if call is not None else None
        log = before.add(signal) if before is not None else CallLog.from_signal(signal)
        contact: Contact | None = None
        if call is None:
            if log.number != ANONYMOUS:
                contact = await find_or_create_contact(uow, [IdentityIn("phone", log.number)])
            call = Call(provider_id=signal.provider_id, contact_id=contact.id if contact else None,
                        created_at=uow.now, started_at=log.started_at)
        elif call.contact_id is not None:
            contact = await uow.session.get(Contact, call.contact_id)
        _write_log(call, log)
        uow.session.add(call)
        await uow.session.flush()
        assert call.id is not None

        if before is None and log.state is CallState.RINGING:
            # The calls page shows who is calling and their open consultations (agent_ui.calls).
            uow.emit(events.CallRinging(call.id, contact.id if contact else None))
        if (before is None or before.state is not CallState.ENDED) and log.state is CallState.ENDED:
            await _finish_provider_call(uow, call, contact)
        elif before is not None and before.state is not log.state:
            uow.emit(events.CallChanged(call.ticket_id, call.id))
        return call.id


def log_of(call: Call) -> CallLog:
    """The call-log semilattice value a `calls` row holds (inverse of `_write_log`)."""
    ended = call.state == CallState.ENDED
    return CallLog(
        provider_id=call.provider_id or "", direction=call.direction, number=call.number,
        started_at=call.started_at, answered_at=call.answered_at, ended_at=call.ended_at,
        final=Outcome(call.outcome) if ended and call.outcome else None,
        duration_s=call.duration_s if ended else None, last_sequence=call.last_sequence,
    )


def _write_log(call: Call, log: CallLog) -> None:
    call.direction, call.number = log.direction, log.number
    call.state = log.state.value
    call.outcome = log.outcome.value if log.outcome else None
    call.started_at, call.answered_at, call.ended_at = log.started_at, log.answered_at, log.ended_at
    call.duration_s, call.wait_s = log.talk_s, log.wait_s
    call.last_sequence = log.last_sequence


async def _finish_provider_call(uow: UnitOfWork, call: Call, contact: Contact | None) -> None:
    """The call has ended: call-back task, settled call-backs, and its `call_logged` event."""
    ticket: Ticket | None = None
    call.done = not needs_call_back(call.direction, call.outcome, call.number)
    if contact is not None and contact.id is not None:
        if call.outcome == Outcome.ANSWERED:
            settled = await _settle_call_backs(uow, contact.id, call, call.agent_id)
            ticket = settled[0] if settled else None
        elif needs_call_back(call.direction, call.outcome, call.number):
            ticket = await _open_call_back(uow, contact.id) or await _new_call_back(uow, contact, call.number)
        else:
            ticket = await _open_call_back(uow, contact.id)
    call.ticket_id = ticket.id if ticket else None
    uow.session.add(call)
    if ticket is not None:
        _touch(uow, ticket, "")
    _record_call_logged(uow, call, ticket, source="provider")
    uow.emit(events.CallChanged(call.ticket_id, call.id))


# Call-back tasks ------------------------------------------------------------------------------


async def _open_call_back(uow: UnitOfWork, contact_id: int) -> Ticket | None:
    stmt = (
        select(Ticket).where(
            Ticket.contact_id == contact_id, Ticket.kind == "callback",
            col(Ticket.status).in_([s.value for s in OPEN_STATUSES]),
        ).order_by(col(Ticket.created_at)).limit(1).with_for_update()
    )
    return (await uow.session.exec(stmt)).first()


async def _new_call_back(uow: UnitOfWork, contact: Contact, number: str) -> Ticket:
    ticket = await open_new_ticket(uow, contact, "phone", subject=number, kind="callback")
    await after_queued(uow, ticket)
    return ticket


async def _settle_call_backs(uow: UnitOfWork, contact_id: int, call: Call, agent_id: int | None) -> list[Ticket]:
    """The citizen was reached: every open call-back task of theirs is done."""
    stmt = (
        select(Ticket).where(
            Ticket.contact_id == contact_id, Ticket.kind == "callback",
            col(Ticket.status).in_([s.value for s in OPEN_STATUSES]),
        ).order_by(col(Ticket.created_at)).with_for_update()
    )
    tickets = list((await uow.session.exec(stmt)).all())
    # Every missed call of theirs is answered now, wherever an agent filed it.
    missed_all = list((await uow.session.exec(
        select(Call).where(Call.contact_id == contact_id, Call.done == False, Call.id != call.id)  # noqa: E712
    )).all())
    for m in missed_all:
        m.done = True
        uow.session.add(m)
    for ticket in tickets:
        missed = [m for m in missed_all if m.ticket_id == ticket.id]
        first = min((m.started_at for m in missed), default=ticket.created_at)
        _record(uow, ticket, EventKind.CALLED_BACK, uow.now, {
            "call_id": call.id, "missed_call_ids": sorted(m.id for m in missed if m.id is not None),
            "after_s": max(0, int((call.started_at - first).total_seconds())),
        }, agent_id)
        if agent_id is not None and ticket.status == Status.WAITING:
            uow.transition(ticket, Assign(agent_id))
        uow.transition(ticket, Resolve(agent_id))
        record_resolution(uow, agent_id, ticket, via="call_back", call=call.id)
    return tickets


async def _new_phone_ticket(uow: UnitOfWork, contact: Contact, entry: CallEntry) -> Ticket:
    ticket = await open_new_ticket(uow, contact, "phone", subject=entry.topic.strip())
    if entry.follow_up:
        await after_queued(uow, ticket)
        return ticket
    # Resolved on the call: taken by the agent who spoke, then resolved (no survey on the phone).
    if entry.agent_id is not None:
        uow.transition(ticket, Assign(entry.agent_id))
    await resolve_ticket(uow, ticket, await acting(uow.session, entry.agent_id), send_survey=False, require_topic=False)
    return ticket


# Helpers ---------------------------------------------------------------------------------------


async def _check_agent(uow: UnitOfWork, agent_id: int | None) -> None:
    if agent_id is not None and await uow.session.get(Agent, agent_id) is None:
        raise NotFound(f"agent {agent_id} does not exist")


async def _chosen_ticket(uow: UnitOfWork, entry: CallEntry) -> Ticket | None:
    if entry.ticket_id is None:
        if entry.resolve:
            raise Invalid("resolve applies to a chosen ticket; a new ticket is resolved unless follow_up")
        return None
    ticket = await uow.ticket_for_update(entry.ticket_id)
    if entry.resolve:
        # Resolving is the single action's rule (a colleague's consultation is theirs), checked
        # here on the locked row before anything of the call is written.
        check_ticket(await acting(uow.session, entry.agent_id), ticket)
    if entry.resolve and ticket.status not in OPEN_STATUSES:
        raise Conflict(f"ticket {ticket.reference} is {ticket.status} already: it cannot be resolved again")
    if entry.resolve and ticket.status == Status.IDENTIFYING:
        raise Conflict("the citizen has not identified yet: the ticket cannot be resolved")
    return ticket


async def _contact_for(uow: UnitOfWork, number: str, chosen: Ticket | None) -> Contact | None:
    """The caller's contact. A new number called about a chosen ticket joins that ticket's contact."""
    if number == ANONYMOUS:
        if chosen is not None:
            return await uow.session.get(Contact, chosen.contact_id)
        return None
    identity = IdentityIn("phone", number)
    known = await find_contact(uow, [identity])
    if chosen is None:
        return known or await find_or_create_contact(uow, [identity])
    if known is not None and known.id != chosen.contact_id:
        raise Conflict(f"{number} belongs to another contact than ticket {chosen.reference}: merge the contacts first")
    owner = await uow.session.get(Contact, chosen.contact_id)
    assert owner is not None
    if known is None:  # remember the number: next time it finds this citizen at once
        uow.session.add(Identity(contact_id=owner.id, kind="phone", value=number, created_at=uow.now))
    return owner


def _touch(uow: UnitOfWork, ticket: Ticket, topic: str) -> None:
    ticket.last_activity_at = uow.now
    if topic.strip() and not ticket.subject:
        ticket.subject = topic.strip()[:300]
    uow.keep(ticket)


def _record(uow: UnitOfWork, ticket: Ticket | None, kind: EventKind, at: datetime, data: dict[str, Any],
            agent_id: int | None) -> None:
    """An event on the phone channel, with or without a ticket (an anonymous call has none)."""
    uow.add_event(ticket.id if ticket else None, kind.value, at, "phone", agent_id, data)
    uow.emit(events.recorded(kind, ticket.id if ticket else None, None, data))


def _record_call_logged(uow: UnitOfWork, call: Call, ticket: Ticket | None, source: str) -> None:
    _record(uow, ticket, EventKind.CALL_LOGGED, call.started_at, {
        "call_id": call.id, "direction": call.direction, "outcome": call.outcome, "number": call.number,
        "talk_s": call.duration_s, "wait_s": call.wait_s, "source": source,
        "needs_call_back": needs_call_back(call.direction, call.outcome, call.number),
    }, call.agent_id)


# Reading ---------------------------------------------------------------------------------------


async def lookup_caller(ctx: HubContext, raw_number: str, recent: int = 10) -> CallerLookup:
    """Who is this number: the contact, their open and recent tickets on every channel, calls."""
    number = check_number(ctx, raw_number)
    async with UnitOfWork(ctx) as uow:
        contact = None if number == ANONYMOUS else await find_contact(uow, [IdentityIn("phone", number)])
        if contact is None:
            calls = [] if number == ANONYMOUS else list((await uow.session.exec(
                select(Call).where(Call.number == number).order_by(col(Call.started_at).desc()).limit(recent)
            )).all())
            return CallerLookup(number, None, recent_calls=calls)
        tickets = list((await uow.session.exec(
            select(Ticket).where(Ticket.contact_id == contact.id)
            .order_by(col(Ticket.created_at).desc()).limit(50)
        )).all())
        calls = list((await uow.session.exec(
            select(Call).where(Call.contact_id == contact.id).order_by(col(Call.started_at).desc()).limit(recent)
        )).all())
    open_ = [t for t in tickets if t.status in OPEN_STATUSES]
    closed = [t for t in tickets if t.status not in OPEN_STATUSES][:recent]
    return CallerLookup(number, contact, open_, closed, calls)


async def list_calls(
    ctx: HubContext, *, limit: int = 50, before_id: int | None = None, pending_call_backs: bool = False,
    unfiled: bool = False,
) -> list[Call]:
    """Newest first. `pending_call_backs`: missed calls not called back yet; `unfiled`: no ticket."""
    stmt = select(Call)
    if before_id is not None:
        stmt = stmt.where(col(Call.id) < before_id)
    if pending_call_backs:
        stmt = stmt.where(Call.done == False, Call.number != ANONYMOUS)  # noqa: E712
    if unfiled:
        stmt = stmt.where(col(Call.ticket_id).is_(None), Call.state == CallState.ENDED.value)
    stmt = stmt.order_by(col(Call.started_at).desc(), col(Call.id).desc()).limit(max(1, min(limit, 500)))
    async with ctx.sessionmaker() as session:
        return list((await session.exec(stmt)).all())


async def get_call(ctx: HubContext, call_id: int) -> Call:
    async with ctx.sessionmaker() as session:
        call = await session.get(Call, call_id)
    if call is None:
        raise NotFound(f"call {call_id} does not exist")
    return call


__all__ = [
    "CallEntry", "CallerLookup", "LoggedCall", "do_file_call", "do_log_call", "do_record_call_signal",
    "get_call", "list_calls", "log_of", "lookup_caller",
]
