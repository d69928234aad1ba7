"""Issue 15 in chromium: topics on the ticket page and in the settings, quick replies in the
reply box, the office's texts with their live preview; each page scanned with axe-core."""

from __future__ import annotations

from typing import Any

import pytest

from hub.config import Settings
from tests.agent_ui.live_server import LiveServer
from tests.agent_ui.test_browser import (  # noqa: F401  (fixtures)
    AXE, _axe, browser, citizen_writes, hub, logged_in,
)
from tests.support import services

pytestmark = pytest.mark.browser


def _require_axe() -> None:
    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")


async def test_an_agent_sets_a_topic_on_the_ticket_page_and_managers_keep_the_list(
    hub: tuple[LiveServer, Settings], browser: Any,
) -> None:
    from playwright.async_api import expect

    _require_axe()
    server, settings = hub
    ticket = await citizen_writes(settings, "Hola, és pel padró", "+34600155001", "SMtopic1")
    await citizen_writes(settings, "Em dic Pere Roig", "+34600155001", "SMtopic2")
    page = await logged_in(browser, server.url, "agent@example.org")
    await page.goto(f"/tickets/{ticket}")
    await expect(page.locator("#ticket-topics")).to_contain_text("No topic yet.")
    await page.get_by_label("Census registration (padró)").check()
    await page.get_by_role("button", name="Save topics").click()
    await expect(page.locator("#ticket-topics .tags")).to_contain_text("Census registration (padró)")
    await expect(page.locator("#timeline")).to_contain_text("Topics changed")
    assert await _axe(page) == []

    await page.goto("/")
    await page.get_by_label("Topic", exact=True).select_option(label="Paying bills")
    await page.get_by_role("button", name="Filter").click()
    await expect(page.locator(f"li[data-ticket-id='{ticket}']")).to_have_count(0)

    manager = await logged_in(browser, server.url, "manager@example.org")
    await manager.goto("/settings")
    await manager.get_by_label("Name in Catalan").fill("Bonificacions fiscals")
    await manager.get_by_label("Name in Spanish").fill("Bonificaciones fiscales")
    await manager.get_by_role("button", name="Add the topic").click()
    await expect(manager.get_by_text("Topic added.")).to_be_visible()
    await expect(manager.get_by_label("Name of Bonificacions fiscals in Català")).to_have_value("Bonificacions fiscals")
    assert await _axe(manager) == []
