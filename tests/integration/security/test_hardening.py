"""Issue 13, finding 13: the smaller hardening items, each with its reproduction.

- attachment names carried bidirectional-control characters (`invoice\\u202egpj.exe` reads as a JPEG);
- a `%` or `_` typed in the search box was a LIKE wildcard (`q=%` matched every subject);
- `demo-logins.txt` was written world-readable and only then chmod-ed to 0600;
- `/metrics` answered anyone; now an allow-listed network or `HUB_METRICS_TOKEN`;
- the logout cookie said `Max-Age=36000` next to an expiry in 1970.
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import select

from hub.config import Settings
from hub.context import HubContext
from tests.support.agent_ui import citizen_writes, csrf, login
from tests.conftest import make_settings
from tests.integration.security.test_attachments import _mail_with
from tests.support.cookies import csrf_token

BIDI = "\u202e"


def test_attachment_names_lose_bidirectional_controls(client: TestClient[Any], settings: Settings) -> None:
    [att_id] = asyncio.run(_mail_with(settings, [(f"factura{BIDI}fdp.exe", "application/pdf", b"%PDF-1.4")]))

    async def stored() -> str:
        from hub.db.tables import Attachment

        ctx = HubContext.create(settings)
        try:
            async with ctx.sessionmaker() as session:
                return (await session.exec(select(Attachment.filename).where(Attachment.id == att_id))).one()
        finally:
            await ctx.close()

    assert asyncio.run(stored()) == "facturafdp.exe"
    login(client, "agent@example.org")
    answer = client.get(f"/attachments/{att_id}")
    assert answer.status_code == 200
    assert BIDI not in answer.headers["content-disposition"] and "%E2%80%AE" not in answer.headers["content-disposition"]


def test_like_wildcards_typed_in_the_search_are_plain_characters(client: TestClient[Any], settings: Settings) -> None:
    citizen_writes(settings, "email", "Hola")  # subject "Padró"
    login(client, "agent@example.org")
    assert client.get("/api/v1/queue", params={"q": "padr"}).json()["waiting"]["count"] == 1  # the search works
    for q in ("%", "_", "%%", "p_dr"):
        page = client.get("/api/v1/queue", params={"q": q})
        assert page.status_code == 200, page.text
        assert page.json()["waiting"]["count"] == 0, (q, page.json())


def test_demo_logins_are_private_from_the_first_byte(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from entrypoints.demo import ensure_demo_logins

    settings = make_settings(tmp_path, db_url)
    monkeypatch.setattr(Path, "chmod", lambda self, mode: None)  # what a crash before chmod would leave
    old = os.umask(0o022)
    try:
        logins = asyncio.run(ensure_demo_logins(settings))
    finally:
        os.umask(old)
    assert len(logins) == 3
    assert stat.S_IMODE((settings.data_dir / "demo-logins.txt").stat().st_mode) == 0o600


def test_metrics_need_an_allowed_network_or_the_token(tmp_path: Path, db_url: str) -> None:
    from entrypoints.web import create_app

    settings = make_settings(tmp_path, db_url, metrics_token="scrape-token-0123456789")
    with TestClient(create_app(settings)) as anyone:  # the test client's address is no allowed network
        assert anyone.get("/metrics").status_code == 403
        assert anyone.get("/metrics", headers={"authorization": "Bearer wrong"}).status_code == 403
        scraped = anyone.get("/metrics", headers={"authorization": "Bearer scrape-token-0123456789"})
        assert scraped.status_code == 200 and "hub_" in scraped.text
    from agent_ui.health import may_read_metrics

    class Fake:
        def __init__(self, host: str) -> None:
            self.client = type("C", (), {"host": host})()
            self.headers: dict[str, str] = {}

    local = make_settings(tmp_path, db_url, metrics_allow="127.0.0.0/8,10.1.0.0/16")
    assert may_read_metrics(Fake("127.0.0.1"), local) and may_read_metrics(Fake("10.1.2.3"), local)  # type: ignore[arg-type]
    assert not may_read_metrics(Fake("10.2.0.1"), local) and not may_read_metrics(Fake("203.0.113.9"), local)  # type: ignore[arg-type]


def test_the_logout_cookie_only_expires(client: TestClient[Any]) -> None:
    assert login(client, "agent@example.org").status_code in (302, 303)
    out = client.post("/logout", headers=csrf(client), follow_redirects=False)
    cleared = [h for h in out.headers.get_list("set-cookie") if "session" in h.split("=", 1)[0]]
    assert cleared, out.headers
    for header in cleared:
        lowered = header.lower()
        assert "max-age=0" in lowered or "max-age" not in lowered, header


def test_the_csrf_token_is_bound_to_the_session(client: TestClient[Any]) -> None:
    """A CSRF token valid for another browser (which an attacker gets by opening the login page,
    and can plant as a cookie from a sibling subdomain) no longer passes for a logged-in session."""
    planted = client.get("/login") and csrf_token(client)
    assert planted
    assert login(client, "agent@example.org").status_code in (302, 303)
    mine = csrf_token(client)
    assert mine and mine != planted  # a fresh token at login
    client.cookies.set("__Host-hub_csrf", planted, domain="testserver.local")
    forged = client.put("/api/v1/agents/me/presence", json={"status": "away"}, headers={"x-csrftoken": planted})
    assert forged.status_code == 403, forged.text
    client.cookies.set("__Host-hub_csrf", mine, domain="testserver.local")
    genuine = client.put("/api/v1/agents/me/presence", json={"status": "away"}, headers={"x-csrftoken": mine})
    assert genuine.status_code < 300, genuine.text
