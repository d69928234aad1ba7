"""Security headers on every kind of response, cookies behind TLS, templates without inline script,
session expiry, and sessions and tokens that die when an agent is deactivated."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from hub.context import HubContext
from tests.support.agent_ui import PASSWORD, Logins, csrf, login

ROOT = Path(__file__).resolve().parents[3]


def _script_src(csp: str) -> str:
    return next((part.strip() for part in csp.split(";") if part.strip().startswith("script-src")), "")


def _check(response: Any, hsts: bool) -> None:
    h = response.headers
    where = f"{response.request.method} {response.request.url.path} ({response.status_code})"
    csp = h.get("content-security-policy", "")
    assert "frame-ancestors 'none'" in csp, where
    assert "object-src 'none'" in csp, where
    if not response.request.url.path.startswith("/schema"):
        assert _script_src(csp) == "script-src 'self'", where
    assert h.get("x-frame-options") == "DENY", where
    assert h.get("x-content-type-options") == "nosniff", where
    assert h.get("referrer-policy") == "same-origin", where
    assert ("strict-transport-security" in h) is hsts, where
    assert len(h.get_list("content-security-policy")) == 1, where


def test_every_kind_of_response_carries_the_security_headers(client: TestClient[Any]) -> None:
    seen = [
        client.get("/login"),  # a page
        client.get("/api/v1/queue"),  # 401 JSON
        client.get("/no/such/page"),  # 404 from the router
        client.get("/static/hub.css"),  # a static file
        client.get("/healthz"),
        client.post("/webhooks/twilio/whatsapp", data={"Body": "x"}),  # 403, unsigned
        client.post("/api/v1/queue/next"),  # 403, CSRF
    ]
    login(client, "agent@example.org")
    seen += [client.get("/api/v1/agents/me"), client.get("/"), client.get("/api/v1/audit")]
    for response in seen:
        _check(response, hsts=True)


def _attributes(header: str) -> dict[str, str]:
    name_value, *rest = header.split(";")
    attrs = {"": name_value.strip()}
    attrs.update({a.strip().split("=")[0].lower(): a.strip() for a in rest if a.strip()})
    return attrs


def test_no_hsts_and_no_secure_cookies_without_tls(tmp_path: Path, db_url: str, logins: Logins) -> None:
    """Plain http (a local `hub run`): no `Secure`, so no `__Host-` prefix either (browsers would
    refuse such cookies there), and signing in and a CSRF-checked form still work."""
    from entrypoints.web import create_app
    from tests.conftest import make_settings

    app = create_app(make_settings(tmp_path, db_url, public_url="http://127.0.0.1:8000"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        _check(client.get("/login"), hsts=False)
        assert client.cookies.get("hub_csrf") and not client.cookies.get("__Host-hub_csrf")
        response = login(client, "agent@example.org")
        assert response.status_code == 303
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("hub_session="))
        assert "secure" not in cookie.lower() and "httponly" in cookie.lower()
        assert not any(c.startswith("__Host-") for c in response.headers.get_list("set-cookie"))
        assert client.get("/api/v1/agents/me").status_code == 200
        moved = client.put("/api/v1/agents/me/presence", json={"status": "away"}, headers=csrf(client))
        assert moved.status_code < 300, moved.text
        assert client.post("/logout", headers=csrf(client), follow_redirects=False).status_code == 303
        assert client.get("/api/v1/agents/me").status_code == 401


def test_cookies_are_secure_and_httponly_behind_tls(client: TestClient[Any]) -> None:
    """Over https the session and CSRF cookies are `__Host-` cookies: Secure, `Path=/`, no
    `Domain`, so a sibling subdomain or a plain-http page cannot set or shadow them."""
    first = client.get("/login")
    csrf_cookie = next(c for c in first.headers.get_list("set-cookie") if c.startswith("__Host-hub_csrf="))
    assert "secure" in csrf_cookie.lower() and "samesite=lax" in csrf_cookie.lower()
    assert not any(c.startswith("hub_csrf=") for c in first.headers.get_list("set-cookie"))
    response = login(client, "agent@example.org")
    assert response.status_code == 303
    session = next(c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-hub_session="))
    attrs = {a.strip().split("=")[0].lower(): a for a in session.split(";")}
    assert {"secure", "httponly", "samesite"} <= attrs.keys()
    assert attrs["samesite"].strip().lower() == "samesite=lax"
    max_age = int(attrs["max-age"].split("=")[1])
    assert 0 < max_age <= 10 * 3600  # a working day, then log in again
    fresh_csrf = next(c for c in response.headers.get_list("set-cookie") if c.startswith("__Host-hub_csrf="))
    for header in (csrf_cookie, session, fresh_csrf):  # what the prefix requires of the cookie
        cookie = _attributes(header)
        assert "secure" in cookie and cookie.get("path") == "Path=/" and "domain" not in cookie, header
    assert client.get("/api/v1/agents/me").status_code == 200
    language = client.post("/language", data={"lang": "ca", "next": "/"}, headers=csrf(client), follow_redirects=False)
    lang_cookie = next(c for c in language.headers.get_list("set-cookie") if c.startswith("hub_lang="))
    assert "secure" in lang_cookie.lower()  # not a secret, but never sent over plain http either
    out = client.post("/logout", headers=csrf(client), follow_redirects=False)
    assert out.status_code == 303
    expired = next(c for c in out.headers.get_list("set-cookie") if c.startswith("__Host-hub_session="))
    assert "max-age=0" in expired.lower() and "secure" in expired.lower() and "path=/" in expired.lower()


def test_sessions_expire_on_the_server_too(app: Litestar, client: TestClient[Any]) -> None:
    login(client, "agent@example.org")
    session_id = client.cookies.get("__Host-hub_session")
    assert session_id
    store = app.stores.get("sessions")
    with client.portal() as portal:
        expires_in = portal.call(store.expires_in, session_id)
    assert expires_in is not None and 0 < expires_in <= 10 * 3600


def test_deactivating_an_agent_ends_their_sessions_and_tokens_at_once(
    client: TestClient[Any], settings: Settings, logins: Logins,
) -> None:
    from hub.actions.agents import do_deactivate_agent

    token = client.post("/api/v1/auth/token", json={"email": "agent@example.org", "password": PASSWORD}).json()["token"]
    login(client, "agent@example.org")
    assert client.get("/api/v1/agents/me").status_code == 200
    bearer = {"authorization": f"Bearer {token}"}
    assert client.get("/api/v1/queue", headers=bearer).status_code == 200

    async def deactivate() -> None:
        ctx = HubContext.create(settings)
        try:
            await do_deactivate_agent(ctx, logins.agent, logins.admin)
        finally:
            await ctx.close()

    asyncio.run(deactivate())
    assert client.get("/api/v1/agents/me").status_code == 401
    assert client.get("/api/v1/queue", headers=bearer).status_code == 401
    assert login(client, "agent@example.org").status_code == 400  # the password no longer opens it
    login(client, "admin@example.org")
    trail = client.get("/api/v1/audit", params={"action": "agent.deactivate"}).json()["entries"]
    assert [(e["agent_id"], e["target_id"]) for e in trail] == [(logins.admin, str(logins.agent))]


def _templates() -> list[Path]:
    return sorted([*ROOT.glob("agent_ui/templates/**/*.html"), *ROOT.glob("channels/**/templates/**/*.html")])


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.I)
EVENT_HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
JS_URL = re.compile(r"(href|src|action)\s*=\s*[\"']?\s*javascript:", re.I)
SAFE_FILTER = re.compile(r"\|\s*safe\b")


@pytest.mark.parametrize("path", _templates(), ids=lambda p: str(p.relative_to(ROOT)))
def test_templates_run_no_inline_script(path: Path) -> None:
    text = re.sub(r"\{#.*?#\}", "", path.read_text(), flags=re.S)  # template comments are not output
    assert not INLINE_SCRIPT.search(text), "inline <script>: move it to a file under agent_ui/static/"
    assert not EVENT_HANDLER.search(text), "on...= handler: bind it from a script file"
    assert not JS_URL.search(text), "javascript: URL"
    for line in text.splitlines():
        if SAFE_FILTER.search(line):
            assert "csrf_input" in line, f"|safe on something else than the CSRF field: {line.strip()}"


def test_there_are_templates_to_check() -> None:
    assert len(_templates()) >= 5


def test_an_admin_switches_a_login_off_over_the_api_but_never_their_own(
    client: TestClient[Any], logins: Logins,
) -> None:
    agent_token = client.post("/api/v1/auth/token", json={"email": "agent@example.org", "password": PASSWORD}).json()["token"]
    manager_token = client.post("/api/v1/auth/token", json={"email": "manager@example.org", "password": PASSWORD}).json()["token"]
    admin_token = client.post("/api/v1/auth/token", json={"email": "admin@example.org", "password": PASSWORD}).json()["token"]
    as_ = lambda t: {"authorization": f"Bearer {t}"}  # noqa: E731
    assert client.post(f"/api/v1/agents/{logins.agent}/deactivate", headers=as_(manager_token)).status_code == 403
    assert client.post(f"/api/v1/agents/{logins.admin}/deactivate", headers=as_(admin_token)).status_code == 409
    assert client.post(f"/api/v1/agents/{logins.agent}/deactivate", headers=as_(admin_token)).status_code == 204
    assert client.get("/api/v1/queue", headers=as_(agent_token)).status_code == 401
    assert client.get("/api/v1/queue", headers=as_(admin_token)).status_code == 200
    assert client.post("/api/v1/agents/999999/deactivate", headers=as_(admin_token)).status_code == 404


def test_webhooks_skip_the_browser_session_and_answer_without_cookies(
    app: Litestar, client: TestClient[Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Providers' webhooks (signed, called by machines) never load a browser session, never
    authenticate an agent from one and get no CSRF or session cookie, even when a signed-in
    browser's cookies come along: each webhook costs one request, not a session store read."""
    login(client, "agent@example.org")
    store_class = type(app.stores.get("sessions"))
    reads: list[str] = []
    original = store_class.get

    async def counting_get(self: Any, key: str, renew_for: Any = None) -> Any:
        reads.append(key)
        return await original(self, key, renew_for)

    monkeypatch.setattr(store_class, "get", counting_get)
    assert client.get("/api/v1/agents/me").status_code == 200
    assert reads, "a page or API call by a signed-in browser reads its session"
    reads.clear()
    for path in ("/webhooks/twilio/whatsapp", "/webhooks/twilio/status", "/webhooks/twilio/voice"):
        answer = client.post(path, data={"Body": "x"})
        assert answer.status_code == 403, (path, answer.text)  # unsigned
        assert answer.headers.get_list("set-cookie") == [], path
    assert reads == []
