"""Repairs found on the way (issue 14, item 7) and texts in the page's language (item 8)."""

from __future__ import annotations

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from tests.support.agent_ui import citizen_writes, login
from tests.support.agent_ui import token_for
from tests.integration.agent_ui.test_error_pages import in_language


def test_call_outcomes_read_in_the_page_language_in_the_call_list_and_the_timeline(
    client: TestClient[Litestar],
) -> None:
    token = token_for(client, "agent@example.org")
    logged = client.post("/api/v1/calls", headers=token, json={
        "number": "+34600778001", "outcome": "answered", "duration_s": 90, "topic": "Padró", "follow_up": True})
    assert logged.status_code == 201, logged.text
    ticket = logged.json()["ticket_id"]
    assert ticket
    login(client, "agent@example.org")
    in_language(client, "es")
    calls = client.get("/calls").text
    assert "Atendida" in calls and "Atesa" not in calls
    timeline = client.get(f"/tickets/{ticket}").text
    assert "Atendida" in timeline and "· answered" not in timeline


def test_an_automatic_message_says_its_language_and_the_stats_footer_names_no_file(
    client: TestClient[Litestar], settings: Settings,
) -> None:
    ticket = citizen_writes(settings, "whatsapp", "Hola", identify=False)  # the welcome goes out in Catalan
    login(client, "manager@example.org")
    page = client.get(f"/tickets/{ticket}").text
    assert '<p class="body" lang="ca">' in page
    assert "docs/metrics.md" not in client.get("/stats").text


def test_a_colleagues_ticket_shows_no_reply_box_and_the_transfer_list_says_who_is_who(
    client: TestClient[Litestar], settings: Settings,
) -> None:
    ticket = citizen_writes(settings, "email", "Bon dia")
    owner = token_for(client, "agent@example.org")
    assert client.post(f"/api/v1/tickets/{ticket}/assign", headers=owner).status_code == 200
    client.put("/api/v1/agents/me/presence", json={"status": "available"}, headers=token_for(client, "agent2@example.org"))
    login(client, "agent2@example.org")
    page = client.get(f"/tickets/{ticket}").text
    assert 'id="reply-body"' not in page and 'id="reply-colleague"' in page and "Jordi Vidal has this consultation" in page
    assert 'id="note-body"' in page  # a note is still possible
    login(client, "manager@example.org")
    page = client.get(f"/tickets/{ticket}").text
    assert 'id="reply-body"' in page  # managers may answer
    transfer = page.split('id="transfer-to"')[1].split("</select>")[0]
    available, away = transfer.split("<optgroup")[1:3]
    assert "Anna Serra" in available and "Admin OAC" not in available
    assert "Admin OAC · administrator (Offline" in away and "Marta Puig · manager (Offline" in away


def test_the_public_url_follows_the_port_unless_it_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from entrypoints.cli import follow_port
    from hub.config import load_settings

    monkeypatch.delenv("HUB_PUBLIC_URL", raising=False)
    settings = load_settings()
    follow_port(settings, "127.0.0.1", 8731)
    assert settings.public_url == "http://127.0.0.1:8731"  # survey links follow `--port 8731`
    configured = load_settings(public_url="https://oac.example.org")
    follow_port(configured, "0.0.0.0", 8731)
    assert configured.public_url == "https://oac.example.org"


def test_the_audit_trail_says_what_happened_in_the_readers_language(
    client: TestClient[Litestar], settings: Settings,
) -> None:
    ticket = citizen_writes(settings, "email", "Bon dia")
    login(client, "admin@example.org")
    client.get(f"/tickets/{ticket}")  # audited: ticket.read
    in_language(client, "ca")
    page = client.get("/audit").text
    assert "Consulta oberta" in page and "Ha entrat" in page
    row = page.split("Consulta oberta")[0].rsplit("<tr>", 1)[1] + page.split("Consulta oberta")[1].split("</tr>")[0]
    assert f"Consulta {ticket}" in row


def test_going_offline_with_one_consultation_says_it_in_the_singular(
    client: TestClient[Litestar], settings: Settings,
) -> None:
    ticket = citizen_writes(settings, "email", "Bon dia")
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=token_for(client, "agent@example.org"))
    login(client, "agent@example.org")
    page = client.get("/")
    token = page.text.split('name="_csrf_token" value="')[1].split('"')[0]
    after = client.post("/presence", data={"status": "offline", "_csrf_token": token})
    assert "1 consultation went back to the queue." in after.text


def test_a_refused_new_login_keeps_what_was_typed_and_ties_the_reason_to_the_password(
    client: TestClient[Litestar],
) -> None:
    login(client, "admin@example.org")
    page = client.get("/settings").text
    token = page.split('name="_csrf_token" value="')[1].split('"')[0]
    answer = client.post("/settings/agents", data={
        "email": "nova@example.org", "name": "Núria Vidal", "role": "manager", "capacity": "7",
        "password": "12345678", "_csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 422
    assert 'value="nova@example.org"' in answer.text and 'value="Núria Vidal"' in answer.text
    assert '<option value="manager" selected>' in answer.text and 'value="7"' in answer.text
    assert 'autocomplete="new-password" aria-invalid="true" aria-describedby="new-agent-error"' in answer.text
    assert 'id="new-agent-error" class="field-error">A password needs at least 12 characters.' in answer.text
    assert "12345678" not in answer.text  # never the password
