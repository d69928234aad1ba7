"""The agents' UI in Debian's chromium (playwright) against a real uvicorn server running the
whole hub in one process (`hub run`'s embedded mode): live queue, take, reply, resolve; two
agents taking next at once; an axe-core scan of every page."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from hub.context import HubContext
from tests.support.agent_ui import PASSWORD, _make_agents
from tests.support.live_server import LiveServer
from tests.conftest import make_settings
from tests.support import services
from tests.support.services import free_port

pytestmark = pytest.mark.browser

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
AXE = Path(__file__).resolve().parents[3] / "agent_ui" / "static" / "vendor" / "axe.min.js"
TIMEOUT_MS = 10_000


@pytest.fixture
def hub(tmp_path: Path, db_url: str) -> Iterator[tuple[LiveServer, Settings]]:
    from entrypoints.web import create_app

    services.require_chromium()
    port = free_port()
    settings = make_settings(tmp_path, db_url, public_url=f"http://127.0.0.1:{port}", auto_assign=False)
    asyncio.run(_make_agents(settings))
    app = create_app(settings, embedded=True)
    # Earlier tests' apps had no worker: forget what they left on the in-process broker.
    app.state.broker.flush_all()
    with LiveServer(app, port=port) as server:
        yield server, settings


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    chromium = services.require_chromium()
    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium, args=ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()


async def citizen_writes(settings: Settings, body: str, number: str, sid: str) -> int:
    """A WhatsApp message reaches the core, the way the channel hands it over (live push wired)."""
    from hub.actions.messages import do_receive_message
    from hub.inbound import IdentityIn, InboundMessage
    from runtime.live import push

    ctx = HubContext.create(settings)
    ctx.bus.subscribe(push)
    try:
        got = await do_receive_message(ctx, InboundMessage(
            channel="whatsapp", provider_id=sid, received_at=datetime.now(UTC), body=body,
            identities=[IdentityIn("phone", number)], display_hint="Profile",
        ))
        assert got.ticket_id is not None
        return got.ticket_id
    finally:
        await ctx.close()


async def english(browser: Any, base: str) -> Any:
    context = await browser.new_context(base_url=base, locale="en-GB")
    await context.add_cookies([{"name": "hub_lang", "value": "en", "url": base}])
    return context


async def logged_in(browser: Any, base: str, email: str) -> Any:
    context = await english(browser, base)
    page = await context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    await page.goto("/login")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{base}/")
    await page.wait_for_selector("html[data-live-ready]")
    return page


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


async def _axe(page: Any) -> list[dict[str, Any]]:
    # served by the hub itself, so the strict CSP of our pages allows it
    await page.add_script_tag(url="/static/vendor/axe.min.js")
    result = await page.evaluate("""async () => {
        const r = await axe.run(document);
        return {passes: r.passes.length,
                violations: r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))};
    }""")
    assert result["passes"] > 10  # axe really checked this page
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


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
