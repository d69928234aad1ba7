"""Issue 15, item 5 in chromium: a manager creates a WhatsApp entry point, gets its link, QR code
and banner; a citizen comes through it (the sandbox's simulator plays the wa.me link, through
the signed webhook and the worker); the consultation has the topic and the statistics count it.
Each page scanned with axe-core."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from hub.config import Settings
from tests.support.agent_ui import _make_agents
from tests.support.live_server import LiveServer
from tests.support.browser import AXE, TIMEOUT_MS, _axe, browser, logged_in  # noqa: F401  (fixtures)
from tests.conftest import make_settings
from tests.support import services
from tests.support.services import free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def hub(tmp_path: Path, db_url: str) -> Iterator[tuple[LiveServer, Settings]]:
    """The embedded hub in sandbox mode (the simulator), with the office's WhatsApp number."""
    from entrypoints.web import create_app

    services.require_chromium()
    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    port = free_port()
    settings = make_settings(tmp_path, db_url, public_url=f"http://127.0.0.1:{port}", auto_assign=False,
                             click_to_chat_number="+34 622 84 62 72")
    asyncio.run(_make_agents(settings))
    app = create_app(settings, embedded=True)
    app.state.broker.flush_all()
    with LiveServer(app, port=port) as server:
        yield server, settings


async def test_a_manager_publishes_an_entry_point_and_a_citizen_coming_through_it_is_counted(
    hub: tuple[LiveServer, Settings], browser: Any,
) -> None:
    from playwright.async_api import expect

    server, _ = hub
    page = await logged_in(browser, server.url, "manager@example.org")
    await page.goto("/settings")
    await page.get_by_role("link", name="Links, QR codes and banners for the city's web pages").click()
    await expect(page.get_by_role("heading", name="WhatsApp entry points", level=1)).to_be_visible()
    await expect(page.get_by_text("No entry points yet.")).to_be_visible()

    await page.get_by_label("Label (for the office: where it is published)").fill("Web del padró")
    await page.get_by_label("First message, already written for the citizen").fill("Ajuda amb el padró: ")
    await page.get_by_label("Topic it sets").select_option(label="Census registration (padró)")
    await page.get_by_role("button", name="Add the entry point").click()
    await expect(page.get_by_text("Entry point added.")).to_be_visible()
    section = page.locator("section", has=page.get_by_role("heading", name="Web del padró"))
    link = await section.get_by_label("Link", exact=True).input_value()
    assert link.startswith("https://wa.me/34622846272?text=")
    assert parse_qs(urlsplit(link).query)["text"] == ["Ajuda amb el padró: "]
    qr = section.get_by_role("img", name="QR code that opens WhatsApp with the message Ajuda amb el padró:")
    await expect(qr).to_be_visible()
    assert await qr.evaluate("img => img.complete && img.naturalWidth > 100")  # the SVG really loads
    snippet = await section.get_by_label("Banner for the city's web page (HTML to paste)").input_value()
    assert f'href="{link}"' in snippet and 'lang="ca"' in snippet
    await section.get_by_text("Preview of the banner").click()
    banner = section.frame_locator(".snippet-preview").get_by_role("link", name="Pregunta'ns per WhatsApp")
    await expect(banner).to_have_attribute("href", link)
    assert await _axe(page) == []  # the page, and the banner as the city's page will show it

    # the sandbox plays WhatsApp: the link's text is typed in the citizen's box
    await section.get_by_role("link", name="Try it in the citizen simulator").click()
    box = page.locator("#wa-body")
    await expect(box).to_have_value("Ajuda amb el padró: ")
    await page.locator("#wa-number").fill("+34600177001")
    await box.press("End")
    await box.type("necessito un volant")
    await page.locator("#wa-compose button[type=submit]").click()
    # the welcome coming back means the message went the real way (webhook, inbox, worker)
    await expect(page.locator("#wa-chat")).to_contain_text("Oficina", timeout=3 * TIMEOUT_MS)

    await page.goto("/search?q=volant")
    await page.locator("a[href^='/tickets/']", has_text="OAC-").first.click()
    await expect(page.locator("#ticket-topics")).to_contain_text("Census registration (padró)")
    await expect(page.locator("#ticket-entry-point")).to_contain_text("Web del padró")

    await page.goto("/stats")
    row = page.locator("#entry-title").locator("xpath=ancestor::section").get_by_role("row", name="Web del padró")
    await expect(row).to_contain_text("Census registration (padró)")
    count = row.get_by_role("link", name="1 (Web del padró)")
    await expect(count).to_be_visible()
    assert await _axe(page) == []
    await count.click()  # the consultations behind the count
    await expect(page.locator("#search-entry-point")).to_contain_text("Web del padró")
    await expect(page.locator("#search-results a[href^='/tickets/']")).to_have_count(1)
