"""The agents' UI in Debian's chromium (playwright) against a real uvicorn server running the
whole hub in one process (`hub run`'s embedded mode): live queue, take, reply, resolve; two
agents taking next at once; an axe-core scan of every page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from tests.support.agent_ui import _make_agents
from tests.support.live_server import LiveServer
from tests.conftest import make_settings
from tests.support import services
from tests.support.services import free_port
from tests.support.browser import (  # noqa: F401  (fixtures)
    AXE, TIMEOUT_MS, _axe, browser, citizen_writes, english, hub, logged_in,
)

pytestmark = pytest.mark.browser


async def test_a_whatsapp_message_appears_live_and_the_agent_takes_replies_and_resolves(
    hub: tuple[LiveServer, Settings], browser: Any,
) -> None:
    from playwright.async_api import expect

    server, settings = hub
    page = await logged_in(browser, server.url, "agent@example.org")
    assert await page.locator("#lane-waiting li[data-ticket-id]").count() == 0

    ticket = await citizen_writes(settings, "Hola, necessito el volant de padró", "+34600123001", "SMlive1")
    identifying = page.locator(f"#lane-identifying li[data-ticket-id='{ticket}']")
    await expect(identifying).to_be_visible()  # live: no reload
    await citizen_writes(settings, "Em dic Laia Pons", "+34600123001", "SMlive2")
    waiting = page.locator(f"#lane-waiting li[data-ticket-id='{ticket}']")
    await expect(waiting).to_contain_text("Laia Pons")
    await expect(identifying).to_have_count(0)

    await page.get_by_role("button", name="Take next").click()
    await page.wait_for_url(f"{server.url}/tickets/{ticket}")
    await expect(page.locator("#ticket-status")).to_have_attribute("data-status", "assigned")
    await expect(page.locator("#timeline")).to_contain_text("necessito el volant de padró")
    await expect(page.get_by_text("24-hour window is open")).to_be_visible()

    await page.get_by_label("Message to the citizen").fill("Bon dia Laia, li envio l'enllaç.")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator("#timeline")).to_contain_text("li envio l'enllaç")
    # the sandbox sender delivers in the background; the status changes live on the page
    reply = page.locator("#timeline li.out", has_text="li envio l'enllaç").locator("[data-delivery]")
    # (a generous wait: on a loaded CI machine the in-process worker can lag several seconds)
    await expect(reply).to_have_attribute("data-delivery", "sent", timeout=3 * TIMEOUT_MS)

    await page.get_by_role("button", name="Resolve", exact=True).click()
    await expect(page.locator("#ticket-status")).to_have_attribute("data-status", "resolved")


async def test_two_agents_taking_next_at_once_get_different_tickets(
    hub: tuple[LiveServer, Settings], browser: Any,
) -> None:
    server, settings = hub
    first = await citizen_writes(settings, "Primera", "+34600123101", "SMa1")
    await citizen_writes(settings, "Em dic Anna", "+34600123101", "SMa2")
    second = await citizen_writes(settings, "Segona", "+34600123102", "SMb1")
    await citizen_writes(settings, "Em dic Pau", "+34600123102", "SMb2")
    one = await logged_in(browser, server.url, "agent@example.org")
    two = await logged_in(browser, server.url, "agent2@example.org")
    await asyncio.gather(
        one.get_by_role("button", name="Take next").click(),
        two.get_by_role("button", name="Take next").click(),
    )
    await one.wait_for_url(f"{server.url}/tickets/*")
    await two.wait_for_url(f"{server.url}/tickets/*")
    got = {one.url.rsplit("/", 1)[1], two.url.rsplit("/", 1)[1]}
    assert got == {str(first), str(second)}


async def test_every_page_passes_axe_without_serious_violations(
    hub: tuple[LiveServer, Settings], browser: Any,
) -> None:
    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    server, settings = hub
    ticket = await citizen_writes(settings, "Hola <b>no</b> html", "+34600123201", "SMx1")
    await citizen_writes(settings, "Em dic Marc", "+34600123201", "SMx2")
    context = await english(browser, server.url)
    anonymous = await context.new_page()
    await anonymous.goto("/login")
    problems = {"/login": await _axe(anonymous)}
    await context.close()

    page = await logged_in(browser, server.url, "manager@example.org")
    links = await page.eval_on_selector_all("nav a[href^='/']", "els => els.map(e => e.getAttribute('href'))")
    pages = ["/", f"/tickets/{ticket}", "/?channel=whatsapp&q=Marc"] + [h for h in links if h != "/"]
    for path in dict.fromkeys(pages):
        answer = await page.goto(path)
        if answer is None or answer.status == 404:
            continue  # a page another issue has not delivered yet
        problems[path] = await _axe(page)
    for lang in ("ca", "es"):
        await page.goto("/")
        await page.select_option("#ui-language", lang)
        await page.press("#ui-language", "Enter")  # selects submit on Enter or the button, never on change
        await page.wait_for_selector(f"html[lang='{lang}']")
        problems[f"/ ({lang})"] = await _axe(page)
    print("axe-checked:", ", ".join(problems))
    bad = {path: found for path, found in problems.items() if found}
    assert not bad, f"serious or critical accessibility problems: {bad}"


async def test_refusals_and_unknown_addresses_are_pages_in_my_language_that_pass_axe(
    hub: tuple[LiveServer, Settings], browser: Any,
) -> None:
    """What a signed-in agent's browser shows for an address that does not exist, an API address
    opened by hand, and a page their role may not open: a page in their language, never JSON."""
    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    server, _ = hub
    page = await logged_in(browser, server.url, "agent@example.org")
    await page.select_option("#ui-language", "ca")
    await page.press("#ui-language", "Enter")
    await page.wait_for_selector("html[lang='ca']")
    seen = {}
    for path, status, title in (("/no-such-page", 404, "No s'ha trobat"),
                                ("/api/v1/tickets/999999", 404, "No s'ha trobat"),
                                ("/stats", 403, "No pots obrir aquesta pàgina"),
                                ("/api/v1/stats", 403, "No pots obrir aquesta pàgina")):
        answer = await page.goto(path)
        assert answer is not None and answer.status == status, path
        assert await page.get_attribute("html", "lang") == "ca", path
        assert (await page.inner_text("h1")).strip() == title, path
        assert (await page.title()).startswith(title), path  # the tab says it too, not a bare status code
        body = await page.inner_text("body")
        assert "Not found" not in body and "Forbidden" not in body and '"status_code"' not in body, path
        await page.get_by_role("link", name="Torna a la cua").wait_for()
        seen[path] = await _axe(page)
    bad = {path: found for path, found in seen.items() if found}
    assert not bad, f"serious or critical accessibility problems: {bad}"


@pytest.mark.redis
async def test_after_a_dropped_connection_the_page_catches_up(tmp_path: Path, db_url: str, browser: Any) -> None:
    """The web process restarts while a consultation arrives: on reconnect the tab re-fetches
    its lanes, so the consultation it never heard about is shown (sessions live in Redis)."""
    import secrets

    from playwright.async_api import expect

    from entrypoints.web import create_app

    redis_url = services.require_redis()
    port = free_port()
    settings = make_settings(tmp_path, db_url, public_url=f"http://127.0.0.1:{port}", auto_assign=False,
                             redis_url=redis_url, secret_key=secrets.token_hex(16))
    await _make_agents(settings)
    with LiveServer(create_app(settings), port=port) as server:
        page = await logged_in(browser, server.url, "agent@example.org")
    # the server is gone; the tab notices and keeps trying
    await page.wait_for_selector("html:not([data-live-ready])")
    await expect(page.locator("#live-status")).to_be_visible()
    from runtime import live

    live.clear_publishers()  # nobody is listening: this notice is lost on purpose
    ticket = await citizen_writes(settings, "Hola, soc la Núria", "+34600123301", "SMr1")
    await citizen_writes(settings, "Em dic Núria", "+34600123301", "SMr2")
    with LiveServer(create_app(settings), port=port):
        await page.wait_for_selector("html[data-live-ready]", timeout=20_000)
        await expect(page.locator(f"#lane-waiting li[data-ticket-id='{ticket}']")).to_be_visible()
        await expect(page.locator("#live-status")).to_be_hidden()
