"""Configuration: durations, defaults, and errors that name the variable."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.config import ConfigError, Settings, load_settings, parse_duration


@pytest.mark.parametrize(
    "text, expected",
    [("20m", timedelta(minutes=20)), ("90s", timedelta(seconds=90)), ("1h", timedelta(hours=1)),
     ("1h30m", timedelta(minutes=90)), ("45", timedelta(seconds=45)), ("14d", timedelta(days=14)), (" 2m 5s ", timedelta(seconds=125))],
)
def test_durations_accept_the_documented_forms(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "m", "20 minutes", "-5m", "1w", "abc", "5m20"])
def test_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(0, 99), st.integers(0, 59), st.integers(0, 59))
def test_duration_round_trip(h: int, m: int, s: int) -> None:
    assert parse_duration(f"{h}h{m}m{s}s") == timedelta(hours=h, minutes=m, seconds=s)


def test_seed_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings()
    assert s.reminder_after == timedelta(minutes=20)
    assert s.language == "ca"
    assert s.is_sqlite and s.effective_database_url.endswith("var/hub.sqlite3")
    assert not hasattr(s, "twilio_auth_token")  # the WhatsApp channel's (channels/whatsapp/config.py)


def test_the_core_settings_hold_no_provider_setting() -> None:
    # The Twilio account, the mailbox, the SMTP server and the From address are the channels'
    # (channels/whatsapp/config.py, channels/email/config.py): the core reads none of them.
    provider = ("twilio_", "whatsapp_", "imap_", "smtp_", "mail_")
    assert [name for name in Settings.model_fields if name.startswith(provider)] == []
    assert [name for name in vars(Settings) if name.startswith(provider) or name.endswith("_configured")] == []


def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HUB_WHATSAPP_REMINDER_AFTER", "twenty minutes")
    monkeypatch.setenv("HUB_LANGUAGE", "fr")
    with pytest.raises(ConfigError) as err:
        load_settings()
    message = str(err.value)
    assert "HUB_WHATSAPP_REMINDER_AFTER" in message and "20m" in message
    assert "HUB_LANGUAGE" in message


def test_dot_env_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("HUB_LANGUAGE=es\nHUB_WHATSAPP_CLOSE_AFTER=5m\n")
    monkeypatch.setenv("HUB_LANGUAGE", "en")
    s = load_settings()
    assert s.language == "en" and s.unidentified_close_after == timedelta(minutes=5)


# The office's rules are named after the rule in code; their variables keep the published names.
RENAMED = [
    ("HUB_WHATSAPP_REMINDER_AFTER", "reminder_after", "5m", timedelta(minutes=5), "soon"),
    ("HUB_WHATSAPP_CLOSE_AFTER", "unidentified_close_after", "1h", timedelta(hours=1), "0"),
    ("HUB_WHATSAPP_AGENT_NAME", "agent_intro_name", "full", "full", "nickname"),
    ("HUB_WHATSAPP_REMEMBER_NAME", "remember_name_for", "7d", timedelta(days=7), "a week"),
]


@pytest.mark.parametrize(("variable", "field", "good", "parsed", "bad"), RENAMED)
def test_a_rule_setting_still_reads_its_published_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, field: str, good: str, parsed: object, bad: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, good)
    assert getattr(load_settings(), field) == parsed
    monkeypatch.delenv(variable)
    (tmp_path / ".env").write_text(f"{variable}={good}\n")
    assert getattr(load_settings(), field) == parsed
    monkeypatch.setenv("HUB_" + field.upper(), bad)  # the code's name is no variable
    assert getattr(load_settings(), field) == parsed
    monkeypatch.setenv(variable, bad)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert f"{variable}: " in str(err.value) and "HUB_" + field.upper() not in str(err.value)
    assert getattr(load_settings(**{field: parsed}), field) == parsed  # the code passes it by its name


def test_a_bad_override_by_the_code_name_still_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match="HUB_WHATSAPP_REMINDER_AFTER: "):
        load_settings(reminder_after="twenty minutes")
