"""Browser fixtures: Debian's chromium through playwright, a real uvicorn server running the whole
hub in one process (`hub run`'s embedded mode), a signed-in page, and an axe-core scan."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from hub.context import HubContext
from tests.conftest import make_settings
from tests.support import services
from tests.support.agent_ui import PASSWORD, _make_agents
from tests.support.live_server import LiveServer
from tests.support.services import free_port

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
AXE = Path(__file__).resolve().parents[2] / "agent_ui" / "static" / "vendor" / "axe.min.js"
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
    from runtime.reactions import wire_live_only

    ctx = HubContext.create(settings)
    wire_live_only(ctx)
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
