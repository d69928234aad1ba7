"""Accounts in Debian's chromium against the real hub: an admin is led to enrol in two-factor
sign-in, scans (reads) the key, signs in again with a computed TOTP code, and changes their
password; every page axe-clean."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from hub.config import Settings
from tests.support.agent_ui import PASSWORD, _make_agents
from tests.support.live_server import LiveServer
from tests.support.browser import AXE, TIMEOUT_MS, _axe, browser, english  # noqa: F401
from tests.conftest import make_settings
from tests.support import services
from tests.support.services import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def hub(tmp_path: Path, db_url: str) -> Iterator[tuple[LiveServer, Settings]]:
    from entrypoints.web import create_app

    services.require_chromium()
    port = free_port()
    settings = make_settings(tmp_path, db_url, public_url=f"http://127.0.0.1:{port}", require_2fa="admin")
    asyncio.run(_make_agents(settings))
    with LiveServer(create_app(settings), port=port) as server:
        yield server, settings


async def _sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Log in").click()


async def test_an_admin_enrols_in_two_factor_sign_in_and_signs_in_with_a_code(
        hub: tuple[LiveServer, Settings], browser: Any) -> None:
    from playwright.async_api import expect

    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    server, _ = hub
    context = await english(browser, server.url)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    problems: dict[str, Any] = {}

    await _sign_in(page, "admin@example.org")
    await page.wait_for_url(f"{server.url}/account/two-factor")  # led to enrol
    await expect(page.get_by_role("img", name="QR code for the authenticator app")).to_be_visible()
    problems["enrol"] = await _axe(page)
    secret = (await page.locator("#totp-secret").inner_text()).replace(" ", "")
    await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Switch two-factor sign-in on").click()
    await expect(page.locator("#recovery-codes li")).to_have_count(10)
    problems["recovery codes"] = await _axe(page)

    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(f"{server.url}/login")
    await _sign_in(page, "admin@example.org")
    await page.wait_for_url(f"{server.url}/login/two-factor")
    problems["code"] = await _axe(page)
    await page.get_by_label("Code from the authenticator app, or a recovery code").fill("000000")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    await page.get_by_label("Code from the authenticator app, or a recovery code").fill(pyotp.TOTP(secret).now())
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{server.url}/")

    await page.goto("/account/password")
    problems["password"] = await _axe(page)
    await page.get_by_label("Current password").fill(PASSWORD)
    await page.get_by_label("New password", exact=True).fill("Pati-dels-tarongers-2027")
    await page.get_by_label("New password again").fill("Pati-dels-tarongers-2027")
    await page.get_by_role("button", name="Change my password").click()
    await page.wait_for_url(f"{server.url}/settings")
    await expect(page.get_by_text("Password changed.")).to_be_visible()
    problems["settings"] = await _axe(page)
    await context.close()
    bad = {where: found for where, found in problems.items() if found}
    assert not bad, f"serious or critical accessibility problems: {bad}"
