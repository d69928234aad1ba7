"""The calls API and pages: POST /api/v1/calls, lookup, list, merge; the log-a-call form."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import select

from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Call, Contact, Ticket
from tests.support.agent_ui import Logins, _make_agents, citizen_writes, csrf, login
from tests.support.cookies import csrf_token


@pytest.fixture
def logins(settings: Settings) -> Logins:
    return asyncio.run(_make_agents(settings))


@pytest.fixture
def client(settings: Settings, logins: Logins) -> Iterator[TestClient[Litestar]]:
    from entrypoints.web import create_app

    with TestClient(create_app(settings), base_url="https://testserver.local") as c:
        yield c


@pytest.fixture
def agent(client: TestClient[Litestar]) -> TestClient[Litestar]:
    assert login(client, "agent@example.org").status_code == 303
    return client


def rows(settings: Settings, table: Any, *where: Any) -> list[Any]:
    async def read() -> list[Any]:
        ctx = HubContext.create(settings)
        try:
            async with ctx.sessionmaker() as s:
                return list((await s.exec(select(table).where(*where).order_by(table.id))).all())
        finally:
            await ctx.close()

    return asyncio.run(read())


def api_post(client: TestClient[Litestar], path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body, headers=csrf(client))


def test_logging_a_call_through_the_api(agent: TestClient[Litestar], settings: Settings, logins: Logins) -> None:
    ticket_id = citizen_writes(settings, "whatsapp", who="+34600111222")
    response = api_post(agent, "/api/v1/calls", {
        "number": "600 11 12 22", "duration_s": 90, "topic": "Padró", "ticket_id": ticket_id,
    })
    assert response.status_code == 201, response.text
    out = response.json()
    assert out["ticket_id"] == ticket_id and not out["new_ticket"]
    [call] = rows(settings, Call)
    assert (call.number, call.agent_id, call.duration_s, call.topic) == ("+34600111222", logins.agent, 90, "Padró")
    listed = agent.get("/api/v1/calls").json()
    assert [c["id"] for c in listed] == [call.id] and listed[0]["number"] == "+34600111222"


def test_a_missed_call_through_the_api_is_a_call_back_task(agent: TestClient[Litestar], settings: Settings) -> None:
    out = api_post(agent, "/api/v1/calls", {"number": "973 93 02 47", "outcome": "missed"}).json()
    [task] = rows(settings, Ticket)
    assert out["ticket_id"] == task.id and task.kind == "callback"
    assert [c["done"] for c in agent.get("/api/v1/calls?pending=true").json()] == [False]
    back = api_post(agent, "/api/v1/calls", {"number": "+34973930247", "direction": "outbound", "duration_s": 30}).json()
    assert back["called_back_ticket_ids"] == [task.id]
    assert agent.get("/api/v1/calls?pending=true").json() == []


BAD_CALLS: list[tuple[dict[str, Any], int, str]] = [
    ({"number": "hola"}, 422, "no digits"),
    ({"number": "973 93 02"}, 422, "digits|not a number"),
    ({"number": "973930247", "outcome": "lost"}, 400, "outcome"),
    ({"number": "973930247", "direction": "up"}, 400, "direction"),
    ({"number": "973930247", "duration_s": -5}, 400, "duration_s"),
    ({"number": "973930247", "surprise": 1}, 400, "surprise"),
    ({"number": "973930247", "ticket_id": 4242}, 404, "4242"),
    ({}, 422, "number"),
    ({"number": "973930247", "outcome": "missed", "duration_s": 10}, 422, "talking time"),
]


def test_bad_calls_are_refused_with_a_clear_message_and_change_nothing(agent: TestClient[Litestar], settings: Settings) -> None:
    import re

    for body, status, words in BAD_CALLS:  # one login for all cases: logins are slow on purpose
        response = api_post(agent, "/api/v1/calls", body)
        assert response.status_code == status, (body, response.text)
        assert re.search(words, response.json()["detail"] + str(response.json().get("extra", ""))), (body, response.text)
    assert rows(settings, Call) == [] and rows(settings, Contact) == []


def test_an_agent_cannot_log_for_a_colleague_but_a_manager_can(client: TestClient[Litestar], logins: Logins) -> None:
    login(client, "agent@example.org")
    assert api_post(client, "/api/v1/calls", {"number": "973930247", "agent_id": logins.agent2}).status_code == 403
    client.post("/logout", headers=csrf(client))
    login(client, "manager@example.org")
    assert api_post(client, "/api/v1/calls", {"number": "973930247", "agent_id": logins.agent2}).status_code == 201


def test_the_api_needs_a_login(client: TestClient[Litestar]) -> None:
    assert client.post("/api/v1/calls", json={"number": "973930247"}).status_code in (401, 403)
    assert client.get("/api/v1/calls").status_code == 401


def test_lookup_shows_the_contact_s_consultations_on_every_channel(agent: TestClient[Litestar], settings: Settings) -> None:
    wa = citizen_writes(settings, "whatsapp", who="+34600111222")
    out = agent.get("/api/v1/calls/lookup", params={"number": "0034 600 111 222"}).json()
    assert out["number"] == "+34600111222" and out["contact"]["identities"] == [{"kind": "phone", "value": "+34600111222"}]
    assert [t["id"] for t in out["open_tickets"]] == [wa]
    assert agent.get("/api/v1/calls/lookup", params={"number": "x"}).status_code == 422
    fragment = agent.get("/calls/lookup", params={"number": "600111222"}, headers={"X-Hub-Fragment": "1"})
    assert fragment.status_code == 200 and f'value="{wa}"' in fragment.text


def test_merging_contacts_through_the_api(agent: TestClient[Litestar], settings: Settings) -> None:
    citizen_writes(settings, "email", who="anna@example.org")
    api_post(agent, "/api/v1/calls", {"number": "600111222", "outcome": "missed"})
    mail_contact, phone_contact = rows(settings, Contact)
    response = api_post(agent, f"/api/v1/contacts/{phone_contact.id}/merge", {"into": mail_contact.id})
    assert response.status_code == 200, response.text
    assert response.json()["tickets"] == 1 and response.json()["calls"] == 1
    assert {t.contact_id for t in rows(settings, Ticket)} == {mail_contact.id}
    again = api_post(agent, f"/api/v1/contacts/{phone_contact.id}/merge", {"into": mail_contact.id})
    assert again.status_code == 409 and "merged already" in again.json()["detail"]
    assert api_post(agent, "/api/v1/contacts/999/merge", {"into": mail_contact.id}).status_code == 404


def test_the_log_a_call_form_end_to_end(agent: TestClient[Litestar], settings: Settings) -> None:
    wa = citizen_writes(settings, "whatsapp", who="+34600111222")
    page = agent.get("/calls/new", params={"number": "600 111 222"})
    assert page.status_code == 200 and f'value="{wa}"' in page.text and "<h1>" in page.text
    response = agent.post("/calls", data={
        "number": "600 111 222", "direction": "inbound", "outcome": "answered", "duration": "4:30",
        "topic": "Rebut", "notes": "", "ticket": str(wa), "_csrf_token": csrf_token(agent),
    }, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/calls"
    [call] = rows(settings, Call)
    assert (call.ticket_id, call.duration_s, call.topic) == (wa, 270, "Rebut")
    listing = agent.get("/calls")
    assert listing.status_code == 200 and "Rebut" in listing.text
    bad = agent.post("/calls", data={"number": "hola", "_csrf_token": csrf_token(agent)},
                     follow_redirects=False)
    # the form again as typed, the message tied to the number's field (issue 14, item 8)
    assert bad.status_code == 422 and 'value="hola"' in bad.text
    assert 'id="call-error"' in bad.text and 'aria-invalid="true"' in bad.text
    assert len(rows(settings, Call)) == 1


def test_the_form_needs_the_csrf_token(agent: TestClient[Litestar], settings: Settings) -> None:
    response = agent.post("/calls", data={"number": "973930247"}, follow_redirects=False)
    assert response.status_code == 403 and rows(settings, Call) == []


def test_the_merge_form(agent: TestClient[Litestar], settings: Settings) -> None:
    citizen_writes(settings, "email", who="anna@example.org")
    api_post(agent, "/api/v1/calls", {"number": "600111222"})
    token = csrf_token(agent)
    unconfirmed = agent.post("/contacts/merge", data={"merge": "600 111 222", "into": "anna@example.org",
                                                      "_csrf_token": token}, follow_redirects=False)
    assert unconfirmed.status_code == 422 and all(c.merged_into_id is None for c in rows(settings, Contact))
    # the form again as typed, the message under the box to tick (issue 14, item 8)
    assert 'value="600 111 222"' in unconfirmed.text and 'value="anna@example.org"' in unconfirmed.text
    assert 'name="confirm" required aria-invalid="true" aria-describedby="merge-error"' in unconfirmed.text
    done = agent.post("/contacts/merge", data={"merge": "600 111 222", "into": "anna@example.org", "confirm": "on",
                                               "_csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    mail_contact, phone_contact = rows(settings, Contact)
    assert phone_contact.merged_into_id == mail_contact.id


def test_the_ringing_fragment_shows_who_is_calling(agent: TestClient[Litestar], settings: Settings) -> None:
    from datetime import UTC, datetime

    from hub.actions.calls import do_record_call_signal
    from hub.calls import CallSignal, Signal

    citizen_writes(settings, "whatsapp", who="+34600111222")

    async def ring() -> None:
        ctx = HubContext.create(settings)
        try:
            await do_record_call_signal(ctx, CallSignal(
                "CA1", Signal.RINGING, datetime.now(UTC), "inbound", "+34600111222", None, 0))
        finally:
            await ctx.close()

    asyncio.run(ring())
    fragment = agent.get("/calls/ringing", headers={"X-Hub-Fragment": "1"})
    assert fragment.status_code == 200 and "Laia Pons" in fragment.text and "600 11 12 22" in fragment.text
    assert "Laia Pons" in agent.get("/calls").text
    banner = agent.get("/calls/ringing?banner=1", headers={"X-Hub-Fragment": "1"})
    assert "Laia Pons" in banner.text and 'href="/calls"' in banner.text


def test_the_ringing_banner_is_empty_while_no_call_rings(agent: TestClient[Litestar]) -> None:
    assert agent.get("/calls/ringing?banner=1", headers={"X-Hub-Fragment": "1"}).text.strip() == ""
    assert "No call is ringing" in agent.get("/calls/ringing", headers={"X-Hub-Fragment": "1"}).text


def test_a_call_twilio_logged_is_filed_through_the_api(agent: TestClient[Litestar], settings: Settings) -> None:
    from datetime import UTC, datetime, timedelta

    from hub.actions.calls import do_record_call_signal
    from hub.calls import CallSignal, Signal

    async def answered_call() -> int:
        ctx = HubContext.create(settings)
        t = datetime.now(UTC) - timedelta(minutes=3)
        try:
            await do_record_call_signal(ctx, CallSignal("CA7", Signal.ANSWERED, t, "inbound", "+34973930247", None, 1))
            return await do_record_call_signal(
                ctx, CallSignal("CA7", Signal.COMPLETED, t + timedelta(seconds=80), "inbound", "+34973930247", 80, 2))
        finally:
            await ctx.close()

    call_id = asyncio.run(answered_call())
    assert [c["id"] for c in agent.get("/api/v1/calls?unfiled=true").json()] == [call_id]
    assert "/calls/new?call_id=" in agent.get("/calls").text
    out = api_post(agent, "/api/v1/calls", {"call_id": call_id, "topic": "Taxes", "follow_up": True}).json()
    [ticket] = rows(settings, Ticket)
    assert out["call_id"] == call_id and out["ticket_id"] == ticket.id and ticket.status == "waiting"
    assert agent.get("/api/v1/calls?unfiled=true").json() == []
