"""The WhatsApp channel's own settings: the Twilio account, the WhatsApp sender, templates, media.

Read from the same environment and `.env` file as the core's (`HUB_TWILIO_*`, `HUB_WHATSAPP_MEDIA_*`;
the names are the published ones, README.md), once per process by the composition root, and a
bad value stops start-up naming the variable. The phone channel's webhooks are signed with the
same Twilio account, so it reads this class too. The office's rules for WhatsApp conversations
(welcome, reminder, closing) are the core's (`hub.config.Settings`); the core never reads these:
it learns what it needs from the sender's `ChannelFacts`.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.config import Duration, settings_error


class WhatsAppSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True,
    )

    # The Twilio account (WhatsApp and voice); neither set: sandbox mode (nothing leaves).
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_whatsapp_from: str = ""
    twilio_messaging_service_sid: str = ""
    twilio_api_url: str = "https://api.twilio.com"
    # Approved WhatsApp templates (Content SIDs "HX...") for messages outside the 24-hour window.
    twilio_template_survey: str = Field(default="", pattern=r"^(HX[0-9a-fA-F]{32})?$")
    twilio_template_agent_reply: str = Field(default="", pattern=r"^(HX[0-9a-fA-F]{32})?$")
    twilio_rate_per_second: float = Field(default=80, gt=0, le=2000)  # per WhatsApp sender
    whatsapp_media_max_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    # How long the signed URL Twilio fetches an agent's file from stays valid (from the send
    # attempt; Twilio may hold a message in its queue for up to 4 hours under rate limits).
    whatsapp_media_url_ttl: Duration = timedelta(hours=6)
    whatsapp_media_types: str = (
        "image/jpeg,image/png,image/webp,image/gif,audio/ogg,audio/mpeg,audio/amr,audio/aac,audio/mp4,"
        "video/mp4,video/3gpp,application/pdf,text/vcard,text/x-vcard"  # text/plain only if added
    )

    @property
    def twilio_configured(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)


def load_whatsapp_settings(**overrides: object) -> WhatsAppSettings:
    """Read the channel's settings; raise `ConfigError` naming every bad variable."""
    try:
        return WhatsAppSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise settings_error(WhatsAppSettings, exc) from None
