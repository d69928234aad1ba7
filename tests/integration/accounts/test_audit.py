"""The audit trail of signing in (issue 13, finding 4): failures say which login was tried and
from where, on the form and on the token endpoint alike; sign-outs are recorded too."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from tests.support.agent_ui import Logins, csrf, login


def _trail(client: TestClient[Any]) -> list[dict[str, Any]]:
    login(client, "admin@example.org")
    return list(reversed(client.get("/api/v1/audit", params={"limit": 50}).json()["entries"]))


def test_a_failed_form_login_records_the_email_tried_and_the_client_address(client: TestClient[Any]) -> None:
    assert login(client, " Agent@Example.org", password="wrong password").status_code == 400
    failed = [e for e in _trail(client) if e["action"] == "login.failed"]
    assert len(failed) == 1
    assert failed[0]["detail"] == {"via": "form", "email": "agent@example.org", "address": "testclient"}


def test_a_failed_token_request_is_recorded(client: TestClient[Any]) -> None:
    answer = client.post("/api/v1/auth/token", json={"email": "nobody@example.org", "password": "guess"})
    assert answer.status_code == 401
    failed = [e for e in _trail(client) if e["action"] == "login.failed"]
    assert [e["detail"] for e in failed] == [{"via": "token", "email": "nobody@example.org", "address": "testclient"}]


def test_signing_out_is_recorded(client: TestClient[Any], logins: Logins) -> None:
    login(client, "agent@example.org")
    assert client.post("/logout", headers=csrf(client), follow_redirects=False).status_code == 303
    actions = [(e["action"], e["agent_id"]) for e in _trail(client)]
    assert actions[:2] == [("login", logins.agent), ("logout", logins.agent)]


def test_an_attachment_download_is_recorded_once(client: TestClient[Any], settings: Any, logins: Logins) -> None:
    import asyncio

    from tests.integration.security.test_attachments import _mail_with

    (pdf_id,) = asyncio.run(_mail_with(settings, [("factura.pdf", "application/pdf", b"%PDF-1.4")]))
    login(client, "agent@example.org")
    assert client.get(f"/attachments/{pdf_id}").status_code == 200
    downloads = [e for e in _trail(client) if e["action"] == "attachment.download"]
    assert [(e["agent_id"], e["target_id"]) for e in downloads] == [(logins.agent, str(pdf_id))]
    assert downloads[0]["detail"]["ticket"] is not None


def test_a_ticket_view_is_one_read_however_often_its_page_refreshes(
    client: TestClient[Any], settings: Any, logins: Logins,
) -> None:
    """The probe saw 2-3 `ticket.read` entries per view: the page's live parts (the head and the
    timeline, fetched again on every notice) must not count as further reads."""
    from tests.support.agent_ui import citizen_writes

    ticket = citizen_writes(settings, "email", body="Hola")
    login(client, "agent@example.org")
    assert client.get(f"/tickets/{ticket}").status_code == 200
    for _ in range(3):  # three live refreshes, as three notices about this ticket cause
        for part in ("head", "timeline"):
            assert client.get(f"/tickets/{ticket}/{part}", headers={"X-Hub-Fragment": "1"}).status_code == 200
    reads = [e for e in _trail(client) if e["action"] == "ticket.read"]
    assert [(e["agent_id"], e["target_id"]) for e in reads] == [(logins.agent, str(ticket))]
