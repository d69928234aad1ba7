"""Export, erasure and the audit trail over HTTP: who may, what comes back, what is recorded."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from hub.config import Settings
from tests.support.agent_ui import Logins, citizen_writes, csrf, login


def _contact_of(client: TestClient[Any], ticket_id: int) -> int:
    return int(client.get(f"/api/v1/tickets/{ticket_id}").json()["ticket"]["contact_id"])


def test_managers_export_and_erase_and_admins_read_the_trail(
    client: TestClient[Any], settings: Settings, logins: Logins,
) -> None:
    ticket = citizen_writes(settings, "email", body="MY-PRIVATE-WORDS", who="private@citizen.example")
    login(client, "agent@example.org")
    contact = _contact_of(client, ticket)
    assert client.get(f"/api/v1/contacts/{contact}/export").status_code == 403
    assert client.post(f"/api/v1/contacts/{contact}/erase", headers=csrf(client)).status_code == 403
    assert client.get("/api/v1/audit").status_code == 403

    login(client, "manager@example.org")
    got = client.get(f"/api/v1/contacts/{contact}/export")
    assert got.status_code == 200
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "MY-PRIVATE-WORDS" in got.text and "private@citizen.example" in got.text
    assert client.get("/api/v1/contacts/999999/export").status_code == 404
    erased = client.post(f"/api/v1/contacts/{contact}/erase", headers=csrf(client))
    assert erased.status_code == 200 and erased.json()["tickets"] == 1
    assert "MY-PRIVATE-WORDS" not in client.get(f"/api/v1/contacts/{contact}/export").text
    assert client.get("/api/v1/audit").status_code == 403  # managers act, admins audit

    login(client, "admin@example.org")
    page = client.get("/api/v1/audit", params={"target_type": "contact"})
    assert page.status_code == 200
    actions = [(e["action"], e["agent_id"], e["target_id"]) for e in page.json()["entries"]]
    assert actions == [("contact.export", logins.manager, str(contact)), ("contact.erase", logins.manager, str(contact)),
                       ("contact.export", logins.manager, str(contact))]
    assert client.get("/audit").status_code == 200
    assert "contact.erase" in client.get("/audit").text


def test_the_erasure_form_needs_the_confirmation_word(client: TestClient[Any], settings: Settings) -> None:
    ticket = citizen_writes(settings, "email", body="KEEP-ME", who="keep@citizen.example")
    login(client, "manager@example.org")
    contact = _contact_of(client, ticket)
    assert client.get(f"/contacts/{contact}/privacy").status_code == 200
    client.post(f"/contacts/{contact}/erase", data={"confirm": "yes", "_csrf_token": csrf(client)["x-csrftoken"]})
    assert "KEEP-ME" in client.get(f"/api/v1/contacts/{contact}/export").text
    client.post(f"/contacts/{contact}/erase", data={"confirm": "ERASE", "_csrf_token": csrf(client)["x-csrftoken"]})
    assert "KEEP-ME" not in client.get(f"/api/v1/contacts/{contact}/export").text


def test_reading_replying_assigning_resolving_and_logging_in_are_audited(
    client: TestClient[Any], settings: Settings, logins: Logins,
) -> None:
    ticket = citizen_writes(settings, "email", body="Hola")
    login(client, "agent@example.org")
    assert client.get(f"/tickets/{ticket}").status_code == 200
    assert client.post(f"/api/v1/tickets/{ticket}/assign", headers=csrf(client)).status_code == 200
    assert client.post(f"/api/v1/tickets/{ticket}/messages", json={"body": "Bon dia"}, headers=csrf(client)).status_code == 201
    assert client.get(f"/api/v1/tickets/{ticket}").status_code == 200
    assert client.post(f"/api/v1/tickets/{ticket}/resolve", headers=csrf(client)).status_code == 200
    login(client, "agent@example.org", password="wrong password")
    login(client, "admin@example.org")
    entries = client.get("/api/v1/audit", params={"limit": 50}).json()["entries"]
    trail = [(e["action"], e["agent_id"], e["target_id"]) for e in reversed(entries)]
    t = str(ticket)
    assert trail == [
        ("login", logins.agent, str(logins.agent)), ("ticket.read", logins.agent, t), ("ticket.assign", logins.agent, t),
        ("ticket.reply", logins.agent, t), ("ticket.read", logins.agent, t), ("ticket.resolve", logins.agent, t),
        ("login.failed", None, ""), ("login", logins.admin, str(logins.admin)),
    ]
    assert "Bon dia" not in str(entries)  # the trail holds who and what, never the words


def test_an_erased_or_merged_contact_cannot_be_renamed(client: TestClient[Any], settings: Settings) -> None:
    """Issue 13, finding 12: `PATCH /api/v1/contacts/{id}` renamed an erased contact (200)."""
    ticket = citizen_writes(settings, "email", body="Hola", who="gone@citizen.example")
    login(client, "manager@example.org")
    contact = _contact_of(client, ticket)
    assert client.post(f"/api/v1/contacts/{contact}/erase", headers=csrf(client)).status_code == 200
    renamed = client.patch(f"/api/v1/contacts/{contact}", json={"name": "Back Again"}, headers=csrf(client))
    assert renamed.status_code == 409, renamed.text
    assert "Back Again" not in client.get(f"/api/v1/contacts/{contact}/export").text
    first = _contact_of(client, citizen_writes(settings, "email", body="Hola", who="one@citizen.example"))
    second = _contact_of(client, citizen_writes(settings, "email", body="Hola", who="two@citizen.example"))
    assert client.post(f"/api/v1/contacts/{first}/merge", json={"into": second}, headers=csrf(client)).status_code == 200
    assert client.patch(f"/api/v1/contacts/{first}", json={"name": "X"}, headers=csrf(client)).status_code == 409
    assert client.patch(f"/api/v1/contacts/{second}", json={"name": "Núria"}, headers=csrf(client)).status_code == 200
