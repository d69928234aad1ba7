"""GET /api/v1/stats and its CSV carry office time beside wall time, and first_response.within_sla."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from tests.support.agent_ui import Logins, app, citizen_writes, client, logins  # noqa: F401
from tests.support.agent_ui import token_for as bearer


def test_the_api_reports_office_time_and_the_sla_share(client: TestClient[Litestar], settings: Settings) -> None:
    manager = bearer(client, "manager@example.org")
    ticket = citizen_writes(settings, "email")
    assert client.post(f"/api/v1/tickets/{ticket}/assign", json={}, headers=manager).status_code in (200, 201)
    answer = client.post(f"/api/v1/tickets/{ticket}/messages", json={"body": "Bon dia"}, headers=manager)
    assert answer.status_code in (200, 201), answer.text
    body = client.get("/api/v1/stats", headers=manager).json()
    totals = body["totals"]
    # Always open in this suite: office time equals wall time and a prompt reply is within 30 min.
    assert totals["first_response"]["count"] == 1 and totals["first_response"]["within_sla"] == 1.0
    assert totals["first_response_office"]["count"] == 1
    assert totals["first_response_office"]["average_s"] == totals["first_response"]["average_s"]
    assert "wait_office" in totals and "resolution_office" in totals
    csv_text = client.get("/api/v1/stats?format=csv", headers=manager).content.decode("utf-8-sig")
    assert "first_response_office" in csv_text and "within_sla" in csv_text
