"""Quick replies through the API: the seeded shared set, who keeps which, placeholders checked
when saved and filled for one consultation, and a filled reply sent on WhatsApp and by email."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.calendar import parse_office_hours
from hub.config import Settings
from hub.texts import describe_hours
from hub.context import HubContext
from tests.support.agent_ui import citizen_writes, csrf, login
from tests.support.agent_ui import token_for





API = "/api/v1/canned-responses"


def _messages(settings: Settings, ticket_id: int) -> list[Any]:
    from sqlmodel import select

    from hub.db.tables import Message

    async def read() -> list[Any]:
        ctx = HubContext.create(settings)
        try:
            async with ctx.sessionmaker() as session:
                return list((await session.exec(
                    select(Message).where(Message.ticket_id == ticket_id, Message.direction == "out",
                                          Message.kind == "text"))).all())
        finally:
            await ctx.close()

    return asyncio.run(read())


def test_the_office_starts_with_shared_replies_for_its_procedures_in_three_languages(
    client: TestClient[Litestar], agent: dict[str, str],
) -> None:
    replies = client.get(API, headers=agent).json()
    assert all(r["shared"] for r in replies)
    by_language = {lang: {r["shortcut"] for r in replies if r["language"] == lang} for lang in ("ca", "es", "en")}
    assert by_language["ca"] == by_language["es"] == by_language["en"] >= {"padro", "rebut", "instancia", "expedient"}
    padro = next(r for r in replies if r["language"] == "ca" and r["shortcut"] == "padro")
    assert "{citizen_name}" in padro["body"] and "[ENLLAÇ AL TRÀMIT DEL PADRÓ]" in padro["body"]
    assert [r["language"] for r in client.get(f"{API}?language=es", headers=agent).json()] == ["es"] * 6
    assert {r["shortcut"] for r in client.get(f"{API}?q=padr%C3%B3", headers=agent).json()} == {"padro"}


def test_managers_keep_shared_replies_and_agents_their_own(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], agent2: dict[str, str],
    manager: dict[str, str],
) -> None:
    mine = {"title": "Cita prèvia", "body": "Hola {citizen_name}, li dono cita.", "language": "ca", "shortcut": "cita"}
    assert client.post(API, json={**mine, "shared": True}, headers=agent).status_code == 403
    created = client.post(API, json=mine, headers=agent)
    assert created.status_code == 201, created.text
    reply = created.json()
    assert reply["shared"] is False and reply["owner_id"] is not None
    # a colleague neither sees nor changes it
    assert reply["id"] not in [r["id"] for r in client.get(API, headers=agent2).json()]
    assert client.patch(f"{API}/{reply['id']}", json={"title": "X"}, headers=agent2).status_code == 404
    assert client.delete(f"{API}/{reply['id']}", headers=agent2).status_code == 404
    assert client.patch(f"{API}/{reply['id']}", json={"title": "Cita"}, headers=agent).json()["title"] == "Cita"
    # shared ones: managers only
    shared = next(r for r in client.get(f"{API}?language=ca", headers=agent).json() if r["shared"])
    assert client.patch(f"{API}/{shared['id']}", json={"title": "X"}, headers=agent).status_code == 403
    assert client.delete(f"{API}/{shared['id']}", headers=agent).status_code == 403
    assert client.patch(f"{API}/{shared['id']}", json={"title": "Salutació cordial"},
                        headers=manager).json()["title"] == "Salutació cordial"
    assert client.delete(f"{API}/{shared['id']}", headers=manager).status_code == 204
    assert shared["id"] not in [r["id"] for r in client.get(API, headers=agent).json()]
    assert client.delete(f"{API}/{reply['id']}", headers=agent).status_code == 204

    from hub.actions.audit import audit_entries

    async def actions() -> list[str]:
        ctx = HubContext.create(settings)
        try:
            return [e.action for e in await audit_entries(ctx) if e.action.startswith("quick_reply.")]
        finally:
            await ctx.close()

    assert sorted(asyncio.run(actions())) == sorted([
        "quick_reply.create", "quick_reply.update", "quick_reply.update", "quick_reply.delete", "quick_reply.delete"])


def test_unknown_placeholders_and_bad_input_are_refused_with_the_reason_and_change_nothing(
    client: TestClient[Litestar], agent: dict[str, str],
) -> None:
    before = client.get(API, headers=agent).json()
    bad = client.post(API, json={"title": "T", "body": "Hola {nom}", "language": "ca"}, headers=agent)
    assert bad.status_code == 422
    assert "{nom}" in bad.json()["detail"] and "{citizen_name}" in bad.json()["detail"]
    assert client.post(API, json={"title": "T", "body": "Hola {citizen_name", "language": "ca"},
                       headers=agent).status_code == 422
    assert client.post(API, json={"title": "T", "body": "Hola", "language": "fr"}, headers=agent).status_code == 422
    assert client.post(API, json={"title": "T", "body": "Hola", "shortcut": "two words"},
                       headers=agent).status_code == 422
    assert client.post(API, json={"title": "", "body": "Hola"}, headers=agent).status_code == 400
    assert client.post(API, json={"body": "Hola"}, headers=agent).status_code == 400
    assert client.patch(f"{API}/{before[0]['id']}", json={"body": "{x.y}"}, headers=token_for(
        client, "manager@example.org")).status_code == 422
    assert client.get(API, headers=agent).json() == before


@pytest.mark.parametrize("channel", ["whatsapp", "email"])
def test_a_quick_reply_is_filled_for_the_consultation_and_sent_on_its_channel(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], channel: str,
) -> None:
    ticket = citizen_writes(settings, channel, "Necessito el volant de padró")
    client.patch(f"/api/v1/contacts/{client.get(f'/api/v1/tickets/{ticket}', headers=agent).json()['contact']['id']}",
                 json={"name": "Laia Pons"}, headers=agent)
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent)
    detail = client.get(f"/api/v1/tickets/{ticket}", headers=agent).json()
    replies = client.get(f"{API}?ticket_id={ticket}", headers=agent).json()
    assert {r["language"] for r in replies} == {"ca"}  # the citizen's language
    hours = next(r for r in replies if r["shortcut"] == "horari")
    hours_text = describe_hours(parse_office_hours(settings.office_hours), "ca")
    assert hours["filled"].startswith(f"L'oficina atén {hours_text}.")
    padro = next(r for r in replies if r["shortcut"] == "padro")
    assert padro["filled"].startswith("Laia Pons, el volant d'empadronament")
    greeting = next(r for r in replies if r["shortcut"] == "hola")
    assert greeting["filled"] == ("Bon dia, Laia Pons. Sóc Jordi Vidal, de l'Oficina d'Atenció Ciutadana. "
                                  "En què el puc ajudar?")
    case = next(r for r in replies if r["shortcut"] == "expedient")
    assert case["filled"].endswith(f"La seva consulta és la {detail['ticket']['reference']}.")
    assert client.get(f"{API}?ticket_id={ticket}&language=en", headers=agent).json()[0]["language"] == "en"
    assert client.get(f"{API}?ticket_id=999999", headers=agent).status_code == 404

    edited = greeting["filled"] + " (edited)"  # the agent may change the text before sending
    assert client.post(f"/api/v1/tickets/{ticket}/messages", json={"body": edited}, headers=agent).status_code == 201
    (sent,) = _messages(settings, ticket)
    assert sent.body == edited and sent.channel == channel and "{" not in sent.body


def test_agents_keep_their_own_replies_on_the_settings_page(client: TestClient[Litestar]) -> None:
    login(client, "agent@example.org")
    page = client.get("/settings").text
    assert "Quick replies" in page and "Volant de padró" in page
    assert 'id="qr-shared"' not in page  # agents cannot share
    client.post("/settings/quick-replies", data={"title": "Comiat", "body": "Adéu, {citizen_name}!", "language": "ca",
                                                 "shortcut": "adeu"}, headers=csrf(client), follow_redirects=False)
    page = client.get("/settings").text
    assert "Quick reply saved." in page and "Comiat" in page
    client.post("/settings/quick-replies", data={"title": "X", "body": "{nope}", "language": "ca"},
                headers=csrf(client), follow_redirects=False)
    assert "unknown placeholders: {nope}" in client.get("/settings").text
