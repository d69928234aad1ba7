"""The port through which the core's outbound messages leave: one sender per channel.

A channel adapter implements `Sender.deliver` and raises `TransientError` (try again later)
or `PermanentError` (tell the agent why); anything else unexpected counts as transient. The
delivery hands each call the `HubContext` it runs under (database, files, clock): a sender
reads no process-wide state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from hub.context import HubContext


@dataclass(frozen=True)
class OutboundMessage:
    outbox_id: int
    message_id: int
    ticket_id: int
    ticket_reference: str
    channel: str
    kind: str  # text | auto | ...
    body: str
    meta: dict[str, Any]
    contact_id: int
    contact_name: str
    language: str
    identities: dict[str, list[str]]  # kind -> values, e.g. {"phone": ["+34..."]}
    subject: str
    last_inbound_at: datetime | None
    attempt: int
    attachments: list[dict[str, Any]] = field(default_factory=list)
    claimed_at: datetime | None = None  # the hub clock's "now" when the attempt began (window checks)
    created_at: datetime | None = None  # when the message was written (no attempt can be older)
    # An earlier attempt may have reached the provider unbeknown to us: its worker died mid-send,
    # or it ended in an error that does not say (a timeout, a lost answer).
    interrupted: bool = False


@dataclass(frozen=True)
class Delivered:
    provider_id: str | None
    status: str = "sent"  # the provider's first status (e.g. Twilio "queued" or "accepted")
    meta: dict[str, Any] = field(default_factory=dict)


class TransientError(Exception):
    def __init__(self, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class PermanentError(Exception):
    def __init__(self, detail: str, code: str | None = None) -> None:
        super().__init__(detail)
        self.code = code


@dataclass(frozen=True)
class ChannelFacts:
    """What a channel's sender tells the core and the web about how it reaches citizens: the
    provider's settings stay with the channel (`channels/*/config.py`), the core reads these."""

    # Where citizens write to (WhatsApp: the sender's number), for click-to-chat links; "": unknown.
    address: str = ""
    # Outside the channel's reply window a notice the provider accepts (WhatsApp: an approved
    # template) tells the citizen an answer waits; the reply is held until they write again.
    held_reply_notice: bool = False
    # Nothing leaves: messages are recorded as sent (no provider account; the simulator plays the citizen).
    sandbox: bool = False


class Sender(Protocol):
    """A channel's way out. A sender may also carry `facts: ChannelFacts`, which the composition
    root hands each `HubContext` (`HubContext.facts`)."""

    async def deliver(self, message: OutboundMessage, ctx: "HubContext") -> Delivered: ...


@runtime_checkable
class Lookup(Protocol):
    """A sender that can ask its provider what it holds (Twilio can; SMTP cannot).

    Before an `interrupted` message is sent again, the outbox asks for the provider's messages
    that may be its earlier attempt (same recipient and content, sent since the message was
    written), oldest first; one the hub does not know yet is that attempt, and is not repeated.
    Raise `TransientError` when the provider cannot answer: the send waits rather than repeat.
    """

    async def already_sent(self, message: OutboundMessage, ctx: "HubContext") -> list[Delivered]: ...

    # Optional: `finds(message) -> bool`, whether `already_sent` could recognise this message's
    # attempt at all (Twilio cannot match a template, whose text it renders). Without it: always.
    # A send it could not find afterwards goes one at a time per job (hub.actions.deliver).


_SENDERS: dict[str, Sender] = {}


def register_sender(channel: str, sender: Sender) -> None:
    _SENDERS[channel] = sender


def sender_for(channel: str) -> Sender | None:
    return _SENDERS.get(channel)


# Delivery statuses, ranked: a late callback never moves a message backwards.
STATUS_RANK: dict[str, int] = {
    "queued": 0, "sending": 1, "accepted": 2, "scheduled": 2, "sent": 3,
    "delivered": 5, "read": 6, "undelivered": 4, "failed": 4, "canceled": 4,
}


def status_moves_forward(current: str, new: str) -> bool:
    return STATUS_RANK.get(new, -1) > STATUS_RANK.get(current, -1)
