"""Every route of the app, asked by nobody and by each role, answers exactly as the table says.

The routes come from the app itself (`app.routes`), so a new route without an entry in
`EXPECTED` fails this test: whoever adds a route decides here who may use it.

Kinds of route:
- PUBLIC: anyone (health, login, survey, static files, the API schema).
- SIGNED: provider webhooks; without a valid signature they refuse everybody with 403,
  logged-in staff included (a session is no substitute for Twilio's signature).
- ANY: any logged-in agent, manager or admin. MANAGERS: managers and admins. ADMINS: admins.
- STREAM: the live-update stream (only the refusal of anonymous clients is checked here:
  a granted stream never ends, see tests/integration/agent_ui/test_live.py for the live push).
Denied means 401 (or a redirect to the login page) when not logged in, 403 for a wrong role.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from hub.config import Settings
from tests.support.agent_ui import PASSWORD, citizen_writes, login
from tests.support.cookies import csrf_token

PUBLIC, SIGNED, ANY, MANAGERS, ADMINS, STREAM = "public", "signed", "any", "managers", "admins", "stream"
OPERATORS = "operators"  # an allow-listed network or HUB_METRICS_TOKEN, whatever the login (tests/integration/security/test_hardening.py)
ROLES = ("agent", "manager", "admin")
ALLOWED = {PUBLIC: {None, *ROLES}, ANY: set(ROLES), MANAGERS: {"manager", "admin"}, ADMINS: {"admin"}}

EXPECTED: dict[tuple[str, str], str] = {
    # operations and the public side
    ("GET", "/healthz"): PUBLIC, ("GET", "/readyz"): PUBLIC, ("GET", "/metrics"): OPERATORS,
    ("GET", "/login"): PUBLIC, ("POST", "/login"): PUBLIC, ("POST", "/language"): PUBLIC,
    ("POST", "/api/v1/auth/token"): PUBLIC,
    ("GET", "/survey/{token:str}"): PUBLIC, ("POST", "/survey/{token:str}"): PUBLIC,
    ("GET", "/static/{file_path:path}"): PUBLIC, ("HEAD", "/static/{file_path:path}"): PUBLIC,
    ("GET", "/schema"): PUBLIC, ("GET", "/schema/swagger"): PUBLIC, ("GET", "/schema/openapi.json"): PUBLIC,
    ("GET", "/media/{token:str}"): PUBLIC, ("HEAD", "/media/{token:str}"): PUBLIC,  # signed, expiring (Twilio fetches)
    ("GET", "/schema/{path:str}"): PUBLIC, ("GET", "/calendar/{token:str}/closures.ics"): PUBLIC, ("GET", "/schema/oauth2-redirect.html"): PUBLIC,
    # provider webhooks
    ("POST", "/webhooks/twilio/whatsapp"): SIGNED, ("POST", "/webhooks/twilio/status"): SIGNED,
    ("POST", "/webhooks/twilio/voice"): SIGNED,
    # every agent
    ("GET", "/events"): STREAM,
    ("POST", "/logout"): ANY, ("POST", "/presence"): ANY,
    ("GET", "/api/v1/agents/me"): ANY, ("PUT", "/api/v1/agents/me/presence"): ANY, ("GET", "/api/v1/agents"): ANY,
    ("GET", "/api/v1/queue"): ANY, ("POST", "/api/v1/queue/next"): ANY, ("GET", "/api/v1/tickets"): ANY,
    ("GET", "/api/v1/tickets/{ticket_id:int}"): ANY,
    ("POST", "/api/v1/tickets/{ticket_id:int}/messages"): ANY, ("POST", "/api/v1/tickets/{ticket_id:int}/notes"): ANY,
    ("POST", "/api/v1/tickets/{ticket_id:int}/assign"): ANY, ("POST", "/api/v1/tickets/{ticket_id:int}/unassign"): ANY,
    ("POST", "/api/v1/tickets/{ticket_id:int}/resolve"): ANY, ("PATCH", "/api/v1/contacts/{contact_id:int}"): ANY,
    ("GET", "/"): ANY, ("GET", "/queue/lanes"): ANY, ("POST", "/queue/next"): ANY,
    ("GET", "/search"): ANY, ("GET", "/search/results"): ANY, ("GET", "/board"): ANY, ("GET", "/board/fragment"): ANY,
    ("POST", "/board/bulk"): ANY, ("POST", "/api/v1/tickets/bulk"): ANY, ("GET", "/api/v1/board"): ANY,
    ("POST", "/api/v1/tickets/{ticket_id:int}/reopen"): ANY, ("POST", "/tickets/{ticket_id:int}/reopen"): ANY,
    ("GET", "/api/v1/agents/me/unread"): ANY, ("POST", "/api/v1/tickets/{ticket_id:int}/seen"): ANY,
    ("DELETE", "/api/v1/tickets/{ticket_id:int}/seen"): ANY,
    ("GET", "/tickets/{ticket_id:int}"): ANY, ("GET", "/tickets/{ticket_id:int}/timeline"): ANY,
    ("GET", "/tickets/{ticket_id:int}/head"): ANY, ("POST", "/tickets/{ticket_id:int}/reply"): ANY,
    ("POST", "/tickets/{ticket_id:int}/note"): ANY, ("POST", "/tickets/{ticket_id:int}/assign"): ANY,
    ("POST", "/tickets/{ticket_id:int}/unassign"): ANY, ("POST", "/tickets/{ticket_id:int}/resolve"): ANY,
    ("POST", "/contacts/{contact_id:int}/name"): ANY,
    ("GET", "/api/v1/topics"): ANY, ("PUT", "/api/v1/tickets/{ticket_id:int}/topics"): ANY,
    ("GET", "/api/v1/canned-responses"): ANY, ("POST", "/api/v1/canned-responses"): ANY,
    ("PATCH", "/api/v1/canned-responses/{reply_id:int}"): ANY, ("DELETE", "/api/v1/canned-responses/{reply_id:int}"): ANY,
    ("POST", "/settings/quick-replies"): ANY, ("POST", "/settings/quick-replies/{reply_id:int}/delete"): ANY,
    ("POST", "/tickets/{ticket_id:int}/topics"): ANY,
    ("GET", "/api/v1/entry-points"): ANY, ("GET", "/api/v1/entry-points/{entry_point_id:int}"): ANY,
    ("GET", "/api/v1/entry-points/{entry_point_id:int}/qr.svg"): ANY,
    ("GET", "/api/v1/entry-points/{entry_point_id:int}/qr.png"): ANY,
    ("GET", "/attachments/{attachment_id:int}"): ANY, ("GET", "/attachments/{attachment_id:int}/thumbnail"): ANY,
    ("GET", "/api/v1/calls"): ANY, ("POST", "/api/v1/calls"): ANY, ("GET", "/api/v1/calls/lookup"): ANY,
    ("POST", "/api/v1/contacts/{contact_id:int}/merge"): ANY,
    ("GET", "/calls"): ANY, ("POST", "/calls"): ANY, ("GET", "/calls/new"): ANY, ("GET", "/calls/lookup"): ANY,
    ("GET", "/calls/ringing"): ANY, ("GET", "/contacts/merge"): ANY, ("POST", "/contacts/merge"): ANY,
    # the WhatsApp simulator (only mounted without Twilio credentials)
    ("GET", "/simulator"): ANY, ("POST", "/simulator/send"): ANY, ("GET", "/simulator/conversation"): ANY,
    ("GET", "/settings"): ANY, ("GET", "/api/v1/office-hours"): ANY, ("GET", "/simulator/simulator.js"): ANY,
    # managers
    ("POST", "/settings/agents/{agent_id:int}/capacity"): MANAGERS, ("POST", "/settings/routing"): MANAGERS,
    ("GET", "/api/v1/texts"): MANAGERS, ("PUT", "/api/v1/texts/{key:str}"): MANAGERS,
    ("GET", "/settings/texts"): MANAGERS, ("POST", "/settings/texts/{key:str}/{language:str}"): MANAGERS,
    ("POST", "/api/v1/topics"): MANAGERS, ("PATCH", "/api/v1/topics/{topic_id:int}"): MANAGERS,
    ("POST", "/settings/topics"): MANAGERS, ("POST", "/settings/topics/{topic_id:int}"): MANAGERS,
    ("POST", "/settings/topics/required"): MANAGERS,
    ("POST", "/api/v1/entry-points"): MANAGERS, ("PATCH", "/api/v1/entry-points/{entry_point_id:int}"): MANAGERS,
    ("GET", "/settings/entry-points"): MANAGERS, ("POST", "/settings/entry-points"): MANAGERS,
    ("POST", "/settings/entry-points/{entry_point_id:int}"): MANAGERS,
    ("PATCH", "/api/v1/agents/{agent_id:int}"): MANAGERS,
    ("GET", "/api/v1/stats"): MANAGERS, ("GET", "/api/v1/stats.csv"): MANAGERS, ("GET", "/api/v1/stats/now"): MANAGERS,
    ("GET", "/api/v1/stats/trends"): MANAGERS, ("GET", "/api/v1/stats.xlsx"): MANAGERS,
    ("PUT", "/api/v1/agents/me/weekly-summary"): MANAGERS, ("POST", "/stats/weekly-summary"): MANAGERS,
    ("GET", "/stats"): MANAGERS, ("GET", "/stats/now"): MANAGERS,
    ("GET", "/api/v1/contacts/{contact_id:int}/export"): MANAGERS,
    ("POST", "/api/v1/contacts/{contact_id:int}/erase"): MANAGERS,
    ("GET", "/contacts/{contact_id:int}/privacy"): MANAGERS, ("GET", "/contacts/{contact_id:int}/export"): MANAGERS,
    ("POST", "/contacts/{contact_id:int}/erase"): MANAGERS,
    # admins
    ("POST", "/settings/agents"): ADMINS, ("POST", "/api/v1/agents"): ADMINS,
    ("PUT", "/api/v1/office-hours"): ADMINS, ("POST", "/api/v1/office-hours/closures"): ADMINS,
    ("DELETE", "/api/v1/office-hours/closures/{first:date}/{last:date}"): ADMINS,
    ("POST", "/settings/office-hours"): ADMINS, ("POST", "/settings/closures"): ADMINS,
    ("POST", "/settings/closures/remove"): ADMINS,
    ("POST", "/settings/agents/{agent_id:int}/deactivate"): ADMINS,
    # accounts (agent_ui/account.py)
    ("GET", "/account/password"): ANY, ("POST", "/account/password"): ANY,
    ("DELETE", "/api/v1/auth/token"): ANY, ("PUT", "/api/v1/agents/me/password"): ANY,
    ("GET", "/account/signature"): ANY, ("POST", "/account/signature"): ANY,
    ("GET", "/api/v1/agents/me/signature"): ANY, ("PUT", "/api/v1/agents/me/signature"): ANY,
    ("POST", "/settings/agents/{agent_id:int}/password"): ADMINS,
    ("PUT", "/api/v1/agents/{agent_id:int}/password"): ADMINS,
    ("GET", "/login/oidc"): PUBLIC, ("GET", "/login/oidc/callback"): PUBLIC,
    ("GET", "/login/two-factor"): PUBLIC, ("POST", "/login/two-factor"): PUBLIC,
    ("GET", "/account/two-factor"): ANY, ("POST", "/account/two-factor"): ANY,
    ("POST", "/account/two-factor/disable"): ANY,
    ("POST", "/settings/agents/{agent_id:int}/two-factor/reset"): ADMINS,
    ("DELETE", "/api/v1/agents/{agent_id:int}/two-factor"): ADMINS,
    ("POST", "/api/v1/agents/{agent_id:int}/deactivate"): ADMINS,
    ("GET", "/api/v1/audit"): ADMINS, ("GET", "/audit"): ADMINS,
}


def app_routes(app: Litestar) -> list[tuple[str, str]]:
    found = set()
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            raise AssertionError(f"{type(route).__name__} {route.path}: add the route kind to this test")
        for handler in route.route_handlers:
            for method in handler.http_methods:
                if method != "OPTIONS":  # generated CORS preflight answers, no data
                    found.add((method, route.path))
    return sorted(found)


def _url(path: str, ids: dict[str, int]) -> str:
    def fill(match: re.Match[str]) -> str:
        name, kind = match.group(1), match.group(2)
        if kind == "int":
            return str(ids.get(name, 1))
        if kind == "date":
            return "2027-01-01"
        return "hub.css" if kind == "path" else "not-a-token"
    return re.sub(r"\{(\w+):(\w+)\}", fill, path)


def _denied(response: Any, who: str | None) -> bool:
    if who is None:
        return response.status_code == 401 or (
            response.status_code in (302, 303) and response.headers.get("location", "").startswith("/login"))
    return response.status_code == 403


def _ask(client: TestClient[Any], method: str, url: str) -> Any:
    headers = {"x-csrftoken": csrf_token(client)}
    kw: dict[str, Any] = {"headers": headers, "follow_redirects": False}
    if method in ("POST", "PUT", "PATCH"):
        kw["json"] = {}
    return client.request(method, url, **kw)


def test_every_route_has_an_expectation(app: Litestar) -> None:
    missing = [f"{m} {p}" for m, p in app_routes(app) if (m, p) not in EXPECTED]
    assert not missing, "routes without an entry in tests/integration/security/test_routes.py EXPECTED:\n" + "\n".join(missing)


@pytest.mark.parametrize("who", [None, *ROLES])
def test_each_route_answers_each_role_as_expected(app: Litestar, settings: Settings, who: str | None) -> None:
    ticket = citizen_writes(settings, "email", body="Hola")
    # (quick replies: per-row ownership is tested in test_quick_replies; here a missing one)
    ids = {"ticket_id": ticket, "contact_id": 1, "reply_id": 999_999}
    wrong: list[str] = []
    with TestClient(app, base_url="https://testserver.local") as client:
        client.get("/login")
        if who is not None:
            assert login(client, f"{who}@example.org", PASSWORD).status_code == 303
        # Log out last: it ends the session the other requests need.
        routes = sorted(app_routes(app), key=lambda r: r == ("POST", "/logout"))
        for method, path in routes:
            kind = EXPECTED.get((method, path))
            if kind is None:
                continue  # reported by test_every_route_has_an_expectation
            if kind == STREAM and who is not None:
                continue
            response = _ask(client, method, _url(path, ids))
            status = response.status_code
            if kind in (SIGNED, OPERATORS):
                ok = status == 403
            elif kind == STREAM:
                ok = _denied(response, None)
            elif who in ALLOWED[kind]:
                ok = not _denied(response, who) and status != 401 and status < 500
            else:
                ok = _denied(response, who)
            if not ok:
                wrong.append(f"{method} {path} as {who or 'nobody'} ({kind}): {status}")
    assert not wrong, "\n".join(wrong)
