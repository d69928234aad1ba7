"""Topics through the API and the forms: the seeded list, managers keep it, agents set topics on
their consultations, the "topic required before resolving" option, filters, and stats by topic."""

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





def _audit(settings: Settings, action: str) -> list[Any]:
    from hub.actions.audit import audit_entries

    async def read() -> list[Any]:
        ctx = HubContext.create(settings)
        try:
            return await audit_entries(ctx, action=action)
        finally:
            await ctx.close()

    return asyncio.run(read())


def _by_key(client: TestClient[Litestar], headers: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {t["key"]: t for t in client.get("/api/v1/topics", headers=headers).json()}


def test_a_new_office_starts_with_the_seed_procedures_in_three_languages(
    client: TestClient[Litestar], agent: dict[str, str],
) -> None:
    topics = _by_key(client, agent)
    assert set(topics) == {"padro", "rebuts", "instancies", "expedients", "carpeta-ciutadana", "ovt"}
    assert topics["padro"]["names"] == {
        "ca": "Padró d'habitants", "es": "Padrón de habitantes", "en": "Census registration (padró)"}
    assert all(set(t["names"]) == {"ca", "es", "en"} and t["active"] for t in topics.values())
    assert [t["key"] for t in client.get("/api/v1/topics", headers=agent).json()][:2] == ["padro", "rebuts"]


def test_seeding_happens_once_and_never_undoes_a_managers_change(settings: Settings, logins: Logins) -> None:
    from entrypoints.web import create_app

    with TestClient(create_app(settings), base_url="https://testserver.local") as first:
        headers = token_for(first, "manager@example.org")
        padro = _by_key(first, headers)["padro"]
        assert first.patch(f"/api/v1/topics/{padro['id']}", json={"active": False}, headers=headers).status_code == 200
    with TestClient(create_app(settings), base_url="https://testserver.local") as second:  # a restart
        topics = _by_key(second, token_for(second, "manager@example.org"))
        assert len(topics) == 6 and topics["padro"]["active"] is False


def test_managers_keep_the_list_and_agents_may_not(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], manager: dict[str, str],
) -> None:
    new = {"names": {"ca": "Bonificacions", "es": "Bonificaciones", "en": "Discounts"}}
    assert client.post("/api/v1/topics", json=new, headers=agent).status_code == 403
    created = client.post("/api/v1/topics", json=new, headers=manager)
    assert created.status_code == 201, created.text
    topic = created.json()
    assert topic["key"] == "bonificacions" and topic["active"]
    assert client.post("/api/v1/topics", json=new, headers=manager).status_code == 409  # same key

    renamed = client.patch(f"/api/v1/topics/{topic['id']}", json={"names": {"en": "Tax discounts"}}, headers=manager)
    assert renamed.json()["names"] == {"ca": "Bonificacions", "es": "Bonificaciones", "en": "Tax discounts"}
    assert client.patch(f"/api/v1/topics/{topic['id']}", json={"active": False}, headers=agent).status_code == 403
    assert client.patch(f"/api/v1/topics/{topic['id']}", json={"active": False}, headers=manager).json()["active"] is False
    assert client.patch("/api/v1/topics/9999", json={"active": True}, headers=manager).status_code == 404

    # bad input: a clear 4xx and nothing changes
    before = client.get("/api/v1/topics", headers=manager).json()
    assert client.post("/api/v1/topics", json={"names": {"es": "Sin catalán"}}, headers=manager).status_code == 422
    assert client.post("/api/v1/topics", json={"names": {"xx": "?", "ca": "A"}}, headers=manager).status_code == 422
    assert client.post("/api/v1/topics", json={"names": "padró"}, headers=manager).status_code == 400
    assert client.patch(f"/api/v1/topics/{topic['id']}", json={"names": {"ca": ""}}, headers=manager).status_code == 422
    assert client.get("/api/v1/topics", headers=manager).json() == before
    assert [e.action for e in _audit(settings, "topic.create")] == ["topic.create"]
    assert len(_audit(settings, "topic.update")) == 2


def test_an_agent_sets_topics_on_a_consultation_and_the_lists_filter_by_them(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], agent2: dict[str, str],
    manager: dict[str, str],
) -> None:
    topics = _by_key(client, agent)
    padro, rebuts = topics["padro"]["id"], topics["rebuts"]["id"]
    ticket = citizen_writes(settings, "email", "Volant de padró")
    other = citizen_writes(settings, "email", "Un rebut")
    assert client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent).status_code == 200

    put = client.put(f"/api/v1/tickets/{ticket}/topics", json={"topics": [padro, rebuts]}, headers=agent)
    assert put.status_code == 200, put.text
    assert [t["key"] for t in put.json()["topics"]] == ["padro", "rebuts"]
    detail = client.get(f"/api/v1/tickets/{ticket}", headers=agent).json()
    assert [t["key"] for t in detail["topics"]] == ["padro", "rebuts"]
    assert any(i["type"] == "event" and i["kind"] == "topics_changed" for i in detail["timeline"])

    # a colleague's ticket: 403; unknown topic: 422 and nothing changes
    assert client.put(f"/api/v1/tickets/{ticket}/topics", json={"topics": []}, headers=agent2).status_code == 403
    assert client.put(f"/api/v1/tickets/{ticket}/topics", json={"topics": [padro, 999]},
                      headers=agent).status_code == 422
    assert client.put(f"/api/v1/tickets/{ticket}/topics", json={"topics": "padro"}, headers=agent).status_code == 400
    assert client.put("/api/v1/tickets/9999/topics", json={"topics": []}, headers=agent).status_code == 404
    assert [t["key"] for t in client.get(f"/api/v1/tickets/{ticket}", headers=agent).json()["topics"]] == [
        "padro", "rebuts"]
    # a manager may change anyone's
    assert client.put(f"/api/v1/tickets/{ticket}/topics", json={"topics": [padro]}, headers=manager).status_code == 200
    assert client.put(f"/api/v1/tickets/{other}/topics", json={"topics": [rebuts]}, headers=agent).status_code == 200

    listed = client.get(f"/api/v1/tickets?topic={padro}", headers=agent).json()
    assert [t["id"] for t in listed["tickets"]] == [ticket]
    assert [t["id"] for t in client.get(f"/api/v1/tickets?topic={rebuts}", headers=agent).json()["tickets"]] == [other]
    queue = client.get(f"/api/v1/queue?topic={rebuts}", headers=agent).json()
    assert [t["id"] for t in queue["waiting"]["tickets"]] == [other] and queue["mine"]["tickets"] == []
    assert len(_audit(settings, "ticket.topics")) == 3


def test_when_the_office_requires_it_a_consultation_is_resolved_only_with_a_topic(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str],
) -> None:
    ticket = citizen_writes(settings, "email", "Consulta")
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent)
    login(client, "manager@example.org")
    assert client.post("/settings/topics/required", data={"required": "1"}, headers=csrf(client),
                       follow_redirects=False).status_code == 303
    refused = client.post(f"/api/v1/tickets/{ticket}/resolve", headers=agent)
    assert refused.status_code == 409 and "topic" in refused.json()["detail"]
    assert client.get(f"/api/v1/tickets/{ticket}", headers=agent).json()["ticket"]["status"] == "assigned"
    padro = _by_key(client, agent)["padro"]["id"]
    client.put(f"/api/v1/tickets/{ticket}/topics", json={"topics": [padro]}, headers=agent)
    assert client.post(f"/api/v1/tickets/{ticket}/resolve", headers=agent).status_code == 200
    entry = _audit(settings, "option.set")[0]
    assert entry.detail == {"before": False, "after": True}


def test_the_ticket_page_shows_and_edits_topics_and_the_queue_filters_by_them(
    client: TestClient[Litestar], settings: Settings,
) -> None:
    ticket = citizen_writes(settings, "email", "Volant de padró")
    login(client, "agent@example.org")
    page = client.get(f"/tickets/{ticket}").text
    assert "No topic yet." in page and "Census registration (padró)" in page
    padro = _by_key(client, {})["padro"]["id"]
    answer = client.post(f"/tickets/{ticket}/topics", data={"topic": [str(padro)]}, headers=csrf(client),
                         follow_redirects=False)
    assert answer.status_code == 303
    page = client.get(f"/tickets/{ticket}").text
    assert "Topics saved." in page and "No topic yet." not in page
    assert f'value="{padro}" checked' in page
    assert f'data-ticket-id="{ticket}"' in client.get(f"/?topic={padro}").text
    rebuts = _by_key(client, {})["rebuts"]["id"]
    assert f'data-ticket-id="{ticket}"' not in client.get(f"/?topic={rebuts}").text
    # every box unchecked: the consultation has no topic again
    client.post(f"/tickets/{ticket}/topics", data={}, headers=csrf(client))
    assert "No topic yet." in client.get(f"/tickets/{ticket}").text


def test_managers_edit_topics_on_the_settings_page(client: TestClient[Litestar], settings: Settings) -> None:
    login(client, "agent@example.org")
    assert "topics-title" not in client.get("/settings").text
    assert client.post("/settings/topics", data={"name_ca": "X"}, headers=csrf(client),
                       follow_redirects=False).status_code == 403
    login(client, "manager@example.org")
    client.post("/settings/topics", data={"name_ca": "Bonificacions", "name_es": "Bonificaciones", "name_en": ""},
                headers=csrf(client))
    topics = _by_key(client, {})
    assert topics["bonificacions"]["names"] == {"ca": "Bonificacions", "es": "Bonificaciones"}
    client.post(f"/settings/topics/{topics['ovt']['id']}", data={
        "name_ca": "OVT", "name_es": "OVT", "name_en": "Tax office"}, headers=csrf(client))
    ovt = _by_key(client, {})["ovt"]
    assert ovt["names"]["ca"] == "OVT" and ovt["active"] is False  # unchecked box: switched off
    assert "Bonificacions" in client.get("/settings").text


def test_stats_count_by_topic_in_json_and_csv(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], manager: dict[str, str],
) -> None:
    padro = _by_key(client, agent)["padro"]["id"]
    tickets = [citizen_writes(settings, "email", f"Padró {i}") for i in range(3)]
    for ticket in tickets[:2]:
        client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent)
        client.put(f"/api/v1/tickets/{ticket}/topics", json={"topics": [padro]}, headers=agent)
        client.post(f"/api/v1/tickets/{ticket}/messages", json={"body": "Aquí té l'enllaç"}, headers=agent)
    client.post(f"/api/v1/tickets/{tickets[0]}/resolve", headers=agent)
    stats = client.get("/api/v1/stats", headers=manager).json()
    (row,) = stats["by_topic"]
    assert row["key"] == "padro" and row["consultations"] == 2 and row["resolved"] == 1
    assert row["wait"]["count"] == 2 and row["resolution"]["count"] == 1
    assert row["resolution"]["average_s"] is not None and row["resolution"]["average_s"] >= 0
    assert client.get("/api/v1/stats?channel=whatsapp", headers=manager).json()["by_topic"] == []
    csv = client.get("/api/v1/stats.csv", headers=manager).text
    assert f'"topic","{padro} padro","consultations","2"' in csv
    assert f'"topic","{padro} padro","resolved","1"' in csv
    table = client.get("/api/v1/stats.csv?table=topics", headers=manager).text.splitlines()
    assert len(table) == 2 and "Census registration (padró)" in table[1] and ",2,1," in table[1]


def test_the_topic_rule_does_not_leave_a_call_logged_as_resolving_open(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], manager: dict[str, str],
) -> None:
    """A call logged with "resolve" on an email consultation resolves it even when the office
    requires topics (the call form has its own topic text); agents resolving still need one."""
    ticket = citizen_writes(settings, "email", "Truqueu-me, si us plau", who="truca@example.net")
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent)
    login(client, "manager@example.org")
    client.post("/settings/topics/required", data={"required": "1"}, headers=csrf(client))
    assert client.post(f"/api/v1/tickets/{ticket}/resolve", headers=agent).status_code == 409
    logged = client.post("/api/v1/calls", json={"number": "600 11 12 99", "duration_s": 60, "ticket_id": ticket,
                                                "resolve": True}, headers=agent)
    assert logged.status_code == 201, logged.text
    assert client.get(f"/api/v1/tickets/{ticket}", headers=agent).json()["ticket"]["status"] == "resolved"
