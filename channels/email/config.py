"""The mail channel's own settings: the mailbox (`HUB_IMAP_*`), the SMTP server (`HUB_SMTP_*`),
the From address (`HUB_MAIL_FROM`) and how the channel reads and answers (`HUB_MAIL_*`).

Read from the same environment and `.env` file as the core's (the names are the published ones,
README.md), once per process by the composition root, and a bad value stops start-up naming the
variable. The core never reads these (`hub.config.Settings` has no mail setting).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hub.config import Duration, settings_error

MB = 1024 * 1024


class MailSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="HUB_", env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True,
    )

    # The mailbox: the poller runs when host and user are set.
    imap_host: str = ""
    imap_port: int = Field(default=993, ge=1, le=65535)
    imap_user: str = ""
    imap_password: str = ""
    imap_ssl: bool = True
    # The SMTP server: replies and the managers' weekly summaries are sent when the host is set.
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    mail_from: str = ""  # From: of every mail, e.g. "OAC Lleida <oac360@paeria.cat>"

    # Reading and answering
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

    @field_validator("smtp_tls", mode="before")
    @classmethod
    def _smtp_tls_words(cls, value: object) -> object:
        # Accept the usual boolean spellings: true means STARTTLS, false means plaintext.
        words = {"true": "starttls", "1": "starttls", "yes": "starttls", "false": "none", "0": "none", "no": "none"}
        return words.get(str(value).strip().lower(), value)

    @field_validator("imap_processed")
    @classmethod
    def _processed(cls, value: str) -> str:
        value = value.strip()
        if value in ("keep", "seen") or re.fullmatch(r"move:[^\s\"*%]{1,200}", value):
            return value
        raise ValueError("expected keep, seen or move:<folder>")

    @property
    def imap_configured(self) -> bool:
        return bool(self.imap_host and self.imap_user)

    @property
    def smtp_configured(self) -> bool:
        return bool(self.smtp_host)


def load_mail_settings(**overrides: object) -> MailSettings:
    """Read the channel's settings; raise `ConfigError` naming every bad variable."""
    try:
        return MailSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise settings_error(MailSettings, exc) from None


def mailbox_name(settings: MailSettings, folder: str) -> str:
    return f"{settings.imap_user}@{settings.imap_host}:{settings.imap_port}/{folder}"


def our_addresses(settings: MailSettings) -> frozenset[str]:
    from email.utils import parseaddr

    found = {parseaddr(settings.mail_from)[1].lower(), settings.imap_user.lower()}
    return frozenset(a for a in found if "@" in a)
