"""The ticket lifecycle as pure transitions: (state, input, now) -> (state, events).

No I/O here. `hub.actions` loads a ticket row, calls `apply`, and writes back the new state and
the events in one transaction. Every transition that changes something records at least one
event; an input that is illegal in the current state raises `IllegalTransition`.

    identifying --citizen answers--> waiting --assign--> assigned <--> pending
         |  reminder due: reminder_sent (still identifying)      |          | idle close due
         |  close due: closed_unidentified                        +--resolve--> resolved
                                                  reopen: resolved --> assigned (its agent) or waiting
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    IDENTIFYING = "identifying"
    WAITING = "waiting"
    ASSIGNED = "assigned"
    PENDING = "pending"
    RESOLVED = "resolved"
    CLOSED_UNIDENTIFIED = "closed_unidentified"


OPEN_STATUSES: frozenset[Status] = frozenset(
    {Status.IDENTIFYING, Status.WAITING, Status.ASSIGNED, Status.PENDING}
)
CLOSED_STATUSES: frozenset[Status] = frozenset({Status.RESOLVED, Status.CLOSED_UNIDENTIFIED})
OWNED_STATUSES: frozenset[Status] = frozenset({Status.ASSIGNED, Status.PENDING})


class DueKind(StrEnum):
    REMINDER = "reminder"
    CLOSE = "close"
    IDLE_CLOSE = "idle_close"  # pending on the citizen after an agent's reply, for too long


class EventKind(StrEnum):
    CREATED = "created"
    MESSAGE_RECEIVED = "message_received"
    IDENTIFIED = "identified"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    TRANSFERRED = "transferred"
    UNASSIGNED = "unassigned"
    AGENT_REPLIED = "agent_replied"
    FIRST_AGENT_REPLY = "first_agent_reply"
    CITIZEN_REPLIED = "citizen_replied"
    REMINDER_SENT = "reminder_sent"
    CLOSED_UNIDENTIFIED = "closed_unidentified"
    RESOLVED = "resolved"  # data: agent_id; idle=True when the idle timer closed it
    REOPENED = "reopened"
    # Recorded by actions outside the state machine (they do not change the status):
    NOTE_ADDED = "note_added"
    NAME_CHANGED = "name_changed"
    AUTO_MESSAGE_SENT = "auto_message_sent"
    SURVEY_SENT = "survey_sent"
    SURVEY_ANSWERED = "survey_answered"
    CALL_LOGGED = "call_logged"  # one per call, when it has ended (data: see hub.actions.calls)
    CALL_ATTACHED = "call_attached"  # an already logged call filed on a ticket later
    CALLED_BACK = "called_back"  # a call-back task is done: the citizen was reached
    MESSAGE_STATUS = "message_status"
    REPLY_OUTSIDE_WINDOW = "reply_outside_window"  # sent as the template, text held (hub.actions.messages)


class IllegalTransition(Exception):
    """The input makes no sense in the ticket's current state (the API answers 409)."""

    def __init__(self, status: Status, action: str) -> None:
        super().__init__(f"cannot {action} a ticket that is {status.value}")
        self.status = status
        self.action = action


@dataclass(frozen=True)
class Event:
    kind: EventKind
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Policy:
    """The office's timing rules (configurable, seed defaults)."""

    reminder_after: timedelta = timedelta(minutes=20)
    close_after: timedelta = timedelta(minutes=20)
    idle_close_after: timedelta | None = None  # None: a consultation pending on the citizen never closes itself


@dataclass(frozen=True)
class TicketState:
    status: Status
    assignee_id: int | None = None
    due_at: datetime | None = None
    due_kind: DueKind | None = None
    queued_at: datetime | None = None
    identified_at: datetime | None = None
    first_response_at: datetime | None = None
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    reminded_at: datetime | None = None


# Inputs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Open:
    """A new consultation. `identify` asks the citizen's name first (the WhatsApp rule);
    `known` says the citizen identified recently, so the name is not asked again; `late` that
    the name came in the first message, answering the welcome of a consultation closed unanswered."""

    channel: str
    identify: bool = False
    known: bool = False
    late: bool = False


@dataclass(frozen=True)
class CitizenMessage:
    pass


@dataclass(frozen=True)
class TimerDue:
    kind: DueKind


@dataclass(frozen=True)
class Assign:
    agent_id: int


@dataclass(frozen=True)
class Unassign:
    pass


@dataclass(frozen=True)
class AgentReply:
    agent_id: int


@dataclass(frozen=True)
class Resolve:
    agent_id: int | None


@dataclass(frozen=True)
class Reopen:
    """A resolved consultation opens again: to `agent_id` (its agent, if available) or the queue."""

    agent_id: int | None


Input = Open | CitizenMessage | TimerDue | Assign | Unassign | AgentReply | Resolve | Reopen


def _without_idle_timer(state: TicketState) -> TicketState:
    if state.due_kind is DueKind.IDLE_CLOSE:
        return replace(state, due_at=None, due_kind=None)
    return state


@dataclass(frozen=True)
class Transition:
    state: TicketState
    events: tuple[Event, ...]


def open_ticket(inp: Open, now: datetime, policy: Policy) -> Transition:
    created = Event(EventKind.CREATED, now, {"channel": inp.channel})
    if inp.identify:
        state = TicketState(
            status=Status.IDENTIFYING, due_at=now + policy.reminder_after, due_kind=DueKind.REMINDER
        )
        return Transition(state, (created,))
    if inp.known:
        state = TicketState(status=Status.WAITING, queued_at=now, identified_at=now)
        identified = Event(EventKind.IDENTIFIED, now, {"late_answer": True} if inp.late else {"returning": True})
        return Transition(state, (created, identified, Event(EventKind.QUEUED, now)))
    state = TicketState(status=Status.WAITING, queued_at=now)
    return Transition(state, (created, Event(EventKind.QUEUED, now)))


def apply(state: TicketState, inp: Input, now: datetime, policy: Policy) -> Transition:
    """The one place that knows which input is legal in which state."""
    s = state.status
    match inp:
        case Open():
            raise IllegalTransition(s, "open")
        case CitizenMessage():
            if s is Status.IDENTIFYING:
                new = replace(
                    state, status=Status.WAITING, due_at=None, due_kind=None,
                    identified_at=now, queued_at=now,
                )
                return Transition(new, (Event(EventKind.IDENTIFIED, now), Event(EventKind.QUEUED, now)))
            if s is Status.PENDING:
                new = replace(_without_idle_timer(state), status=Status.ASSIGNED)
                return Transition(new, (Event(EventKind.CITIZEN_REPLIED, now),))
            if s in (Status.WAITING, Status.ASSIGNED):
                return Transition(state, (Event(EventKind.CITIZEN_REPLIED, now),))
            raise IllegalTransition(s, "add a citizen message to")
        case TimerDue(kind=DueKind.IDLE_CLOSE):
            if s is not Status.PENDING or state.due_kind is not DueKind.IDLE_CLOSE:
                raise IllegalTransition(s, "fire the idle close timer of")
            if state.due_at is None or state.due_at > now:
                raise IllegalTransition(s, "fire an idle close timer before its time on")
            new = replace(state, status=Status.RESOLVED, resolved_at=now, closed_at=now, due_at=None, due_kind=None)
            return Transition(new, (Event(EventKind.RESOLVED, now, {"agent_id": None, "idle": True}),))
        case TimerDue(kind=kind):
            if s is not Status.IDENTIFYING or state.due_kind is not kind:
                raise IllegalTransition(s, f"fire the {kind.value} timer of")
            if state.due_at is None or state.due_at > now:
                raise IllegalTransition(s, f"fire a {kind.value} timer before its time on")
            if kind is DueKind.REMINDER:
                new = replace(state, due_at=now + policy.close_after, due_kind=DueKind.CLOSE, reminded_at=now)
                return Transition(new, (Event(EventKind.REMINDER_SENT, now),))
            new = replace(state, status=Status.CLOSED_UNIDENTIFIED, due_at=None, due_kind=None, closed_at=now)
            return Transition(new, (Event(EventKind.CLOSED_UNIDENTIFIED, now),))
        case Assign(agent_id=agent_id):
            if s is Status.WAITING:
                new = replace(state, status=Status.ASSIGNED, assignee_id=agent_id)
                return Transition(new, (Event(EventKind.ASSIGNED, now, {"agent_id": agent_id}),))
            if s in OWNED_STATUSES:
                if state.assignee_id == agent_id:
                    raise IllegalTransition(s, "assign to its own agent")
                new = replace(state, assignee_id=agent_id)
                data = {"agent_id": agent_id, "from_agent_id": state.assignee_id}
                return Transition(new, (Event(EventKind.TRANSFERRED, now, data),))
            raise IllegalTransition(s, "assign")
        case Unassign():
            if s not in OWNED_STATUSES:
                raise IllegalTransition(s, "hand back")
            # The citizen keeps their place in the queue: handing back is the office's doing.
            new = replace(_without_idle_timer(state), status=Status.WAITING, assignee_id=None, queued_at=state.queued_at or now)
            data = {"from_agent_id": state.assignee_id}
            return Transition(new, (Event(EventKind.UNASSIGNED, now, data), Event(EventKind.QUEUED, now)))
        case AgentReply(agent_id=agent_id):
            if s not in OWNED_STATUSES and s is not Status.WAITING:
                raise IllegalTransition(s, "reply on")
            events = [Event(EventKind.AGENT_REPLIED, now, {"agent_id": agent_id})]
            new = state
            if s is Status.WAITING:
                # Replying to an unowned ticket takes it: the reply makes the agent its owner.
                new = replace(new, assignee_id=agent_id)
                events.insert(0, Event(EventKind.ASSIGNED, now, {"agent_id": agent_id}))
            if state.first_response_at is None:
                new = replace(new, first_response_at=now)
                events.append(Event(EventKind.FIRST_AGENT_REPLY, now, {"agent_id": agent_id}))
            new = replace(new, status=Status.PENDING)
            if policy.idle_close_after:
                new = replace(new, due_at=now + policy.idle_close_after, due_kind=DueKind.IDLE_CLOSE)
            return Transition(new, tuple(events))
        case Resolve(agent_id=agent_id):
            if s not in (Status.WAITING, Status.ASSIGNED, Status.PENDING):
                raise IllegalTransition(s, "resolve")
            new = replace(state, status=Status.RESOLVED, resolved_at=now, closed_at=now, due_at=None, due_kind=None)
            return Transition(new, (Event(EventKind.RESOLVED, now, {"agent_id": agent_id}),))
        case Reopen(agent_id=agent_id):
            if s is not Status.RESOLVED:
                raise IllegalTransition(s, "reopen")
            opened = replace(state, resolved_at=None, closed_at=None, due_at=None, due_kind=None)
            if agent_id is not None:
                new = replace(opened, status=Status.ASSIGNED, assignee_id=agent_id)
            else:
                new = replace(opened, status=Status.WAITING, assignee_id=None, queued_at=now)
            happened = [Event(EventKind.REOPENED, now, {"agent_id": agent_id})]
            happened.append(Event(EventKind.ASSIGNED, now, {"agent_id": agent_id}) if agent_id is not None
                          else Event(EventKind.QUEUED, now))
            return Transition(new, tuple(happened))
    raise TypeError(f"unknown input {inp!r}")  # pragma: no cover - exhaustiveness guard
