"""Sandbox mode: no Twilio credentials, messages recorded as sent, and the citizen simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import select

from hub.actions.agents import do_create_agent
from hub.clock import FakeClock
from hub.db.tables import Inbox, Message, Ticket
from tests.support.whatsapp_channel import Hub, channel_settings, open_hub, whatsapp_settings
from tests.support.cookies import csrf_token

PASSWORD = "simulator-password-1"


@pytest.fixture
async def sandbox(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, clock: FakeClock) -> Any:
    settings = whatsapp_settings(monkeypatch, tmp_path, db_url, None)
    gen = open_hub(settings, clock)
    hub = next(gen)
    assert not channel_settings().twilio_configured
    try:
        yield hub
    finally:
        await hub.ctx.close()
        next(gen, None)


def login(client: TestClient[Any], email: str) -> dict[str, str]:
    client.get("/login")
    token = csrf_token(client)
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "next": "/", "_csrf_token": token},
                         follow_redirects=False)
    assert answer.status_code in (302, 303), answer.text
    return {"x-csrftoken": csrf_token(client)}


async def test_the_simulator_needs_a_login(sandbox: Hub) -> None:
    answer = sandbox.client.get("/simulator", follow_redirects=False)
    assert answer.status_code in (302, 303, 401)
    assert sandbox.client.get("/simulator/conversation?number=%2B34600111222").status_code == 401


async def test_a_citizen_played_in_the_simulator_goes_the_real_way_and_sees_the_answers(sandbox: Hub) -> None:
    await do_create_agent(sandbox.ctx, "agent@oac.example", "Jordi Vidal", "agent", PASSWORD)
    headers = login(sandbox.client, "agent@oac.example")
    page = sandbox.client.get("/simulator")
    assert page.status_code == 200 and "Simulador de ciutadà" in page.text  # Catalan by default
    assert "<script>" not in page.text  # CSP: scripts only from files
    assert sandbox.client.get("/simulator/simulator.js").status_code == 200

    sent = sandbox.client.post("/simulator/send", json={"number": "+34600999888", "name": "Anna", "body": "Hola"},
                               headers=headers)
    assert sent.status_code == 200 and sent.json()["webhook_status"] == 200
    async with sandbox.ctx.sessionmaker() as s:
        [inbox] = (await s.exec(select(Inbox))).all()
    assert inbox.payload["display_hint"] == "Anna"  # accepted through the signed webhook
    await sandbox.work()
    lines = sandbox.client.get("/simulator/conversation?number=%2B34600999888").json()
    assert [line["direction"] for line in lines] == ["in", "out"]
    assert lines[1]["body"].startswith("Hola! Aquesta és l'Oficina") and lines[1]["status"] == "sent"
    # The sandbox played Twilio's callbacks: the welcome now shows as read.
    async with sandbox.ctx.sessionmaker() as s:
        [welcome] = (await s.exec(select(Message).where(Message.direction == "out"))).all()
        [ticket] = (await s.exec(select(Ticket))).all()
    assert welcome.provider_id and welcome.provider_id.startswith("SANDBOX-") and welcome.status == "read"
    assert ticket.status == "identifying"

    bad = sandbox.client.post("/simulator/send", json={"number": "hello", "body": "x"}, headers=headers)
    assert bad.status_code == 400


async def test_the_simulator_is_absent_when_twilio_is_configured(hub: Hub) -> None:
    await do_create_agent(hub.ctx, "agent@oac.example", "Jordi Vidal", "agent", PASSWORD)
    login(hub.client, "agent@oac.example")
    assert hub.client.get("/simulator").status_code == 404
