"""Finding 13.10: bad input is a 4xx, never a 500; a 500 that still happens is logged with its request id.

Reproduction: ids of 10^23 in `before`, `assignee_id`, `stats?agent`, merge `into` and assign
`agent_id` reached the database driver (an overflow on PostgreSQL: 500); `CallDuration` and
`SequenceNumber` of 10^23 in a signed voice callback did the same; the UI's `agent_id=²` passed
`str.isdigit` and failed in `int` (500). Multipart posts to webhooks: tests/integration/security/test_webhook_limits.py.
"""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from channels.twilio_webhooks import signing_token
from hub.config import Settings
from tests.support.agent_ui import PASSWORD, Logins, app, citizen_writes, client, csrf, login, logins  # noqa: F401
from tests.support import fake_twilio
from tests.support.whatsapp_channel import channel_settings

HUGE = 10**23


def bearer(client: TestClient[Litestar], email: str) -> dict[str, str]:
    answer = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    return {"authorization": f"Bearer {answer.json()['token']}"}


def test_huge_ids_in_queries_and_bodies_are_400(client: TestClient[Litestar], settings: Settings) -> None:
    ticket_id = citizen_writes(settings, "email", "Hola")
    admin = bearer(client, "admin@example.org")
    answers = {
        "before": client.get(f"/api/v1/tickets?before={HUGE}", headers=admin),
        "assignee_id": client.get(f"/api/v1/tickets?assignee_id={HUGE}", headers=admin),
        "stats agent": client.get(f"/api/v1/stats?agent={HUGE}", headers=admin),
        "stats agent ²": client.get("/api/v1/stats?agent=%C2%B2", headers=admin),
        "merge into": client.post("/api/v1/contacts/1/merge", json={"into": HUGE}, headers=admin),
        "assign agent_id": client.post(f"/api/v1/tickets/{ticket_id}/assign", json={"agent_id": HUGE}, headers=admin),
        "audit before": client.get(f"/api/v1/audit?before={HUGE}", headers=admin),
        "audit agent_id": client.get(f"/api/v1/audit?agent_id={HUGE}", headers=admin),
        "NUL in a query": client.get("/api/v1/audit?action=a%00b", headers=admin),
        "calls before": client.get(f"/api/v1/calls?before={2**40}", headers=admin),  # overflows PostgreSQL's int
        "bulk ids": client.post("/api/v1/tickets/bulk", json={"action": "resolve", "ids": [-75341024460]}, headers=admin),
        "bulk agent_id": client.post("/api/v1/tickets/bulk", json={"action": "assign", "ids": [ticket_id], "agent_id": HUGE},
                                     headers=admin),
        "call agent_id": client.post("/api/v1/calls", json={"number": "+34600111222", "agent_id": HUGE}, headers=admin),
    }
    assert {name: a.status_code for name, a in answers.items()} == {name: 400 for name in answers}


def test_the_ui_assign_form_with_a_superscript_digit_is_a_4xx(client: TestClient[Litestar], settings: Settings) -> None:
    ticket_id = citizen_writes(settings, "email", "Hola")
    assert login(client, "admin@example.org").status_code in (302, 303)
    answer = client.post(f"/tickets/{ticket_id}/assign", data={"agent_id": "²", **{"_csrf_token": csrf(client)["x-csrftoken"]}},
                         follow_redirects=False)
    assert 400 <= answer.status_code < 500, answer.text
    merge = client.post("/contacts/merge", data={"merge": f"#{HUGE}", "into": "#1", "confirm": "on",
                                                 "_csrf_token": csrf(client)["x-csrftoken"]}, follow_redirects=False)
    assert merge.status_code == 422  # the form again with "no contact is known as ..." under the field


@pytest.mark.parametrize("field", ["CallDuration", "SequenceNumber"])
def test_huge_numbers_in_a_signed_voice_callback_are_400(client: TestClient[Litestar], settings: Settings,
                                                          field: str) -> None:
    form = {"CallSid": "CA" + "1" * 32, "AccountSid": "AC" + "0" * 32, "CallStatus": "completed",
            "From": "+34600111222", "To": "+34973000000", "Direction": "inbound", field: str(HUGE)}
    path = "/webhooks/twilio/voice"
    token = signing_token(settings, channel_settings().twilio_auth_token)  # what the running app checks against
    headers = fake_twilio.signed_headers(token, settings.public_url + path, form)
    answer = client.post(path, data=form, headers=headers)
    assert answer.status_code == 400, answer.text


def test_a_server_error_is_logged_with_its_request_id() -> None:
    from agent_ui.errors import EXCEPTION_HANDLERS
    from runtime.metrics import observe

    @get("/boom")
    async def boom() -> None:
        raise RuntimeError("the bug")

    class Keep(logging.Handler):
        records: list[logging.LogRecord] = []

        def emit(self, record: logging.LogRecord) -> None:
            self.records.append(record)

    keep = Keep(logging.ERROR)
    logging.getLogger("hub.errors").addHandler(keep)
    app = Litestar([boom], middleware=[observe], exception_handlers=EXCEPTION_HANDLERS)  # type: ignore[arg-type]
    try:
        with TestClient(app) as test:
            answer = test.get("/boom", headers={"x-request-id": "req-4242"})
    finally:
        logging.getLogger("hub.errors").removeHandler(keep)
    assert answer.status_code == 500 and answer.json()["request_id"] == "req-4242"
    assert "the bug" not in answer.text
    [record] = keep.records
    assert "req-4242" in record.getMessage() and record.exc_info is not None
