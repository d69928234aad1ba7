"""Shared fixtures: settings on a temporary folder, a migrated database, a fake clock."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from hub.clock import FakeClock
from hub.config import Settings, load_settings
from hub.context import HubContext
from tests.support import databases, services

# The office calendar (hub/calendar.py) depends on the real hour for processes that use the
# system clock (live servers, `hub run`): tests of other features run with the office always
# open, at whatever hour the suite runs. The calendar's own tests set hours explicitly.
os.environ.setdefault("HUB_OFFICE_HOURS", "always")
# The channels read their own settings from the environment at start-up (channels/*/config.py):
# a provider account (or mailbox) in this machine's environment must not turn up in the tests.
for _name in [n for n in os.environ if n.startswith(("HUB_TWILIO_", "HUB_WHATSAPP_MEDIA_", "HUB_IMAP_", "HUB_SMTP_",
                                                     "HUB_MAIL_"))]:
    del os.environ[_name]


def _db_url(kind: str, tmp_path: Path) -> str:
    if kind == "postgres":
        base = services.require_postgres()
        url = databases.postgres_database(base)
        import asyncio

        asyncio.run(databases.truncate_postgres(url))
        return url
    return databases.sqlite_url(tmp_path)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """The database of this run's backend (HUB_TEST_DATABASE=sqlite|postgres)."""
    return _db_url(databases.backend(), tmp_path)


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Both backends, whatever this run's default is."""
    return _db_url(request.param, tmp_path)


def make_settings(tmp_path: Path, db_url: str, **overrides: object) -> Settings:
    base: dict[str, object] = dict(
        database_url=db_url, data_dir=tmp_path / "var", broker_url="", redis_url="",
        public_url="https://hub.example.org", secret_key="test-secret-key-0123456789",
        reminder_after=timedelta(minutes=20), unidentified_close_after=timedelta(minutes=20),
        # The fixture logins have no second factor; tests/integration/accounts turns the requirement on.
        require_2fa="none",
        office_hours="always",
    )
    if os.environ.get("HUB_TEST_REDIS", "") not in ("", "0"):
        # The PostgreSQL CI run also puts sessions and live fan-out on the real Redis.
        base["redis_url"] = services.require_redis_db()
    base.update(overrides)
    return load_settings(_env_file=None, **base)


def _channel_env(monkeypatch: pytest.MonkeyPatch, own: type, channel: str, values: dict[str, object]) -> None:
    """Give a channel these settings where production gives them, in the environment the hub reads
    at start-up; every other variable of the channel is unset. `monkeypatch` restores it afterwards."""
    unknown = set(values) - set(own.model_fields)  # type: ignore[attr-defined]
    assert not unknown, f"not {channel} channel settings: {unknown}"
    for name in own.model_fields:  # type: ignore[attr-defined]
        if name in values:
            monkeypatch.setenv(f"HUB_{name.upper()}", str(values[name]))
        else:
            monkeypatch.delenv(f"HUB_{name.upper()}", raising=False)


def whatsapp_env(monkeypatch: pytest.MonkeyPatch, **values: object) -> None:
    """The WhatsApp channel's settings (`twilio_auth_token=...`: HUB_TWILIO_AUTH_TOKEN)."""
    from channels.whatsapp.config import WhatsAppSettings

    _channel_env(monkeypatch, WhatsAppSettings, "WhatsApp", values)


def mail_env(monkeypatch: pytest.MonkeyPatch, **values: object) -> None:
    """The mail channel's settings (`smtp_host=...`: HUB_SMTP_HOST)."""
    from channels.email.config import MailSettings

    _channel_env(monkeypatch, MailSettings, "mail", values)


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def ctx(settings: Settings, clock: FakeClock) -> AsyncIterator[HubContext]:
    context = HubContext.create(settings, clock)
    yield context
    await context.close()


@pytest.fixture(scope="session", autouse=True)
def _drop_test_databases() -> Iterator[None]:
    yield
    databases.drop_postgres_databases(services.POSTGRES_URL)


@pytest.fixture
async def runtime(settings: Settings, clock: FakeClock) -> AsyncIterator[HubContext]:
    """The background-work runtime (in-process broker) on this test's database and clock.

    Yields the runtime's own HubContext for the running loop: actions run through it publish
    after commit to the real reaction table (runtime.reactions: deliveries, live push...).
    """
    from runtime import state
    from runtime.broker import setup_broker
    from runtime.reactions import wire

    state.configure(settings, clock, wire=wire)
    broker = setup_broker(settings)
    broker.flush_all()
    context = state.context()
    yield context
    broker.flush_all()
    await context.close()
    state.configure(settings, clock)
