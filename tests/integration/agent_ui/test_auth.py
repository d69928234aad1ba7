"""Logins, sessions, CSRF, role guards and API tokens against the real app and database."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import TestClient

from tests.support.agent_ui import PASSWORD, Logins, csrf, login
from tests.support.cookies import csrf_token, session_cookie


def test_pages_redirect_to_login_and_api_answers_401(client: TestClient[Litestar]) -> None:
    page = client.get("/events", headers={"accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 401  # the event stream is API-like: never a redirect
    api = client.get("/api/v1/agents/me")
    assert api.status_code == 401
    assert api.json()["detail"]


def test_login_with_the_right_password_opens_a_session(client: TestClient[Litestar], logins: Logins) -> None:
    answer = login(client, "agent@example.org")
    assert answer.status_code == 303
    assert client.cookies.get("__Host-hub_session")  # served over https: the prefixed name
    me = client.get("/api/v1/agents/me").json()
    assert me["id"] == logins.agent and me["role"] == "agent"


def test_wrong_password_is_refused_and_nothing_is_opened(client: TestClient[Litestar]) -> None:
    answer = login(client, "agent@example.org", "wrong password")
    assert answer.status_code == 400
    assert session_cookie(client) in ("", "null")
    assert client.get("/api/v1/agents/me").status_code == 401


def test_session_id_changes_at_login(client: TestClient[Litestar]) -> None:
    client.cookies.set("__Host-hub_session", "a" * 64, domain="testserver.local")
    login(client, "agent@example.org")
    assert client.cookies.get("__Host-hub_session") != "a" * 64


def test_logout_ends_the_session(client: TestClient[Litestar]) -> None:
    login(client, "agent@example.org")
    assert client.post("/logout", headers=csrf(client), follow_redirects=False).status_code == 303
    assert client.get("/api/v1/agents/me").status_code == 401


def test_a_form_without_csrf_token_is_refused(client: TestClient[Litestar]) -> None:
    client.get("/login")
    answer = client.post("/login", data={"email": "agent@example.org", "password": PASSWORD})
    assert answer.status_code == 403
    assert client.get("/api/v1/agents/me").status_code == 401


def test_json_api_with_a_session_needs_the_csrf_header(client: TestClient[Litestar]) -> None:
    login(client, "agent@example.org")
    refused = client.put("/api/v1/agents/me/presence", json={"status": "available"})
    assert refused.status_code == 403
    assert client.get("/api/v1/agents/me").json()["presence"] == "offline"
    ok = client.put("/api/v1/agents/me/presence", json={"status": "available"}, headers=csrf(client))
    assert ok.status_code == 200
    assert client.get("/api/v1/agents/me").json()["presence"] == "available"


def test_login_is_rate_limited(client: TestClient[Litestar]) -> None:
    codes = [login(client, "agent@example.org", f"wrong {i}").status_code for i in range(6)]
    assert codes[:5] == [400] * 5 and codes[5] == 429
    # even the right password waits until the window has passed
    assert login(client, "agent@example.org").status_code == 429


def test_api_token_works_as_bearer_without_csrf(client: TestClient[Litestar], logins: Logins) -> None:
    issued = client.post("/api/v1/auth/token", json={"email": "manager@example.org", "password": PASSWORD})
    assert issued.status_code == 201
    token = issued.json()["token"]
    fresh = TestClient(client.app, base_url="https://testserver.local")
    with fresh:
        headers = {"authorization": f"Bearer {token}"}
        assert fresh.get("/api/v1/agents/me", headers=headers).json()["id"] == logins.manager
        moved = fresh.put("/api/v1/agents/me/presence", json={"status": "away"}, headers=headers)
        assert moved.status_code == 200
        bad = fresh.get("/api/v1/agents/me", headers={"authorization": "Bearer nope"})
        assert bad.status_code == 401


def test_token_is_refused_for_a_wrong_password(client: TestClient[Litestar]) -> None:
    answer = client.post("/api/v1/auth/token", json={"email": "manager@example.org", "password": "nope"})
    assert answer.status_code == 401
    assert "token" not in answer.json()


def test_only_a_hash_of_the_token_is_stored(client: TestClient[Litestar], settings) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from sqlmodel import select

    from hub.context import HubContext
    from hub.db.tables import ApiToken

    token = client.post("/api/v1/auth/token", json={"email": "agent@example.org", "password": PASSWORD}).json()["token"]

    async def stored() -> list[str]:
        ctx = HubContext.create(settings)
        try:
            async with ctx.sessionmaker() as s:
                return [r.token_hash for r in (await s.exec(select(ApiToken))).all()]
        finally:
            await ctx.close()

    hashes = asyncio.run(stored())
    assert len(hashes) == 1 and token not in hashes[0] and len(hashes[0]) == 64


def test_login_page_is_translated(client: TestClient[Litestar]) -> None:
    client.cookies.set("hub_lang", "es")
    assert "Iniciar sesión" in client.get("/login").text
    client.cookies.set("hub_lang", "ca")
    assert "Inicia la sessió" in client.get("/login").text


def test_next_never_leaves_the_site(client: TestClient[Litestar]) -> None:
    client.get("/login")
    answer = client.post("/login", data={
        "email": "agent@example.org", "password": PASSWORD, "next": "//evil.example/x",
        "_csrf_token": csrf_token(client),
    }, follow_redirects=False)
    assert answer.headers["location"] == "/"
