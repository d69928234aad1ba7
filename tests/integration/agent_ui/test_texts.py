"""The office's own texts: managers edit them per language (placeholders checked, audited with
before and after, restorable), and the next citizen receives the new text, whichever instance
the edit went through."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from hub.context import HubContext
from tests.support.agent_ui import Logins, citizen_writes, csrf, login
from tests.support.agent_ui import token_for

WELCOME_CA = "Hola! Sou a l'OAC de {office}. Com us dieu?"



def _texts(client: TestClient[Litestar], headers: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(t["key"], t["language"]): t for t in client.get("/api/v1/texts", headers=headers).json()}


def _welcome_of(client: TestClient[Litestar], headers: dict[str, str], ticket: int) -> str:
    timeline = client.get(f"/api/v1/tickets/{ticket}", headers=headers).json()["timeline"]
    return next(i["body"] for i in timeline if i["type"] == "message" and i["direction"] == "out")


def _audit(settings: Settings) -> list[Any]:
    from hub.actions.audit import audit_entries

    async def read() -> list[Any]:
        ctx = HubContext.create(settings)
        try:
            return [e for e in await audit_entries(ctx) if e.action.startswith("text.")]
        finally:
            await ctx.close()

    return asyncio.run(read())


def test_managers_see_every_text_in_every_language_and_agents_may_not(
    client: TestClient[Litestar], manager: dict[str, str],
) -> None:
    texts = _texts(client, manager)
    welcome = texts[("identify_first.welcome", "ca")]
    assert welcome["customised"] is False and welcome["body"] == welcome["default"]
    assert "{office}" in welcome["body"] and welcome["placeholders"] == ["office"]
    assert texts[("survey.invitation", "es")]["required"] == ["url"]
    assert {lang for _key, lang in texts} == {"ca", "es", "en"}
    agent = token_for(client, "agent@example.org")
    assert client.get("/api/v1/texts", headers=agent).status_code == 403
    assert client.put("/api/v1/texts/identify_first.welcome", json={"language": "ca", "body": "X"},
                      headers=agent).status_code == 403


def test_placeholders_are_checked_with_the_reason_and_a_refused_text_changes_nothing(
    client: TestClient[Litestar], settings: Settings, manager: dict[str, str],
) -> None:
    before = _texts(client, manager)
    unknown = client.put("/api/v1/texts/identify_first.welcome", json={"language": "ca", "body": "Hola {nom}"},
                         headers=manager)
    assert unknown.status_code == 422 and "{nom}" in unknown.json()["detail"] and "{office}" in unknown.json()["detail"]
    missing = client.put("/api/v1/texts/survey.invitation", json={"language": "ca", "body": "Gràcies, {reference}."},
                         headers=manager)
    assert missing.status_code == 422 and "{url}" in missing.json()["detail"]
    assert client.put("/api/v1/texts/identify_first.welcome", json={"language": "ca", "body": "Hola {office"},
                      headers=manager).status_code == 422
    assert client.put("/api/v1/texts/identify_first.welcome", json={"language": "fr", "body": "Salut"},
                      headers=manager).status_code == 422
    assert client.put("/api/v1/texts/no.such.text", json={"language": "ca", "body": "Hola"},
                      headers=manager).status_code == 404
    assert client.put("/api/v1/texts/identify_first.welcome", json={"body": "Hola"}, headers=manager).status_code == 400
    assert _texts(client, manager) == before and _audit(settings) == []


def test_an_edit_is_audited_with_before_and_after_and_the_default_can_be_restored(
    client: TestClient[Litestar], settings: Settings, manager: dict[str, str],
) -> None:
    default = _texts(client, manager)[("identify_first.welcome", "ca")]["default"]
    saved = client.put("/api/v1/texts/identify_first.welcome", json={"language": "ca", "body": WELCOME_CA}, headers=manager)
    assert saved.status_code == 200 and saved.json()["customised"] and saved.json()["body"] == WELCOME_CA
    assert _texts(client, manager)[("identify_first.welcome", "es")]["customised"] is False  # one language only
    restored = client.put("/api/v1/texts/identify_first.welcome", json={"language": "ca", "body": None}, headers=manager)
    assert restored.json()["customised"] is False and restored.json()["body"] == default
    restore, update = _audit(settings)  # newest first
    assert update.action == "text.update" and update.target_id == "identify_first.welcome:ca"
    assert update.detail == {"before": default[:200], "after": WELCOME_CA}
    assert restore.action == "text.restore" and restore.detail == {"before": WELCOME_CA, "after": default[:200]}


def test_a_text_keeps_answering_to_the_key_it_had_before_it_was_named_after_its_rule(
    client: TestClient[Litestar], settings: Settings, manager: dict[str, str],
) -> None:
    # PUT /api/v1/texts/{key} is public: a script written for `whatsapp.welcome` still edits it.
    saved = client.put("/api/v1/texts/whatsapp.welcome", json={"language": "ca", "body": WELCOME_CA}, headers=manager)
    assert saved.status_code == 200 and saved.json()["key"] == "identify_first.welcome"
    assert _texts(client, manager)[("identify_first.welcome", "ca")]["body"] == WELCOME_CA
    assert "whatsapp.welcome" not in {key for key, _ in _texts(client, manager)}
    assert _audit(settings)[0].target_id == "identify_first.welcome:ca"


def test_the_next_citizen_gets_the_edited_text_whichever_instance_it_was_edited_on(
    settings: Settings, logins: Logins,
) -> None:
    from entrypoints.web import create_app

    with TestClient(create_app(settings), base_url="https://one.local") as one, \
            TestClient(create_app(settings), base_url="https://two.local") as two:
        boss_one, boss_two = token_for(one, "manager@example.org"), token_for(two, "manager@example.org")
        first = citizen_writes(settings, "whatsapp", "Hola", identify=False)
        assert _welcome_of(two, boss_two, first).startswith("Hola! Aquesta és l'Oficina d'Atenció Ciutadana de Lleida.")  # the default (ca)
        assert one.put("/api/v1/texts/identify_first.welcome", json={"language": "ca", "body": WELCOME_CA},
                       headers=boss_one).status_code == 200
        second = citizen_writes(settings, "whatsapp", "Bon dia", identify=False)
        assert _welcome_of(two, boss_two, second) == "Hola! Sou a l'OAC de Lleida. Com us dieu?"
        assert two.put("/api/v1/texts/identify_first.welcome", json={"language": "ca", "body": "Bon dia! {office}."},
                       headers=boss_two).status_code == 200
        third = citizen_writes(settings, "whatsapp", "Ei", identify=False)
        assert _welcome_of(one, boss_one, third) == "Bon dia! Lleida."


def test_the_texts_page_saves_and_restores(client: TestClient[Litestar]) -> None:
    login(client, "agent@example.org")
    assert client.get("/settings/texts").status_code == 403
    login(client, "manager@example.org")
    page = client.get("/settings/texts").text
    assert "Satisfaction survey" in page and 'data-citizen="Laia Pons"' in page
    answer = client.post("/settings/texts/identify_first.welcome/ca", data={"body": WELCOME_CA}, headers=csrf(client),
                         follow_redirects=False)
    assert answer.status_code == 303
    page = client.get("/settings/texts").text
    assert "Text saved." in page and "Com us dieu?" in page and "Restore the default" in page
    client.post("/settings/texts/survey.invitation/ca", data={"body": "Sense enllaç"}, headers=csrf(client),
                follow_redirects=False)
    assert "survey.invitation must keep {url}" in client.get("/settings/texts").text
    client.post("/settings/texts/identify_first.welcome/ca", data={"restore": "1"}, headers=csrf(client),
                follow_redirects=False)
    page = client.get("/settings/texts").text
    assert "Default text restored." in page and "Com us dieu?" not in page


@pytest.mark.parametrize("language", ["ca", "es", "en"])
def test_every_text_on_the_page_is_headed_by_its_name_not_its_key(client: TestClient[Litestar], language: str) -> None:
    import re

    from hub.texts import DEFAULTS

    login(client, "manager@example.org")
    client.post("/language", data={"language": language}, headers=csrf(client), follow_redirects=False)
    page = client.get("/settings/texts").text
    headings = dict(re.findall(r'<h2 id="title-([\w-]+)">([^<]*)</h2>', page))
    assert set(headings) == {key.replace(".", "-") for key in DEFAULTS}  # every text has its section
    for key in DEFAULTS:
        heading = headings[key.replace(".", "-")]
        assert heading and heading != key and "_" not in heading and "." not in heading, (key, heading)
    if language != "en":
        assert "WhatsApp welcome back" not in page, "an English label in a translated page"
