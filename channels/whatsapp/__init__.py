"""The WhatsApp channel, through Twilio: webhooks in, REST API out, media fetched by a worker.

- `parse.py`    Twilio's form -> InboundMessage (pure)
- `webhook.py`  POST /webhooks/twilio/whatsapp and /webhooks/twilio/status (signed)
- `sender.py`   the outbound Sender (Twilio SDK, async) and the sandbox sender
- `window.py`   the 24-hour window: free-form, template, or refuse
- `errors.py`   Twilio error codes and what they mean for agents
- `tasks.py`    dramatiq actor fetching media
- `pages.py`    the citizen simulator page (sandbox mode; registered in agent_ui ROUTE_MODULES)

The office's rules themselves (welcome, reminder, close, agent introduction, survey) live in
the core (`hub/`); this folder only speaks Twilio.
"""

from __future__ import annotations

from channels.base import Adapter
from hub.config import Settings


def adapter(settings: Settings) -> Adapter:
    from channels.whatsapp import webhook
    from channels.whatsapp.sender import SandboxSender, TwilioSender

    handlers = webhook.make_handlers(settings)
    sender: object = TwilioSender(settings) if settings.twilio_configured else SandboxSender(settings)
    return Adapter(
        name="whatsapp", route_handlers=handlers, sender=sender,  # type: ignore[arg-type]
        tasks_module="channels.whatsapp.tasks",
    )
