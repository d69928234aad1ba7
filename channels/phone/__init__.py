"""The phone channel: calls logged by agents (in the core and the web UI) and calls logged
automatically from Twilio Voice status callbacks.

- `parse.py`    a Twilio call status callback -> `hub.calls.CallSignal` (pure)
- `webhook.py`  POST /webhooks/twilio/voice (signed like every Twilio webhook)

Setting it up at Twilio: the office's Twilio number forwards calls to the office line with
`<Dial><Number statusCallback="{HUB_PUBLIC_URL}/webhooks/twilio/voice"
statusCallbackEvent="initiated ringing answered completed">...</Number></Dial>`, so the hub hears
the leg that rings the office (answered or not). Calls placed through the REST API log
themselves with `StatusCallback` set to the same URL and the same events. This URL is a status
callback, not a Voice URL: it answers an empty `<Response/>`, which would hang a call up.

Phone tickets are answered by calling, so the channel has no sender (`hub.channel_rules.PHONE`).
"""

from __future__ import annotations

from typing import Any

from channels.base import Channel
from channels.whatsapp.config import WhatsAppSettings, load_whatsapp_settings
from hub.config import Settings


def _routes(settings: Settings, twilio: WhatsAppSettings) -> list[Any]:
    from channels.phone import webhook

    return webhook.make_handlers(settings, twilio.twilio_auth_token)


# Calls come through the Twilio account configured with the WhatsApp channel (HUB_TWILIO_*).
CHANNEL = Channel(name="phone", settings=load_whatsapp_settings, routes=_routes)
