"""The real web app with the voice webhook, and Twilio-signed call status callbacks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.testing import AsyncTestClient
from sqlmodel import select
from twilio.request_validator import RequestValidator

from channels import phone
from hub.config import Settings
from hub.clock import FakeClock
from hub.context import HubContext
from hub.events import Announcement
from tests.conftest import make_settings, whatsapp_env

PUBLIC_URL = "https://hub.example.org"
TOKEN = "voice-test-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0123456789abcdef" * 2
OFFICE = "+34973930247"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def callback(sid: str, status: str, seq: int, seconds: int, *, number: str = "+34600111222",
             direction: str = "inbound", duration: int | None = None, **extra: str) -> dict[str, str]:
    """A call status callback as Twilio posts it (a realistic subset of its fields)."""
    citizen, office = (number, OFFICE) if direction != "outbound-api" else (number, OFFICE)
    form = {
        "AccountSid": ACCOUNT, "ApiVersion": "2010-04-01", "CallSid": sid, "CallStatus": status,
        "Direction": direction, "From": citizen if direction != "outbound-api" else office,
        "To": office if direction != "outbound-api" else citizen, "SequenceNumber": str(seq),
        "Timestamp": format_datetime(T0 + timedelta(seconds=seconds), usegmt=True),
        "CallbackSource": "call-progress-events", "Caller": citizen, "Called": office,
    }
    if duration is not None:
        form["CallDuration"] = str(duration)
    form.update(extra)
    return form


@dataclass
class VoiceHub:
    client: AsyncTestClient[Any]
    clock: FakeClock
    # The test's own context on the same database: the app serves from its own event loop, and
    # asyncpg connections belong to the loop that opened them.
    ctx: HubContext
    events: list[Announcement] = field(default_factory=list)

    async def post(self, form: dict[str, str], *, signature: str | None = None, url: str | None = None,
                   path: str = "/webhooks/twilio/voice") -> Any:
        signed_url = url or PUBLIC_URL + path
        sig = RequestValidator(TOKEN).compute_signature(signed_url, form) if signature is None else signature
        headers = {"X-Twilio-Signature": sig} if sig else {}
        return await self.client.post(path, data=form, headers=headers)

    async def rows(self, table: Any, *where: Any) -> list[Any]:
        async with self.ctx.sessionmaker() as s:
            return list((await s.exec(select(table).where(*where).order_by(table.id))).all())


def webhook_app(settings: Settings, clock: FakeClock) -> Litestar:
    """The phone adapter's routes served like `entrypoints.web.create_app` serves them (a context per
    app, created on the app's loop), without the rest of the UI: these tests are about Twilio's side."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.ctx = HubContext.create(settings, clock)
        try:
            yield
        finally:
            await app.state.ctx.close()

    async def provide_ctx(state: State) -> HubContext:
        return state.ctx  # type: ignore[no-any-return]

    return Litestar(
        route_handlers=phone.CHANNEL.routes(settings, phone.CHANNEL.settings()), lifespan=[lifespan],
        dependencies={"ctx": Provide(provide_ctx)},
    )


@pytest.fixture
async def voice(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> AsyncIterator[VoiceHub]:
    whatsapp_env(monkeypatch, twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN)  # the Twilio account
    settings = make_settings(tmp_path, db_url, public_url=PUBLIC_URL)
    clock = FakeClock(T0 + timedelta(minutes=5))
    app = webhook_app(settings, clock)
    ctx = HubContext.create(settings, clock)
    async with AsyncTestClient(app) as client:
        hub = VoiceHub(client, clock, ctx)
        app.state.ctx.bus.listen(hub.events.extend)  # what the webhook's actions announce
        yield hub
    await ctx.close()
