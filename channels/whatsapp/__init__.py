"""The WhatsApp channel, through Twilio: webhooks in, REST API out, media fetched by a worker.

- `parse.py`    Twilio's form -> InboundMessage (pure)
- `webhook.py`  POST /webhooks/twilio/whatsapp and /webhooks/twilio/status (signed)
- `sender.py`   the outbound Sender (Twilio SDK, async) and the sandbox sender
- `window.py`   the 24-hour window: free-form, template, or refuse
- `errors.py`   Twilio error codes and what they mean for agents
- `tasks.py`    dramatiq actor fetching media
- `outbound_media.py`  the signed, expiring URLs Twilio fetches agents' files from

The office's rules themselves (welcome, reminder, close, agent introduction, survey) live in
the core (`hub/`); this folder only speaks Twilio.
"""

from __future__ import annotations

from typing import Any

from channels.base import Channel
from hub.bus import Reactions
from hub.config import Settings
from hub.delivery import Sender
from hub.events import AttachmentPending


def _routes(settings: Settings, own: None) -> list[Any]:
    from channels.whatsapp import outbound_media, webhook

    return [*webhook.make_handlers(settings), outbound_media.outbound_media]


def _sender(settings: Settings, own: None) -> Sender:
    from channels.whatsapp.sender import SandboxSender, TwilioSender

    return TwilioSender(settings) if settings.twilio_configured else SandboxSender(settings)  # type: ignore[return-value]


def _tasks() -> list[Any]:
    from channels.whatsapp import tasks  # declares its actors on the broker set up before

    return [tasks.fetch_media, tasks.fetch_media_attachment]


def _reactions() -> Reactions:
    from channels.whatsapp import tasks

    return {AttachmentPending: [tasks.enqueue_media]}


CHANNEL = Channel(name="whatsapp", routes=_routes, sender=_sender, tasks=_tasks, reactions=_reactions)
