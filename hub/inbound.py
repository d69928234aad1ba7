"""What a channel hands to the core when a citizen writes: provider details already translated.

Channels parse their provider's payload into `InboundMessage` (pure functions in
`channels/<name>/parse.py`); the core never sees a Twilio field or a MIME header.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec


class IdentityIn(msgspec.Struct, frozen=True):
    kind: str  # phone | email | whatsapp_user
    value: str


class AttachmentIn(msgspec.Struct):
    filename: str = ""
    content_type: str = "application/octet-stream"
    size: int | None = None
    source_url: str | None = None  # to be fetched by a worker (e.g. Twilio media)
    storage_key: str | None = None  # already stored (e.g. a mail part)
    sha256: str | None = None
    status: str = "stored"  # stored | pending | rejected
    reason: str | None = None
    inline: bool = False


class InboundMessage(msgspec.Struct):
    channel: str
    provider_id: str
    received_at: datetime
    identities: list[IdentityIn]
    body: str = ""
    body_html: str = ""
    kind: str = "text"  # text | media | location | button | ...
    display_hint: str = ""  # unverified name the provider offers (WhatsApp ProfileName)
    subject: str = ""
    language: str | None = None
    attachments: list[AttachmentIn] = []
    meta: dict[str, Any] = {}
    # Set by a channel that recognised a follow-up (email threading): the ticket it belongs to.
    ticket_id: int | None = None
    # Automatic mail (auto-replies, bounces, lists): stored, never answered automatically.
    automatic: bool = False
    # The text key of an acknowledgement to queue if this opens a new ticket (e.g. "email.ack");
    # the core still sends it at most once per ticket and a few times an hour per citizen.
    acknowledge: str | None = None


def encode(message: InboundMessage) -> dict[str, Any]:
    return msgspec.to_builtins(message)


def encode_json(message: InboundMessage) -> bytes:
    """`encode` as JSON text in one step (the webhook's INSERT on PostgreSQL)."""
    return msgspec.json.encode(message)


def decode(data: dict[str, Any]) -> InboundMessage:
    return msgspec.convert(data, InboundMessage)


def decode_json(text: str | bytes) -> InboundMessage:
    """`decode` of the stored payload's JSON text, without building the dicts first."""
    return msgspec.json.decode(text, type=InboundMessage)


def sender_key(message: InboundMessage) -> str:
    """Who wrote, for ordering: the channel and the sender's first identity (the address they
    wrote from, e.g. `whatsapp:phone:+34600111222`). A message without one orders with no other."""
    if not message.identities:
        return f"{message.channel}:{message.provider_id}"[:400]
    first = message.identities[0]
    return f"{message.channel}:{first.kind}:{first.value}"[:400]
