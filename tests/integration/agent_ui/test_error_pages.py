"""Errors a logged-in browser meets are pages in the agent's language (issue 14, items 7 and 8):
404 and 403 (from the router, a role guard or the core), and a core error after a form, never
raw English JSON or an English sentence on a Catalan or Spanish page."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from tests.support.agent_ui import citizen_writes, login

HTML = {"accept": "text/html"}


def in_language(client: TestClient[Litestar], lang: str) -> None:
    page = client.get("/settings")
    token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    client.post("/language", data={"lang": lang, "_csrf_token": token}, follow_redirects=False)


@pytest.mark.parametrize(("lang", "title", "english"), [
    ("ca", "No s'ha trobat", "does not exist"), ("es", "No encontrado", "does not exist"),
])
def test_a_missing_page_or_consultation_is_a_page_in_my_language(
    client: TestClient[Litestar], lang: str, title: str, english: str,
) -> None:
    login(client, "agent@example.org")
    in_language(client, lang)
    for path in ("/tickets/999999",):
        answer = client.get(path, headers=HTML)
        assert answer.status_code == 404
        assert answer.headers["content-type"].startswith("text/html"), path
        assert f'<html lang="{lang}">' in answer.text and english not in answer.text, path



BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
JSON = {"accept": "application/json"}


@pytest.mark.parametrize(("lang", "title"), [("ca", "No s'ha trobat"), ("es", "No encontrado"), ("en", "Not found")])
def test_an_unknown_address_is_the_friendly_page_in_the_signed_in_agents_language(
    client: TestClient[Litestar], lang: str, title: str,
) -> None:
    login(client, "agent@example.org")
    in_language(client, lang)
    client.cookies.delete("hub_lang")  # the agent's own choice counts, not only this browser's cookie
    for path in ("/no-such-page", "/tickets/12/no-such-tab", "/api/v1/no-such-thing"):
        answer = client.get(path, headers=BROWSER)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html"), path
        assert f'<html lang="{lang}">' in answer.text and title in answer.text, path
        assert 'href="/board"' in answer.text or 'href="/queue"' in answer.text or "logout" in answer.text, path
        api = client.get(path, headers=JSON)
        assert api.status_code == 404 and api.headers["content-type"].startswith("application/json"), path


@pytest.mark.parametrize(("lang", "forbidden", "missing"), [
    ("ca", "No pots obrir aquesta pàgina", "No s'ha trobat"),
    ("es", "No puedes abrir esta página", "No encontrado"),
])
def test_api_refusals_opened_in_the_browser_are_pages_and_json_for_api_clients(
    client: TestClient[Litestar], lang: str, forbidden: str, missing: str,
) -> None:
    login(client, "agent@example.org")
    in_language(client, lang)
    for path, status, title in (("/api/v1/tickets/999999", 404, missing), ("/api/v1/stats", 403, forbidden)):
        page = client.get(path, headers=BROWSER)
        assert page.status_code == status and page.headers["content-type"].startswith("text/html"), path
        assert f'<html lang="{lang}">' in page.text and title in page.text, path
        assert "does not exist" not in page.text and "forbidden" not in page.text.lower(), path
        for accept in (JSON, {"accept": "*/*"}):
            api = client.get(path, headers=accept)
            assert api.status_code == status and api.headers["content-type"].startswith("application/json"), path


def test_a_visitor_opening_an_unknown_address_gets_the_page_not_json(client: TestClient[Litestar]) -> None:
    answer = client.get("/no-such-page", headers=BROWSER)
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert client.get("/no-such-page", headers=JSON).headers["content-type"].startswith("application/json")


def test_a_page_my_role_may_not_open_is_a_friendly_page_in_my_language(client: TestClient[Litestar]) -> None:
    login(client, "agent@example.org")
    in_language(client, "es")
    answer = client.get("/stats", headers=HTML)
    assert answer.status_code == 403 and answer.headers["content-type"].startswith("text/html")
    assert "Tu rol no da acceso" in answer.text and "forbidden" not in answer.text.lower()


def test_a_core_error_after_a_form_reads_in_catalan(client: TestClient[Litestar], settings: Settings) -> None:
    ticket = citizen_writes(settings, "email", "Bon dia")
    login(client, "agent@example.org")
    in_language(client, "ca")
    page = client.get(f"/tickets/{ticket}")
    token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    client.post(f"/tickets/{ticket}/resolve", data={"_csrf_token": token}, follow_redirects=False)
    again = client.post(f"/tickets/{ticket}/resolve", data={"_csrf_token": token}, follow_redirects=True)
    assert "estat actual de la consulta" in again.text, [line for line in again.text.splitlines() if "flash" in line]
