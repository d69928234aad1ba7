"""The mail channel's own settings (`HUB_IMAP_*`, `HUB_MAIL_*` beyond the core ones).

The core `hub.config.Settings` holds the connection settings every deployment needs (host,
port, user, password, TLS, From). What only this channel tunes is read here, from the same
environment and `.env` file, and a bad value stops start-up naming the variable.
"""

from __future__ import annotations

import re
from datetime import timedelta

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.config import Duration, Settings, settings_error

MB = 1024 * 1024


class MailSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HUB_", env_file=".env", env_file_encoding="utf-8", extra="ignore")

    imap_folder: str = "INBOX"
    imap_processed: str = "keep"  # keep | seen | move:<folder>
    imap_batch: int = Field(default=200, ge=1, le=5000)
    imap_workers: int = Field(default=0, ge=0, le=64)  # 0: 8 on PostgreSQL, 1 on SQLite
    imap_poll_interval: Duration = timedelta(seconds=30)
    imap_idle: bool = True
    imap_idle_timeout: Duration = timedelta(minutes=10)  # re-issue IDLE well before 29 minutes
    imap_timeout: Duration = timedelta(seconds=60)
    imap_backoff_max: Duration = timedelta(minutes=5)
    mail_auto_ack: bool = True
    mail_ack_per_hour: int = Field(default=3, ge=0, le=1000)
    mail_max_message_bytes: int = Field(default=30 * MB, ge=1024)
    mail_max_attachment_bytes: int = Field(default=15 * MB, ge=1024)
    smtp_timeout: Duration = timedelta(seconds=60)

    @field_validator("imap_processed")
    @classmethod
    def _processed(cls, value: str) -> str:
        value = value.strip()
        if value in ("keep", "seen") or re.fullmatch(r"move:[^\s\"*%]{1,200}", value):
            return value
        raise ValueError("expected keep, seen or move:<folder>")


def load_mail_settings(**overrides: object) -> MailSettings:
    try:
        return MailSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise settings_error(MailSettings, exc) from None


def mailbox_name(settings: Settings, folder: str) -> str:
    return f"{settings.imap_user}@{settings.imap_host}:{settings.imap_port}/{folder}"


def our_addresses(settings: Settings) -> frozenset[str]:
    from email.utils import parseaddr

    found = {parseaddr(settings.mail_from)[1].lower(), settings.imap_user.lower()}
    return frozenset(a for a in found if "@" in a)
