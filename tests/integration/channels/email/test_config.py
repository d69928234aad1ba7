"""The mail channel's settings (channels/email/config.py): the mailbox, the SMTP server and the
From address moved out of the core, read from the variables they were published with, a bad one
named at start-up and by `hub check`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from channels.email.config import MailSettings, load_mail_settings
from hub.config import ConfigError, Settings

# Every variable the channel reads (README, "Configuration"), a good value and what it becomes.
VARIABLES: list[tuple[str, str, Any]] = [
    ("HUB_IMAP_HOST", "mail.example.org", "mail.example.org"),
    ("HUB_IMAP_PORT", "1993", 1993),
    ("HUB_IMAP_USER", "oac360", "oac360"),
    ("HUB_IMAP_PASSWORD", "secret", "secret"),
    ("HUB_IMAP_SSL", "false", False),
    ("HUB_SMTP_HOST", "smtp.example.org", "smtp.example.org"),
    ("HUB_SMTP_PORT", "465", 465),
    ("HUB_SMTP_USER", "oac360", "oac360"),
    ("HUB_SMTP_PASSWORD", "secret", "secret"),
    ("HUB_SMTP_TLS", "ssl", "ssl"),
    ("HUB_MAIL_FROM", "OAC Lleida <oac360@paeria.cat>", "OAC Lleida <oac360@paeria.cat>"),
    ("HUB_IMAP_FOLDER", "Consultes", "Consultes"),
    ("HUB_IMAP_PROCESSED", "move:Fet", "move:Fet"),
    ("HUB_IMAP_BATCH", "50", 50),
    ("HUB_IMAP_WORKERS", "2", 2),
    ("HUB_IMAP_POLL_INTERVAL", "1m", timedelta(minutes=1)),
    ("HUB_IMAP_IDLE", "false", False),
    ("HUB_IMAP_IDLE_TIMEOUT", "5m", timedelta(minutes=5)),
    ("HUB_IMAP_TIMEOUT", "20s", timedelta(seconds=20)),
    ("HUB_IMAP_BACKOFF_MAX", "1m", timedelta(minutes=1)),
    ("HUB_MAIL_AUTO_ACK", "false", False),
    ("HUB_MAIL_ACK_PER_HOUR", "5", 5),
    ("HUB_MAIL_MAX_MESSAGE_BYTES", "2048", 2048),
    ("HUB_MAIL_MAX_ATTACHMENT_BYTES", "4096", 4096),
    ("HUB_SMTP_TIMEOUT", "30s", timedelta(seconds=30)),
]
BAD = [
    ("HUB_IMAP_PORT", "imap"),
    ("HUB_IMAP_SSL", "maybe"),
    ("HUB_SMTP_PORT", "70000"),
    ("HUB_SMTP_TLS", "sometimes"),
    ("HUB_IMAP_PROCESSED", "delete"),
]


def test_every_variable_of_the_channel_is_listed_here() -> None:
    assert {f"HUB_{name.upper()}" for name in MailSettings.model_fields} == {v for v, _, _ in VARIABLES}
    assert not set(MailSettings.model_fields) & set(Settings.model_fields)  # none left in the core


@pytest.mark.parametrize(("variable", "value", "parsed"), VARIABLES)
def test_each_published_variable_still_sets_its_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, parsed: Any,
) -> None:
    monkeypatch.chdir(tmp_path)
    field = variable.removeprefix("HUB_").lower()
    monkeypatch.setenv(variable, value)
    assert getattr(load_mail_settings(), field) == parsed
    monkeypatch.delenv(variable)
    (tmp_path / ".env").write_text(f"{variable}={value}\n")  # the same .env as the core's
    assert getattr(load_mail_settings(), field) == parsed


@pytest.mark.parametrize(("value", "parsed"), [("true", "starttls"), ("yes", "starttls"), ("0", "none"),
                                               ("no", "none")])
def test_smtp_tls_accepts_the_usual_boolean_spellings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                      value: str, parsed: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUB_SMTP_TLS", value)
    assert load_mail_settings().smtp_tls == parsed


@pytest.mark.parametrize(("variable", "value"), BAD)
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str,
                                        value: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"{variable}: "):
        load_mail_settings()


def test_the_mailbox_runs_with_a_host_and_a_user_and_sending_with_a_host(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    unset = load_mail_settings()
    assert not unset.imap_configured and not unset.smtp_configured
    assert not load_mail_settings(imap_host="mail.example.org").imap_configured
    assert load_mail_settings(imap_host="mail.example.org", imap_user="oac360").imap_configured
    assert load_mail_settings(smtp_host="smtp.example.org").smtp_configured
