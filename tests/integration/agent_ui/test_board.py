"""The supervisor board: `POST /api/v1/tickets/bulk` (one answer per id, permissions per ticket,
audit with the change) and `GET /api/v1/board` (open consultations by lane and agent)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from hub.context import HubContext
from tests.support.agent_ui import Logins, citizen_writes
from tests.support.agent_ui import token_for
from tests.support.cookies import csrf_token




def available(client: TestClient[Litestar], *who: dict[str, str]) -> None:
    for headers in who:
        assert client.put("/api/v1/agents/me/presence", json={"status": "available"}, headers=headers).status_code == 200


def audit_actions(settings: Settings, ticket_id: int) -> list[str]:
    from sqlmodel import select

    from hub.db.tables import AuditEntry

    async def read() -> list[str]:
        ctx = HubContext.create(settings)
        try:
            async with ctx.sessionmaker() as session:
                rows = (await session.exec(select(AuditEntry).where(AuditEntry.target_id == str(ticket_id)))).all()
                return [r.action for r in rows if r.detail.get("bulk")]
        finally:
            await ctx.close()

    return asyncio.run(read())


def test_a_manager_assigns_many_at_once_and_each_answer_says_how_it_went(
    client: TestClient[Litestar], settings: Settings, manager: dict[str, str], logins: Logins,
) -> None:
    one, two = citizen_writes(settings, "email"), citizen_writes(settings, "email")
    stranger = citizen_writes(settings, "whatsapp", identify=False)  # still identifying: cannot be assigned
    available(client, token_for(client, "agent2@example.org"))  # after they arrived: nothing assigned itself
    answer = client.post("/api/v1/tickets/bulk", headers=manager, json={
        "ids": [one, two, stranger, 999999], "action": "assign", "agent_id": logins.agent2})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert [(r["id"], r["ok"], r["error"]) for r in got["results"]] == [
        (one, True, None), (two, True, None), (stranger, False, "conflict"), (999999, False, "not_found")]
    assert got["done"] == 2 and got["failed"] == 2
    for ticket in (one, two):
        assert client.get(f"/api/v1/tickets/{ticket}", headers=manager).json()["ticket"]["assignee_id"] == logins.agent2
    assert audit_actions(settings, one) == ["ticket.assign"]

    board = client.get("/api/v1/board", headers=manager).json()
    mine = next(a for a in board["agents"] if a["id"] == logins.agent2)
    assert {t["id"] for t in mine["tickets"]} == {one, two} and mine["load"] == 2 and mine["presence"] == "available"
    assert [t["id"] for t in board["identifying"]] == [stranger]

    answer = client.post("/api/v1/tickets/bulk", headers=manager, json={"ids": [one, two], "action": "unassign"})
    assert [r["status"] for r in answer.json()["results"]] == ["waiting", "waiting"]
    answer = client.post("/api/v1/tickets/bulk", headers=manager, json={"ids": [one, two], "action": "resolve"})
    assert [r["status"] for r in answer.json()["results"]] == ["resolved", "resolved"]
    assert sorted(audit_actions(settings, two)) == ["ticket.assign", "ticket.resolve", "ticket.unassign"]


def test_an_agent_cannot_act_on_a_colleagues_ticket_in_bulk(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], logins: Logins,
) -> None:
    agent2 = token_for(client, "agent2@example.org")
    theirs, unowned = citizen_writes(settings, "email"), citizen_writes(settings, "email")
    assert client.post(f"/api/v1/tickets/{theirs}/assign", headers=agent2).status_code == 200
    answer = client.post("/api/v1/tickets/bulk", headers=agent, json={"ids": [theirs, unowned], "action": "resolve"})
    results = answer.json()["results"]
    assert (results[0]["ok"], results[0]["error"]) == (False, "forbidden")
    assert (results[1]["ok"], results[1]["status"]) == (True, "resolved")
    assert client.get(f"/api/v1/tickets/{theirs}", headers=agent).json()["ticket"]["status"] == "assigned"


def test_bad_bulk_requests_change_nothing(
    client: TestClient[Litestar], settings: Settings, manager: dict[str, str],
) -> None:
    ticket = citizen_writes(settings, "email")
    for body in ({"ids": [ticket], "action": "delete"}, {"ids": [], "action": "resolve"},
                 {"ids": [ticket], "action": "assign"}, {"ids": ["x"], "action": "resolve"},
                 {"ids": list(range(1, 300)), "action": "resolve"}, {"ids": [ticket], "action": "resolve", "x": 1}):
        assert client.post("/api/v1/tickets/bulk", headers=manager, json=body).status_code == 400, body
    assert client.get(f"/api/v1/tickets/{ticket}", headers=manager).json()["ticket"]["status"] == "waiting"


def test_reopen_through_the_api_and_the_ticket_page_says_when_it_cannot(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], logins: Logins,
) -> None:
    from tests.support.agent_ui import login

    available(client, agent)
    email = citizen_writes(settings, "email")
    whatsapp = citizen_writes(settings, "whatsapp")
    for ticket in (email, whatsapp):
        client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent)
        assert client.post(f"/api/v1/tickets/{ticket}/resolve", headers=agent).status_code == 200
    answer = client.post(f"/api/v1/tickets/{email}/reopen", headers=agent)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["status"], answer.json()["assignee_id"]) == ("assigned", logins.agent)
    assert client.post(f"/api/v1/tickets/{email}/reopen", headers=agent).status_code == 409  # open already
    answer = client.post(f"/api/v1/tickets/{whatsapp}/reopen", headers=agent)
    assert answer.status_code == 409 and "opens a new one" in answer.json()["detail"]
    assert client.post("/api/v1/tickets/999999/reopen", headers=agent).status_code == 404
    other = token_for(client, "agent2@example.org")
    assert client.post(f"/api/v1/tickets/{whatsapp}/reopen", headers=other).status_code == 403

    assert client.post(f"/api/v1/tickets/{email}/resolve", headers=agent).status_code == 200
    client.cookies.clear()
    login(client, "agent@example.org")
    page = client.get(f"/tickets/{whatsapp}").text
    assert 'id="reopen-note"' in page and 'id="reopen"' not in page
    page = client.get(f"/tickets/{email}").text
    assert 'id="reopen"' in page


def test_my_lane_sorts_by_latest_activity_or_by_the_longest_waiting_citizen(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str],
) -> None:
    import re

    from tests.support.agent_ui import login

    older = citizen_writes(settings, "email", "Primer")
    newer = citizen_writes(settings, "email", "Segon")
    for ticket in (older, newer):
        assert client.post(f"/api/v1/tickets/{ticket}/assign", headers=agent).status_code == 200
    assert client.post(f"/api/v1/tickets/{newer}/notes", json={"body": "mirant-ho"}, headers=agent).status_code == 201
    client.post(f"/api/v1/tickets/{newer}/messages", json={"body": "Ara ho miro"}, headers=agent)
    client.cookies.clear()
    login(client, "agent@example.org")

    def mine(url: str) -> list[int]:
        html = client.get(url).text
        lane = html[html.index('id="lane-mine"'):]
        return [int(i) for i in re.findall(r'data-ticket-id="(\d+)"', lane)]

    assert mine("/queue/lanes") == [newer, older]
    assert mine("/queue/lanes?sort=waiting") == [older, newer]
    page = client.get("/?sort=waiting").text
    assert 'data-live-src="/queue/lanes?sort=waiting"' in page and '<option value="waiting" selected' in page



def test_a_live_refresh_running_across_a_bulk_action_keeps_its_flash(
    app: Litestar, client: TestClient[Litestar], settings: Settings, logins: Logins,
) -> None:
    """The board's live refresh (GET /board/fragment) read the session before the bulk POST
    stored its "Done" flash and, answering after it, wrote the old session back: the flash was
    gone by the time the board showed. Forced here in that order, not by timing: the refresh
    runs in a thread and is held at its session write (if it makes one) until the POST is done."""
    import threading

    import anyio
    from litestar.stores.base import Store

    from tests.support.agent_ui import login

    one, two = citizen_writes(settings, "email"), citizen_writes(settings, "email")
    available(client, token_for(client, "agent2@example.org"))
    client.cookies.clear()
    assert login(client, "manager@example.org").status_code in (302, 303)
    assert client.get("/board").status_code == 200

    real = app.stores.get("sessions")
    writing, release = threading.Event(), threading.Event()
    held = {"armed": True}

    class HeldStore(Store):  # the sessions' store (memory or Redis), its next write held when armed
        async def get(self, key: str, renew_for: Any = None) -> Any:
            return await real.get(key, renew_for)

        async def set(self, key: str, value: Any, expires_in: Any = None) -> None:
            if held.pop("armed", False):  # the first write after arming is the refresh's
                writing.set()
                await anyio.to_thread.run_sync(release.wait, 30)
            await real.set(key, value, expires_in)

        async def delete(self, key: str) -> None:
            await real.delete(key)

        async def delete_all(self) -> None:
            await real.delete_all()

        async def exists(self, key: str) -> bool:
            return await real.exists(key)

        async def expires_in(self, key: str) -> int | None:
            return await real.expires_in(key)

    app.stores.register("sessions", HeldStore(), allow_override=True)
    refreshed: list[int] = []
    refresh = threading.Thread(target=lambda: refreshed.append(client.get("/board/fragment").status_code))
    refresh.start()
    while not writing.is_set() and refresh.is_alive():  # it has read the session: written, or about to
        refresh.join(0.01)
    held.pop("armed", None)
    bulk = client.post("/board/bulk", data={
        "ids": [str(one), str(two)], "action": "assign", "agent_id": str(logins.agent2),
        "_csrf_token": csrf_token(client)}, follow_redirects=False)
    assert bulk.status_code == 303
    release.set()
    refresh.join(30)
    assert refreshed == [200]
    assert "Done: 2 of 2." in client.get("/board").text


def test_the_board_keeps_each_lane_in_the_queue_order_or_latest_activity_first(
    client: TestClient[Litestar], settings: Settings,
) -> None:
    import re

    from tests.support.agent_ui import login

    older = citizen_writes(settings, "email", "Primer")
    newer = citizen_writes(settings, "email", "Segon")
    login(client, "manager@example.org")

    def waiting(url: str) -> list[int]:
        html = client.get(url).text
        lane = html[html.index('id="board-waiting-title"'):]
        lane = lane[:lane.index("</section>")]
        return [int(i) for i in re.findall(r'data-ticket-id="(\d+)"', lane)]

    assert waiting("/board/fragment") == [older, newer]
    assert waiting("/board/fragment?sort=activity") == [newer, older]
    assert waiting("/board/fragment?sort=nonsense") == [older, newer]
    page = client.get("/board?sort=activity").text
    assert 'data-live-src="/board/fragment?sort=activity"' in page and '<option value="activity" selected' in page
    assert waiting("/board?sort=activity") == [newer, older]
