"""Settings: my account for everyone, capacity and routing for managers, logins for admins."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from tests.support.agent_ui import Logins, csrf, login
from tests.integration.agent_ui.test_pages import form


def test_an_agent_sees_only_their_account_and_may_not_change_capacities(
    client: TestClient[Litestar], logins: Logins,
) -> None:
    login(client, "agent@example.org")
    html = client.get("/settings").text
    assert "agent@example.org" in html and f"/settings/agents/{logins.agent}/capacity" not in html
    assert form(client, f"/settings/agents/{logins.agent}/capacity", capacity="50").status_code == 403
    assert form(client, "/settings/routing", hand_back="").status_code == 403
    assert client.patch(f"/api/v1/agents/{logins.agent}", json={"capacity": 50}, headers=csrf(client)).status_code == 403
    assert client.get("/api/v1/agents/me").json()["capacity"] == 3


def test_a_manager_changes_capacity_and_routing(client: TestClient[Litestar], logins: Logins) -> None:
    login(client, "manager@example.org")
    assert form(client, f"/settings/agents/{logins.agent}/capacity", capacity="7").status_code == 303
    agents = {a["id"]: a for a in client.get("/api/v1/agents").json()}
    assert agents[logins.agent]["capacity"] == 7
    assert form(client, f"/settings/agents/{logins.agent}/capacity", capacity="lots").status_code == 303
    assert "flash-error" in client.get("/settings").text
    answer = client.patch(f"/api/v1/agents/{logins.agent}", json={"capacity": 101}, headers=csrf(client))
    assert answer.status_code == 400
    answer = client.patch(f"/api/v1/agents/{logins.agent}", json={"capacity": 2}, headers=csrf(client))
    assert answer.status_code == 200 and answer.json()["capacity"] == 2
    assert 'id="hand-back" name="hand_back" value="1" checked' in client.get("/settings").text
    form(client, "/settings/routing")
    assert 'id="hand-back" name="hand_back" value="1" checked' not in client.get("/settings").text
    assert form(client, "/settings/agents", email="x@example.org", name="X", role="agent",
                password="long enough").status_code == 403


def test_an_admin_creates_a_login(client: TestClient[Litestar]) -> None:
    login(client, "admin@example.org")
    assert form(client, "/settings/agents", email="nou@example.org", name="Nou Agent", role="agent",
                password="a good password for Lleida", capacity="4").status_code == 303
    names = [a["name"] for a in client.get("/api/v1/agents").json()]
    assert "Nou Agent" in names
    again = client.post("/api/v1/agents", json={"email": "nou@example.org", "name": "Nou", "role": "agent",
                                                "password": "a good password for Lleida"}, headers=csrf(client))
    assert again.status_code == 409
    short = client.post("/api/v1/agents", json={"email": "b@example.org", "name": "B", "role": "agent",
                                                "password": "short"}, headers=csrf(client))
    assert short.status_code == 422 and short.json()["reason"] == "too_short"  # tests/integration/accounts: the policy
