"""Sign-in with the city's identity provider (issue 13, finding 8): OpenID Connect,
authorization code + PKCE, against a real certified OpenID Provider (panva's `oidc-provider`
from npm, installed into tests/support/oidc by `npm ci` and started here), through its own
login and consent pages."""

from __future__ import annotations

import asyncio
import html
import json
import re
import shutil
import subprocess
from contextlib import closing
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.config import Settings
from tests.support.agent_ui import _make_agents
from tests.support.live_server import LiveServer
from tests.conftest import make_settings
from tests.support import services
from tests.support.services import free_port, port_open

pytestmark = pytest.mark.slow
PROVIDER_DIR = Path(__file__).resolve().parents[2] / "support" / "oidc"
ACCOUNTS = {
    "marta": {"email": "manager@example.org", "name": "Marta Puig", "hub_role": "manager"},
    "jordi": {"email": "agent@example.org", "name": "Jordi Vidal", "hub_role": ["agent", "manager"]},
    "laia": {"email": "laia.nova@example.org", "name": "Laia Nova", "hub_role": "agent"},
    "pere": {"email": "pere.sense.rol@example.org", "name": "Pere Sense Rol"},
    "eva": {"email": "eva.boss@example.org", "name": "Eva Boss", "hub_role": "admin"},
}


def _installed() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        services.unavailable("node and npm are needed for the OpenID provider (apt-get install nodejs npm)")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").exists():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PROVIDER_DIR, capture_output=True,
                              text=True, timeout=300)
        if done.returncode != 0:
            services.unavailable(f"npm ci in {PROVIDER_DIR} failed: {done.stderr[-500:]}")
    return Path(node)


@pytest.fixture
def idp_and_hub(tmp_path: Path, db_url: str) -> Iterator[tuple[str, LiveServer, Settings]]:
    from entrypoints.web import create_app

    node = _installed()
    idp_port, hub_port = free_port(), free_port()
    hub_url = f"http://127.0.0.1:{hub_port}"
    provider = subprocess.Popen(
        [str(node), "provider.mjs", str(idp_port), f"{hub_url}/login/oidc/callback", json.dumps(ACCOUNTS)],
        cwd=PROVIDER_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not port_open("127.0.0.1", idp_port):
            if provider.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the OpenID provider did not start: {provider.stdout.read() if provider.stdout else ''}")
            time.sleep(0.1)
        issuer = f"http://127.0.0.1:{idp_port}"
        settings = make_settings(
            tmp_path, db_url, public_url=hub_url, oidc_issuer=issuer, oidc_client_id="contact-hub",
            oidc_client_secret="contact-hub-test-secret", oidc_scopes="openid email profile hub",
            require_2fa="admin",  # as deployed by default
        )
        asyncio.run(_make_agents(settings))
        with LiveServer(create_app(settings), port=hub_port) as server:
            yield issuer, server, settings
    finally:
        provider.terminate()
        provider.wait(10)


def _form_action(page: str) -> str:
    found = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert found, page[:500]
    return html.unescape(found.group(1))


def sign_in_through_the_provider(hub: LiveServer, login: str) -> httpx.Client:
    """A person clicks "Sign in with the city's account", logs in at the provider and consents."""
    client = httpx.Client(base_url=hub.url, follow_redirects=True, timeout=30, cookies={"hub_lang": "en"})
    page = client.get("/login")
    assert "/login/oidc" in page.text  # the login page offers it
    at_provider = client.get("/login/oidc", params={"next": "/settings"})
    assert 'name="login"' in at_provider.text, at_provider.text[:300]
    consent = client.post(httpx.URL(str(at_provider.url)).join(_form_action(at_provider.text)),
                          data={"prompt": "login", "login": login, "password": "any"})
    if 'name="prompt" value="consent"' in consent.text:
        consent = client.post(httpx.URL(str(consent.url)).join(_form_action(consent.text)), data={"prompt": "consent"})
    client.last = consent  # type: ignore[attr-defined]
    return client


def _me(client: httpx.Client) -> Any:
    return client.get("/api/v1/agents/me", headers={"accept": "application/json"})


def test_a_known_agent_signs_in_through_the_provider(idp_and_hub: tuple[str, LiveServer, Settings]) -> None:
    _, hub, _ = idp_and_hub
    with closing(sign_in_through_the_provider(hub, "marta")) as client:
        assert client.last.url.path == "/settings"  # type: ignore[attr-defined]  # back where they were going
        me = _me(client).json()
        assert (me["email"], me["role"]) == ("manager@example.org", "manager")


def test_the_role_follows_the_provider(idp_and_hub: tuple[str, LiveServer, Settings]) -> None:
    _, hub, _ = idp_and_hub
    with closing(sign_in_through_the_provider(hub, "jordi")) as client:
        assert _me(client).json()["role"] == "manager"  # the highest of the roles it gave


def test_an_unknown_person_is_created_with_the_role_the_provider_gave(
        idp_and_hub: tuple[str, LiveServer, Settings]) -> None:
    _, hub, _ = idp_and_hub
    with closing(sign_in_through_the_provider(hub, "laia")) as client:
        me = _me(client).json()
        assert (me["email"], me["name"], me["role"]) == ("laia.nova@example.org", "Laia Nova", "agent")


def test_nobody_is_created_without_a_role_from_the_provider(idp_and_hub: tuple[str, LiveServer, Settings]) -> None:
    _, hub, settings = idp_and_hub
    with closing(sign_in_through_the_provider(hub, "pere")) as client:
        assert client.last.status_code == 403  # type: ignore[attr-defined]
        assert "no role" in client.last.text  # type: ignore[attr-defined]
        assert _me(client).status_code == 401

    async def exists() -> bool:
        from sqlmodel import select

        from hub.context import HubContext
        from hub.db.tables import Agent

        ctx = HubContext.create(settings)
        try:
            async with ctx.sessionmaker() as session:
                return (await session.exec(select(Agent).where(Agent.email == "pere.sense.rol@example.org"))).first() is not None
        finally:
            await ctx.close()

    assert not asyncio.run(exists())


def test_an_admin_from_the_provider_still_sets_up_two_factor_sign_in(
        idp_and_hub: tuple[str, LiveServer, Settings]) -> None:
    _, hub, _ = idp_and_hub
    with closing(sign_in_through_the_provider(hub, "eva")) as client:
        assert client.last.url.path == "/account/two-factor"  # type: ignore[attr-defined]
        assert _me(client).status_code == 403


def test_a_forged_or_replayed_callback_signs_nobody_in(idp_and_hub: tuple[str, LiveServer, Settings]) -> None:
    _, hub, _ = idp_and_hub
    with httpx.Client(base_url=hub.url, follow_redirects=False, timeout=30) as client:
        forged = client.get("/login/oidc/callback", params={"code": "abc", "state": "guessed"})
        assert forged.status_code == 400 and _me(client).status_code == 401
