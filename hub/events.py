"""What happened, as the after-commit reactions hear it: one frozen msgspec struct per event.

Actions collect these while they work (`UnitOfWork.emit`); `hub.actions.unit.UnitOfWork` hands
them to the bus (`hub.bus`) only after its transaction has committed, so nobody hears of a change
that was rolled back. They carry ids only: a reaction reloads what it needs.

Each type has one name, and its `type` tag is how agents' browsers know it (the live push sends
`{"type": <tag>, "ticket_id": ..., <the ids>}`: a public interface of `agent_ui/static/hub.js`,
keep the tags). What each type sets off (delivery, queue drain, media fetch, live push) is
written in one table, `runtime.reactions.REACTIONS`; a test fails when a type has no entry.

The ticket history's events (`hub.tickets.EventKind`, the `events` table) are announced as the
`TicketEvent` of the same name (`recorded`): whose ticket it is travels along, so an agent's tabs
tell their own consultations' news without asking the server about every event.
"""

from __future__ import annotations

from typing import Any

import msgspec

from hub.tickets import EventKind


class Announcement(msgspec.Struct, frozen=True, tag_field="type"):
    """A committed change, announced after commit (abstract: only its subclasses are published).

    Named apart from the ticket history's entry (`hub.tickets.Event`, written as a row of the
    `events` table), which an action records and announces as a `TicketEvent`."""


# Background work (never sent to browsers) ------------------------------------------------------


class MessageQueued(Announcement, tag="message_queued"):
    """An outbound message got its outbox row: deliver it."""

    outbox_id: int
    message_id: int


class InboxAccepted(Announcement, tag="inbox_accepted"):
    """A provider's inbound message was stored in the `inbox` table: turn it into a ticket message."""

    inbox_id: int


class AttachmentPending(Announcement, tag="attachment_pending"):
    """An inbound attachment's file is still at the provider: fetch it."""

    ticket_id: int
    message_id: int
    attachment_id: int


# Changes agents' screens follow ----------------------------------------------------------------


class TicketChanged(Announcement, tag="ticket_changed"):
    """A ticket's state or fields changed (status, assignee, timers, topics...)."""

    ticket_id: int


class TicketSeen(Announcement, tag="ticket_seen"):
    """An agent read a consultation (their unread count changes)."""

    ticket_id: int
    agent_id: int


class AgentChanged(Announcement, tag="agent_changed"):
    """An agent's presence, capacity or account changed (capacity may have been freed)."""

    agent_id: int


class ContactChanged(Announcement, tag="contact_changed"):
    """A contact was renamed, erased, or merged (`merged_id` folded into `contact_id`)."""

    contact_id: int
    merged_id: int | None = None


class CalendarChanged(Announcement, tag="calendar_changed"):
    """The office's hours or days off changed."""


class TopicsChanged(Announcement, tag="topics_changed"):
    """The list of topics changed."""


class AttachmentChanged(Announcement, tag="attachment_changed"):
    """An attachment was fetched, refused or given up."""

    ticket_id: int | None
    message_id: int
    attachment_id: int


class CallRinging(Announcement, tag="call_ringing"):
    """A provider reports a new ringing call (the calls page shows who is calling)."""

    call_id: int
    contact_id: int | None


class CallChanged(Announcement, tag="call_changed"):
    """A call was answered, ended or filed."""

    ticket_id: int | None
    call_id: int


class TicketEvent(Announcement, frozen=True):
    """An event of a ticket's history (abstract: one subclass per `EventKind`, its tag the kind).

    `assignee_id`: the ticket's assignee after the change; `agent_id`: the agent the event names
    (who was given the ticket, who replied or resolved), if any.
    """

    ticket_id: int | None
    assignee_id: int | None = None
    agent_id: int | None = None


class TicketCreated(TicketEvent, tag=EventKind.CREATED.value): ...
class Identified(TicketEvent, tag=EventKind.IDENTIFIED.value): ...
class Queued(TicketEvent, tag=EventKind.QUEUED.value): ...
class Assigned(TicketEvent, tag=EventKind.ASSIGNED.value): ...


class Transferred(TicketEvent, tag=EventKind.TRANSFERRED.value):
    from_agent_id: int | None = None


class Unassigned(TicketEvent, tag=EventKind.UNASSIGNED.value):
    from_agent_id: int | None = None


class AgentReplied(TicketEvent, tag=EventKind.AGENT_REPLIED.value): ...
class FirstAgentReply(TicketEvent, tag=EventKind.FIRST_AGENT_REPLY.value): ...
class CitizenReplied(TicketEvent, tag=EventKind.CITIZEN_REPLIED.value): ...
class ReminderSent(TicketEvent, tag=EventKind.REMINDER_SENT.value): ...
class ClosedUnidentified(TicketEvent, tag=EventKind.CLOSED_UNIDENTIFIED.value): ...
class Resolved(TicketEvent, tag=EventKind.RESOLVED.value): ...
class Reopened(TicketEvent, tag=EventKind.REOPENED.value): ...
class NameChanged(TicketEvent, tag=EventKind.NAME_CHANGED.value): ...


class MessageReceived(TicketEvent, tag=EventKind.MESSAGE_RECEIVED.value):
    message_id: int | None = None


class NoteAdded(TicketEvent, tag=EventKind.NOTE_ADDED.value):
    message_id: int | None = None


class AutoMessageSent(TicketEvent, tag=EventKind.AUTO_MESSAGE_SENT.value):
    message_id: int | None = None


class SurveySent(TicketEvent, tag=EventKind.SURVEY_SENT.value):
    message_id: int | None = None


class SurveyAnswered(TicketEvent, tag=EventKind.SURVEY_ANSWERED.value):
    survey_id: int | None = None


class MessageStatusChanged(TicketEvent, tag=EventKind.MESSAGE_STATUS.value):
    """A sent message's delivery status moved on (sent, delivered, read, failed)."""

    message_id: int | None = None


class ReplyOutsideWindow(TicketEvent, tag=EventKind.REPLY_OUTSIDE_WINDOW.value):
    message_id: int | None = None


class CallLogged(TicketEvent, tag=EventKind.CALL_LOGGED.value):
    call_id: int | None = None


class CallAttached(TicketEvent, tag=EventKind.CALL_ATTACHED.value):
    call_id: int | None = None


class CalledBack(TicketEvent, tag=EventKind.CALLED_BACK.value):
    call_id: int | None = None


def types() -> list[type[Announcement]]:
    """Every event type that can be published (the leaves under `Announcement`), in declaration order."""
    found: list[type[Announcement]] = []

    def walk(cls: type[Announcement]) -> None:
        for sub in cls.__subclasses__():
            if sub.__subclasses__():
                walk(sub)
            elif sub not in found:
                found.append(sub)

    walk(Announcement)
    return found


def tag(event_type: type[Announcement]) -> str:
    """The name browsers know an event type by."""
    return str(event_type.__struct_config__.tag)


RECORDED: dict[EventKind, type[TicketEvent]] = {
    EventKind(tag(cls)): cls for cls in types() if issubclass(cls, TicketEvent)
}


def recorded(kind: EventKind, ticket_id: int | None, assignee_id: int | None, data: dict[str, Any]) -> TicketEvent:
    """The event announcing a history event of this kind: the ids of its `data` its type carries."""
    cls = RECORDED[kind]
    return cls(ticket_id, assignee_id, **{
        name: data.get(name) for name in cls.__struct_fields__[2:] if isinstance(data.get(name), int)
    })
