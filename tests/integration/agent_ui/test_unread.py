"""What is new, kept on the server: each agent's unread count (`hub.actions.seen`,
`GET /api/v1/agents/me/unread`, `POST`/`DELETE /api/v1/tickets/{id}/seen`, the queue's `unread`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from hub.context import HubContext
from tests.support.agent_ui import citizen_writes, login
from tests.support.agent_ui import token_for


def unread(client: TestClient[Litestar], headers: dict[str, str]) -> dict[int, int]:
    answer = client.get("/api/v1/agents/me/unread", headers=headers)
    assert answer.status_code == 200, answer.text
    got = answer.json()
    tickets = {t["ticket_id"]: t["unread"] for t in got["tickets"]}
    assert got["consultations"] == len(tickets)
    return tickets


def late_message(settings: Settings, number: str, body: str, stamped: datetime) -> None:
    """A citizen's message whose provider time is earlier than now (delivered late)."""
    from hub.actions.messages import do_receive_message
    from hub.inbound import IdentityIn, InboundMessage

    async def go() -> None:
        ctx = HubContext.create(settings)
        try:
            await do_receive_message(ctx, InboundMessage(
                channel="whatsapp", provider_id=f"late-{body}", received_at=stamped, body=body,
                identities=[IdentityIn("phone", number)]))
        finally:
            await ctx.close()

    asyncio.run(go())


def test_my_unread_count_is_kept_on_the_server_the_same_on_every_device(
    client: TestClient[Litestar], settings: Settings,
) -> None:
    number = "+34600777001"
    ticket = citizen_writes(settings, "whatsapp", "Hola", who=number)  # and "Em dic Laia Pons"
    phone, laptop = token_for(client, "agent@example.org"), token_for(client, "agent@example.org")
    assert client.post(f"/api/v1/tickets/{ticket}/assign", headers=phone).status_code == 200
    assert unread(client, phone) == {ticket: 2}  # never opened: everything the citizen wrote is new
    queue = client.get("/api/v1/queue", headers=laptop).json()
    assert queue["unread"] == 1 and [t["unread"] for t in queue["mine"]["tickets"]] == [2]

    assert client.post(f"/api/v1/tickets/{ticket}/seen", headers=phone).json()["consultations"] == 0
    assert unread(client, laptop) == {}  # read on the phone: read on the laptop too

    citizen_writes(settings, "whatsapp", "Encara hi sou?", who=number, identify=False)
    citizen_writes(settings, "whatsapp", "Hola?", who=number, identify=False)
    assert unread(client, laptop) == {ticket: 2}
    assert unread(client, token_for(client, "agent2@example.org")) == {}  # a colleague's ticket is not theirs

    assert client.delete(f"/api/v1/tickets/{ticket}/seen", headers=laptop).status_code == 200  # mark as unread
    client.post(f"/api/v1/tickets/{ticket}/seen", headers=laptop)
    assert client.delete(f"/api/v1/tickets/{ticket}/seen", headers=laptop).json()["tickets"] == [
        {"ticket_id": ticket, "unread": 1}]  # the latest message is new again, not the whole conversation


def test_opening_the_ticket_page_marks_it_seen_and_a_late_message_is_still_new(
    client: TestClient[Litestar], settings: Settings,
) -> None:
    number = "+34600777002"
    ticket = citizen_writes(settings, "whatsapp", "Hola", who=number)
    token = token_for(client, "agent@example.org")
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=token)
    assert login(client, "agent@example.org").status_code in (302, 303)
    assert client.get(f"/tickets/{ticket}").status_code == 200
    assert unread(client, token) == {}
    # stamped an hour before the agent looked, delivered now: still new (ids, not times)
    late_message(settings, number, "Ho havia enviat abans", datetime.now(UTC) - timedelta(hours=1))
    assert unread(client, token) == {ticket: 1}
    page = client.get("/")
    assert 'data-unread-total="1"' in page.text and "1 new message" in page.text
    assert "the citizen wrote" in page.text


def test_a_consultation_that_is_no_longer_mine_leaves_my_count(
    client: TestClient[Litestar], settings: Settings,
) -> None:
    ticket = citizen_writes(settings, "whatsapp", "Hola", who="+34600777003")
    token = token_for(client, "agent@example.org")
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=token)
    assert unread(client, token) == {ticket: 2}
    assert client.post(f"/api/v1/tickets/{ticket}/resolve", headers=token, json={"send_survey": False}).status_code == 200
    assert unread(client, token) == {}


def test_seen_for_a_ticket_that_does_not_exist_is_404(client: TestClient[Litestar]) -> None:
    token = token_for(client, "agent@example.org")
    assert client.post("/api/v1/tickets/999999/seen", headers=token).status_code == 404
    assert client.delete("/api/v1/tickets/999999/seen", headers=token).status_code == 404


def test_seen_for_an_id_beyond_any_row_is_404_not_a_crash(client: TestClient[Litestar]) -> None:
    token = token_for(client, "agent@example.org")
    for method in ("post", "delete"):
        assert getattr(client, method)("/api/v1/tickets/99999999999999/seen", headers=token).status_code in (400, 404)
