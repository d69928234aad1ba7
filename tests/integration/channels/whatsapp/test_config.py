"""The WhatsApp channel's settings (channels/whatsapp/config.py): moved out of the core, read
from the variables they were published with, a bad one named at start-up and by `hub check`."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from channels.whatsapp.config import WhatsAppSettings, load_whatsapp_settings
from hub.config import ConfigError, Settings

HX = "HX" + "0123456789abcdef" * 2
# Every variable the channel reads (README, "Configuration"), a good value and what it becomes.
VARIABLES: list[tuple[str, str, Any]] = [
    ("HUB_TWILIO_ACCOUNT_SID", "AC" + "1" * 32, "AC" + "1" * 32),
    ("HUB_TWILIO_AUTH_TOKEN", "secret-token", "secret-token"),
    ("HUB_TWILIO_WHATSAPP_FROM", "whatsapp:+34973000000", "whatsapp:+34973000000"),
    ("HUB_TWILIO_MESSAGING_SERVICE_SID", "MG" + "2" * 32, "MG" + "2" * 32),
    ("HUB_TWILIO_API_URL", "https://twilio.internal", "https://twilio.internal"),
    ("HUB_TWILIO_TEMPLATE_SURVEY", HX, HX),
    ("HUB_TWILIO_TEMPLATE_AGENT_REPLY", HX, HX),
    ("HUB_TWILIO_RATE_PER_SECOND", "10", 10.0),
    ("HUB_WHATSAPP_MEDIA_MAX_BYTES", "4096", 4096),
    ("HUB_WHATSAPP_MEDIA_URL_TTL", "2h", timedelta(hours=2)),
    ("HUB_WHATSAPP_MEDIA_TYPES", "image/png", "image/png"),
]
BAD = [
    ("HUB_TWILIO_TEMPLATE_SURVEY", "survey-template"),
    ("HUB_TWILIO_TEMPLATE_AGENT_REPLY", "HX123"),
    ("HUB_TWILIO_RATE_PER_SECOND", "0"),
    ("HUB_WHATSAPP_MEDIA_MAX_BYTES", "a lot"),
    ("HUB_WHATSAPP_MEDIA_URL_TTL", "soon"),
]


def test_every_variable_of_the_channel_is_listed_here() -> None:
    assert {f"HUB_{name.upper()}" for name in WhatsAppSettings.model_fields} == {v for v, _, _ in VARIABLES}
    assert not set(WhatsAppSettings.model_fields) & set(Settings.model_fields)  # none left in the core


@pytest.mark.parametrize(("variable", "value", "parsed"), VARIABLES)
def test_each_published_variable_still_sets_its_setting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, parsed: Any,
) -> None:
    monkeypatch.chdir(tmp_path)
    field = variable.removeprefix("HUB_").lower()
    monkeypatch.setenv(variable, value)
    assert getattr(load_whatsapp_settings(), field) == parsed
    monkeypatch.delenv(variable)
    (tmp_path / ".env").write_text(f"{variable}={value}\n")  # the same .env as the core's
    assert getattr(load_whatsapp_settings(), field) == parsed


@pytest.mark.parametrize(("variable", "value"), BAD)
def test_a_bad_value_names_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str,
                                        value: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"{variable}: "):
        load_whatsapp_settings()


def test_a_bad_channel_value_stops_hub_run_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    from entrypoints.cli import main

    monkeypatch.chdir(tmp_path)
    for name, value in {"HUB_DATA_DIR": str(tmp_path / "var"), "HUB_DATABASE_URL": "",
                        "HUB_TWILIO_RATE_PER_SECOND": "-1"}.items():
        monkeypatch.setenv(name, value)
    handlers, level = logging.root.handlers[:], logging.root.level
    try:
        assert main(["run", "--port", "0"]) == 2
    finally:  # main() configures logging on pytest's captured stream: put it back
        logging.root.handlers[:], logging.root.level = handlers, level
    assert "HUB_TWILIO_RATE_PER_SECOND: Input should be greater than 0" in capsys.readouterr().err
