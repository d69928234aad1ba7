"""Issue 15 in chromium: topics on the ticket page and in the settings, quick replies in the
reply box, the office's texts with their live preview; each page scanned with axe-core."""

from __future__ import annotations

from typing import Any

import pytest

from hub.config import Settings
from tests.support.live_server import LiveServer
from tests.support.browser import (  # noqa: F401  (fixtures)
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


async def test_slash_opens_quick_replies_and_the_keyboard_alone_inserts_a_filled_one(
    hub: tuple[LiveServer, Settings], browser: Any,
) -> None:
    from playwright.async_api import expect

    _require_axe()
    server, settings = hub
    ticket = await citizen_writes(settings, "Hola, és per un rebut", "+34600155101", "SMqr1")
    await citizen_writes(settings, "Em dic Pere Roig", "+34600155101", "SMqr2")
    page = await logged_in(browser, server.url, "agent@example.org")
    await page.goto(f"/tickets/{ticket}")
    box = page.get_by_label("Message to the citizen")
    await box.focus()
    await page.keyboard.press("/")
    search = page.get_by_role("combobox", name="Search quick replies")
    await expect(search).to_be_focused()
    await expect(page.locator("#quick-reply-list [role=option]")).to_have_count(6)  # the citizen's language: ca
    assert await _axe(page) == []
    await page.keyboard.type("rebut")
    await expect(page.locator("#quick-reply-list [role=option]")).to_have_count(1)
    await page.keyboard.press("Enter")
    await expect(box).to_be_focused()
    await expect(box).to_have_value("Pot pagar els rebuts municipals a l'Oficina Virtual Tributària: [ENLLAÇ A L'OVT]. "
                                    "Si ens indica el número de rebut, el guiem pas a pas.")
    await page.keyboard.press("End")
    await page.keyboard.type(" Gràcies, Pere Roig.")  # still editable
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#timeline")).to_contain_text("el guiem pas a pas. Gràcies, Pere Roig.")
    # the form posts and the page reloads (the live timeline may show the reply before that)
    await expect(page.get_by_text("Reply queued for sending.")).to_be_visible()
    await page.wait_for_load_state("load")

    # Escape closes without inserting; a greeting is filled with names
    # (each key waits for what the previous one opened or filtered: a loaded machine is slow to)
    options = page.locator("#quick-reply-list [role=option]")
    await box.focus()
    await page.keyboard.press("/")
    await expect(search).to_be_focused()
    await page.keyboard.type("salut")
    await expect(search).to_have_value("salut")
    await page.keyboard.press("Escape")
    await expect(box).to_be_focused()
    await expect(box).to_have_value("")
    await page.keyboard.press("/")
    await expect(search).to_be_focused()
    await page.keyboard.type("salut")
    await expect(options).to_have_count(1)  # "Salutació", the only one of the six
    await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Enter")
    await expect(box).to_have_value("Bon dia, Pere Roig. Sóc Jordi Vidal, de l'Oficina d'Atenció Ciutadana. "
                                    "En què el puc ajudar?")
    await page.goto("/settings")
    await expect(page.get_by_role("heading", name="Quick replies")).to_be_visible()
    assert await _axe(page) == []


async def test_the_texts_page_previews_with_sample_values_as_the_manager_types(
    hub: tuple[LiveServer, Settings], browser: Any,
) -> None:
    from playwright.async_api import expect

    _require_axe()
    server, _settings = hub
    page = await logged_in(browser, server.url, "manager@example.org")
    await page.goto("/settings")
    await page.get_by_role("link", name="Edit the texts citizens receive automatically").click()
    await page.wait_for_url(f"{server.url}/settings/texts")
    box = page.locator("#body-agent_intro-text-ca")
    await expect(page.locator("#preview-agent_intro-text-ca")).to_contain_text("Laia Pons")
    await box.fill("Gràcies, {citizen}! Us atendrà {agent}.")
    await expect(page.locator("#preview-agent_intro-text-ca")).to_have_text("Gràcies, Laia Pons! Us atendrà Jordi.")
    assert await _axe(page) == []
    await page.locator("#text-agent_intro-text-ca").get_by_role("button", name="Save").click()
    await expect(page.get_by_text("Text saved.")).to_be_visible()
    await expect(box).to_have_value("Gràcies, {citizen}! Us atendrà {agent}.")
    await box.fill("Gràcies! Us atendrem aviat.")
    await page.locator("#text-agent_intro-text-ca").get_by_role("button", name="Save").click()
    await expect(page.get_by_text("agent_intro.text must keep {agent}")).to_be_visible()
    await page.locator("#text-agent_intro-text-ca").get_by_role("button", name="Restore the default").click()
    await expect(page.get_by_text("Default text restored.")).to_be_visible()
