"""WhatsApp fixtures (tests/support/whatsapp_channel.py): the local Twilio stand-in and a hub wired to it."""

from tests.support.whatsapp_channel import hub, twilio  # noqa: F401
