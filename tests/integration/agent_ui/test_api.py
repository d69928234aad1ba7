"""The JSON API of PRODUCT.md §5: each role's access, 400/401/403/404/409/422, and effects."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from tests.support.agent_ui import Logins, citizen_writes





def test_every_api_route_needs_a_login(client: TestClient[Litestar]) -> None:
    for method, path in [
        ("GET", "/api/v1/queue"), ("POST", "/api/v1/queue/next"), ("GET", "/api/v1/tickets"),
        ("GET", "/api/v1/tickets/1"), ("POST", "/api/v1/tickets/1/messages"), ("POST", "/api/v1/tickets/1/notes"),
        ("POST", "/api/v1/tickets/1/assign"), ("POST", "/api/v1/tickets/1/resolve"),
        ("PUT", "/api/v1/agents/me/presence"), ("PATCH", "/api/v1/contacts/1"), ("GET", "/api/v1/agents"),
    ]:
        answer = client.request(method, path, json={}, headers={"authorization": "Bearer not-a-token"})
        assert answer.status_code == 401, (method, path)
        assert client.request(method, path).status_code in (401, 403), (method, path)  # 403: CSRF before auth


def test_the_queue_has_three_lanes(client: TestClient[Litestar], settings: Settings, agent: dict[str, str]) -> None:
    waiting = citizen_writes(settings, "email", "Necessito un certificat")
    identifying = citizen_writes(settings, "whatsapp", "Hola", identify=False)
    queue = client.get("/api/v1/queue", headers=agent).json()
    assert [t["id"] for t in queue["waiting"]["tickets"]] == [waiting]
    assert [t["id"] for t in queue["identifying"]["tickets"]] == [identifying]
    assert queue["mine"]["tickets"] == []
    assert client.get("/api/v1/queue?channel=whatsapp", headers=agent).json()["waiting"]["count"] == 0
    assert client.get("/api/v1/queue?channel=fax", headers=agent).status_code == 400


def test_take_next_gives_the_oldest_and_then_nothing(client: TestClient[Litestar], settings: Settings,
                                                     agent: dict[str, str], logins: Logins) -> None:
    first = citizen_writes(settings, "email")
    second = citizen_writes(settings, "whatsapp")
    got = client.post("/api/v1/queue/next", headers=agent)
    assert got.status_code == 200 and got.json()["ticket"]["id"] == first
    assert got.json()["ticket"]["assignee_id"] == logins.agent
    assert client.post("/api/v1/queue/next", headers=agent).json()["ticket"]["id"] == second
    assert client.post("/api/v1/queue/next", headers=agent).json() == {"ticket": None}
    mine = client.get("/api/v1/queue", headers=agent).json()["mine"]
    assert {t["id"] for t in mine["tickets"]} == {first, second}


def test_reply_note_resolve_and_the_timeline(client: TestClient[Litestar], settings: Settings,
                                             agent: dict[str, str]) -> None:
    ticket = citizen_writes(settings, "whatsapp", "On és el meu expedient?")
    assert client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent).status_code == 200
    reply = client.post(f"/api/v1/tickets/{ticket}/messages", json={"body": "Ara ho miro"}, headers=agent)
    assert reply.status_code == 201
    note = client.post(f"/api/v1/tickets/{ticket}/notes", json={"body": "Expedient 123"}, headers=agent)
    assert note.status_code == 201
    detail = client.get(f"/api/v1/tickets/{ticket}", headers=agent).json()
    assert detail["ticket"]["status"] == "pending"
    assert detail["contact"]["name"] == "Laia Pons"
    assert {"kind": "phone", "value": detail["contact"]["identities"][0]["value"]} in detail["contact"]["identities"]
    bodies = [(i["type"], i["body"]) for i in detail["timeline"] if i["type"] in ("message", "note")]
    assert ("message", "On és el meu expedient?") in bodies
    assert ("message", "Ara ho miro") in bodies and ("note", "Expedient 123") in bodies
    kinds = [i["kind"] for i in detail["timeline"] if i["type"] == "event"]
    assert "assigned" in kinds and "note_added" in kinds
    assert detail["reply_window"]["limited"] and detail["reply_window"]["open"]
    resolved = client.post(f"/api/v1/tickets/{ticket}/resolve", headers=agent)
    assert resolved.status_code == 200 and resolved.json()["survey_url"]
    # resolving twice is a state conflict, and changes nothing
    again = client.post(f"/api/v1/tickets/{ticket}/resolve", headers=agent)
    assert again.status_code == 409 and again.json()["detail"]
    assert client.get(f"/api/v1/tickets/{ticket}", headers=agent).json()["ticket"]["status"] == "resolved"


def test_bad_input_is_400_and_changes_nothing(client: TestClient[Litestar], settings: Settings,
                                              agent: dict[str, str]) -> None:
    ticket = citizen_writes(settings, "email")
    before = client.get(f"/api/v1/tickets/{ticket}", headers=agent).json()
    for body in ({}, {"body": ""}, {"body": 3}, {"body": "x", "extra": 1}):
        answer = client.post(f"/api/v1/tickets/{ticket}/messages", json=body, headers=agent)
        assert answer.status_code == 400, body
        assert answer.json()["detail"]
    bad_assign = client.post(f"/api/v1/tickets/{ticket}/assign", content=b"{nope", headers=agent)
    assert bad_assign.status_code == 400
    assert client.put("/api/v1/agents/me/presence", json={"status": "asleep"}, headers=agent).status_code == 400
    assert client.get("/api/v1/tickets?status=lost", headers=agent).status_code == 400
    assert client.get(f"/api/v1/tickets/{ticket}", headers=agent).json() == before


def test_unknown_ticket_is_404(client: TestClient[Litestar], agent: dict[str, str]) -> None:
    for method, path, body in [("GET", "/api/v1/tickets/999999", None),
                               ("POST", "/api/v1/tickets/999999/messages", {"body": "x"}),
                               ("POST", "/api/v1/tickets/999999/notes", {"body": "x"}),
                               ("POST", "/api/v1/tickets/999999/resolve", None),
                               ("PATCH", "/api/v1/contacts/999999", {"name": "x"})]:
        answer = client.request(method, path, json=body, headers=agent)
        assert answer.status_code == 404, (method, path)
        assert "does not exist" in answer.json()["detail"]


def test_an_agent_may_not_act_on_a_colleagues_ticket_but_a_manager_may(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], agent2: dict[str, str],
    manager: dict[str, str], logins: Logins,
) -> None:
    ticket = citizen_writes(settings, "email")
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent)
    for path, body in [("messages", {"body": "hola"}), ("resolve", None), ("assign", None), ("unassign", None)]:
        answer = client.post(f"/api/v1/tickets/{ticket}/{path}", json=body, headers=agent2)
        assert answer.status_code == 403, path
    assert client.get(f"/api/v1/tickets/{ticket}", headers=agent2).json()["ticket"]["assignee_id"] == logins.agent
    # a note is fine for anyone; a manager may transfer
    assert client.post(f"/api/v1/tickets/{ticket}/notes", json={"body": "vist"}, headers=agent2).status_code == 201
    client.put("/api/v1/agents/me/presence", json={"status": "available"}, headers=agent2)
    moved = client.post(f"/api/v1/tickets/{ticket}/assign", json={"agent_id": logins.agent2}, headers=manager)
    assert moved.status_code == 200 and moved.json()["assignee_id"] == logins.agent2


def test_assigning_an_identifying_ticket_is_a_conflict(client: TestClient[Litestar], settings: Settings,
                                                       agent: dict[str, str]) -> None:
    ticket = citizen_writes(settings, "whatsapp", identify=False)
    answer = client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent)
    assert answer.status_code == 409
    assert client.post("/api/v1/queue/next", headers=agent).json() == {"ticket": None}


def test_transfer_to_an_offline_colleague_is_a_conflict(client: TestClient[Litestar], settings: Settings,
                                                        agent: dict[str, str], logins: Logins) -> None:
    ticket = citizen_writes(settings, "email")
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent)
    answer = client.post(f"/api/v1/tickets/{ticket}/assign", json={"agent_id": logins.agent2}, headers=agent)
    assert answer.status_code == 409


def test_rename_contact(client: TestClient[Litestar], settings: Settings, agent: dict[str, str]) -> None:
    ticket = citizen_writes(settings, "email")
    contact_id = client.get(f"/api/v1/tickets/{ticket}", headers=agent).json()["contact"]["id"]
    answer = client.patch(f"/api/v1/contacts/{contact_id}", json={"name": "  Pere   Roca "}, headers=agent)
    assert answer.status_code == 200 and answer.json()["name"] == "Pere Roca"
    assert client.patch(f"/api/v1/contacts/{contact_id}", json={"name": ""}, headers=agent).status_code == 400
    assert client.patch(f"/api/v1/contacts/{contact_id}", json={"name": "   "}, headers=agent).status_code == 422


def test_tickets_list_filters_and_pages(client: TestClient[Litestar], settings: Settings,
                                        agent: dict[str, str]) -> None:
    ids = [citizen_writes(settings, "email", who=f"p{i}@example.net") for i in range(5)]
    wa = citizen_writes(settings, "whatsapp", who="+34600999888")
    page1 = client.get("/api/v1/tickets?limit=2", headers=agent).json()
    assert [t["id"] for t in page1["tickets"]] == [wa, ids[4]]
    page2 = client.get(f"/api/v1/tickets?limit=2&before={page1['next_cursor']}", headers=agent).json()
    assert [t["id"] for t in page2["tickets"]] == [ids[3], ids[2]]
    assert [t["id"] for t in client.get("/api/v1/tickets?channel=whatsapp", headers=agent).json()["tickets"]] == [wa]
    assert [t["id"] for t in client.get("/api/v1/tickets?q=p3@example.net", headers=agent).json()["tickets"]] == [ids[3]]
    assert [t["id"] for t in client.get("/api/v1/tickets?q=600 999 888", headers=agent).json()["tickets"]] == [wa]
    assert [t["id"] for t in client.get("/api/v1/tickets?q=laia", headers=agent).json()["tickets"]] == [wa]
    reference = page1["tickets"][0]["reference"]
    assert [t["id"] for t in client.get(f"/api/v1/tickets?q={reference}", headers=agent).json()["tickets"]] == [wa]
    assert client.get("/api/v1/tickets?status=resolved", headers=agent).json()["tickets"] == []
    assert len(client.get("/api/v1/tickets?status=open", headers=agent).json()["tickets"]) == 6


def test_going_offline_hands_tickets_back(client: TestClient[Litestar], settings: Settings,
                                          agent: dict[str, str]) -> None:
    ticket = citizen_writes(settings, "email")
    client.put("/api/v1/agents/me/presence", json={"status": "available"}, headers=agent)
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent)
    assert client.put("/api/v1/agents/me/presence", json={"status": "offline"}, headers=agent).status_code == 200
    detail = client.get(f"/api/v1/tickets/{ticket}", headers=agent).json()
    assert detail["ticket"]["status"] == "waiting" and detail["ticket"]["assignee_id"] is None


def test_openapi_schema_lists_the_api(client: TestClient[Litestar]) -> None:
    schema = client.get("/schema/openapi.json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ["/api/v1/queue", "/api/v1/queue/next", "/api/v1/tickets", "/api/v1/tickets/{ticket_id}",
                 "/api/v1/auth/token", "/api/v1/agents/me/presence"]:
        assert path in paths, path
    page = client.get("/schema/swagger")
    if page.status_code == 200:  # the UI exists only when its npm assets are installed
        assert "/static/vendor/swagger-ui-bundle.js" in page.text and "cdn" not in page.text.lower()


def _json(answer: Any) -> Any:
    return answer.json()


def test_a_full_lane_still_counts_everything(client: TestClient[Litestar], settings: Settings,
                                             agent: dict[str, str]) -> None:
    ids = [citizen_writes(settings, "email") for _ in range(3)]
    citizen_writes(settings, "whatsapp", identify=False)
    queue = client.get("/api/v1/queue?limit=2", headers=agent).json()
    assert queue["waiting"]["count"] == 3 and [t["id"] for t in queue["waiting"]["tickets"]] == ids[:2]
    assert queue["identifying"]["count"] == 1
    assert client.get("/api/v1/queue?limit=0", headers=agent).status_code == 400
