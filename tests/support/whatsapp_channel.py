"""Fixtures for the WhatsApp channel: a fake Twilio, the real web app, and the worker's path."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import col, select

from channels.whatsapp.config import WhatsAppSettings
from hub.clock import FakeClock
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Outbox
from tests.conftest import make_settings, whatsapp_env
from tests.support import fake_twilio
from tests.support.fake_twilio import FakeTwilio

PUBLIC_URL = "https://hub.example.org"


@pytest.fixture
def twilio() -> Iterator[FakeTwilio]:
    fake = FakeTwilio().start()
    yield fake
    fake.stop()


def whatsapp_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, twilio: FakeTwilio | None,
                      **overrides: Any) -> Settings:
    """The core's settings; the channel's own (`channels/whatsapp/config.py`: the fake Twilio's
    account, and any override of a channel setting) go where production puts them, in the
    environment the hub reads at start-up (restored after the test)."""
    creds: dict[str, Any] = {}
    if twilio is not None:
        creds = dict(
            twilio_account_sid=twilio.account_sid, twilio_auth_token=twilio.auth_token,
            twilio_whatsapp_from=fake_twilio.WHATSAPP_FROM, twilio_api_url=twilio.url,
        )
    own = {**creds, **{k: v for k, v in overrides.items() if k in WhatsAppSettings.model_fields}}
    whatsapp_env(monkeypatch, **own)
    core = {k: v for k, v in overrides.items() if k not in WhatsAppSettings.model_fields}
    return make_settings(tmp_path, db_url, public_url=PUBLIC_URL, **core)


def channel_settings() -> WhatsAppSettings:
    """The WhatsApp settings the running hub uses (its sender's: change them to change the hub)."""
    from hub.delivery import sender_for

    return sender_for("whatsapp").twilio  # type: ignore[union-attr,no-any-return]


@dataclass
class Hub:
    """The web app under test plus the worker's and the scheduler's work, run on demand."""

    client: TestClient[Any]
    settings: Settings
    clock: FakeClock
    token: str

    def inbound(self, sid: str, body: str, number: str = "+34600111222", *, signature: str | None = None,
                headers: dict[str, str] | None = None, **extra: str) -> Any:
        form = fake_twilio.inbound_form(sid, body, number=number, **extra)
        return self.post("/webhooks/twilio/whatsapp", form, signature=signature, headers=headers)

    def status(self, sid: str, status: str, error_code: str | None = None) -> Any:
        return self.post("/webhooks/twilio/status", fake_twilio.status_form(sid, status, error_code))

    def post(self, path: str, form: dict[str, str], *, signature: str | None = None,
             headers: dict[str, str] | None = None) -> Any:
        sig = signature if signature is not None else fake_twilio.sign(self.token, PUBLIC_URL + path, form)
        return self.client.post(path, data=form, headers={"X-Twilio-Signature": sig, **(headers or {})})

    @property
    def ctx(self) -> HubContext:
        from runtime import state

        return state.context()  # the worker's context on the test's event loop

    async def work(self) -> dict[str, int]:
        """Run what the worker would: process the inbox, deliver what is due (until quiet)."""
        from hub.actions.messages import do_process_inbox, pending_inbox_ids
        from runtime.tasks import deliver_one

        done = {"inbox": 0, "sent": 0, "failed": 0, "retrying": 0}
        while True:
            progressed = False
            for inbox_id in await pending_inbox_ids(self.ctx):
                await do_process_inbox(self.ctx, inbox_id)
                done["inbox"] += 1
                progressed = True
            for outbox_id in await due_outbox_ids(self.ctx):
                outcome = await deliver_one(outbox_id)
                done[outcome] = done.get(outcome, 0) + 1
                progressed = progressed or outcome != "skipped"
            if not progressed:
                return done

    async def tick(self) -> dict[str, int]:
        """One scheduler pass (timers), then the worker's share."""
        from runtime.scheduler import tick

        fired = await tick(self.ctx, sweep=False)
        await self.work()
        return fired


async def due_outbox_ids(ctx: HubContext) -> list[int]:
    async with ctx.sessionmaker() as session:
        stmt = select(Outbox.id).where(
            col(Outbox.status) == "pending", col(Outbox.next_attempt_at) <= ctx.clock.now()
        ).order_by(col(Outbox.id))
        return [i for i in (await session.exec(stmt)).all() if i is not None]


def open_hub(settings: Settings, clock: FakeClock) -> Iterator[Hub]:
    from entrypoints.web import create_app
    from channels.twilio_webhooks import signing_token

    app = create_app(settings, clock=clock)
    with TestClient(app, base_url="https://testserver.local") as client:
        yield Hub(client, settings, clock, signing_token(settings, channel_settings().twilio_auth_token))


async def running_hub(settings: Settings, clock: FakeClock) -> AsyncIterator[Hub]:
    """`open_hub` for async tests: the WhatsApp sender and the context closed afterwards."""
    gen = open_hub(settings, clock)
    h = next(gen)
    try:
        yield h
    finally:
        from hub.delivery import sender_for

        sender = sender_for("whatsapp")
        if hasattr(sender, "close"):
            await sender.close()  # type: ignore[union-attr]
        await h.ctx.close()
        next(gen, None)


@pytest.fixture
async def hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, twilio: FakeTwilio,
              clock: FakeClock) -> AsyncIterator[Hub]:
    async for h in running_hub(whatsapp_settings(monkeypatch, tmp_path, db_url, twilio), clock):
        yield h
