"""In a real browser (Debian's chromium through playwright) against a real uvicorn server: a
signed Twilio voice callback makes the ringing banner show who is calling, and the log-a-call
form finds the caller's consultations while the agent types the number."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from twilio.request_validator import RequestValidator

from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Call
from tests.support.agent_ui import PASSWORD, _make_agents, _receive
from tests.support.live_server import LiveServer
from tests.support.phone_channel import ACCOUNT, TOKEN, callback
from tests.conftest import make_settings, whatsapp_env
from tests.support import services

pytestmark = pytest.mark.browser
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture
def browser_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Settings:
    whatsapp_env(monkeypatch, twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN)
    return make_settings(tmp_path, db_url, public_url="https://hub.example.org")


@pytest.fixture
def server(browser_settings: Settings) -> Iterator[LiveServer]:
    from entrypoints.web import create_app

    services.require_chromium()
    asyncio.run(_make_agents(browser_settings))
    with LiveServer(create_app(browser_settings)) as srv:
        yield srv


async def _log_in(page, url: str) -> None:  # type: ignore[no-untyped-def]
    await page.goto(url + "/login")
    await page.fill("input[name=email]", "agent@example.org")
    await page.fill("input[name=password]", PASSWORD)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(url + "/")


def _signed(form: dict[str, str]) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(
        "https://hub.example.org/webhooks/twilio/voice", form)}


async def test_a_ringing_call_shows_who_is_calling_then_goes_away(server: LiveServer, browser_settings: Settings) -> None:
    from playwright.async_api import async_playwright, expect

    await _receive(browser_settings, "whatsapp", "Hola", "+34600111222")  # Laia Pons, on WhatsApp
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=services.CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page()
            await _log_in(page, server.url)
            await page.goto(server.url + "/calls")
            # (a selector, not wait_for_function: the page's CSP forbids the eval its polling uses)
            await page.wait_for_selector("html[data-live-ready='1']", state="attached")
            ringing = page.locator("#ringing")
            await expect(ringing).to_contain_text("No call is ringing")
            async with httpx.AsyncClient(base_url=server.url) as twilio:
                now = format_datetime(datetime.now(UTC), usegmt=True)  # the server runs on the real clock
                form = callback("CA1", "ringing", 0, 0, Timestamp=now)
                assert (await twilio.post("/webhooks/twilio/voice", data=form, headers=_signed(form))).status_code == 200
                await expect(ringing).to_contain_text("Laia Pons", timeout=5000)
                await expect(ringing).to_contain_text("600 11 12 22")
                await expect(ringing.locator("a[href^='/tickets/']")).to_have_count(1)
                form = callback("CA1", "completed", 2, 60, duration=50, Timestamp=now)
                assert (await twilio.post("/webhooks/twilio/voice", data=form, headers=_signed(form))).status_code == 200
                await expect(ringing).to_contain_text("No call is ringing", timeout=5000)
        finally:
            await browser.close()


async def test_typing_the_number_offers_the_citizen_s_consultations(server: LiveServer, browser_settings: Settings) -> None:
    from playwright.async_api import async_playwright, expect

    ticket_id = await _receive(browser_settings, "whatsapp", "Hola", "+34600111222")
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=services.CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page()
            await _log_in(page, server.url)
            await page.goto(server.url + "/calls/new")
            await page.locator("#call-number").press_sequentially("600 11 12 22", delay=20)
            choice = page.locator(f"#ticket-{ticket_id}")
            await expect(choice).to_be_visible(timeout=5000)
            await expect(page.locator("#caller")).to_contain_text("Laia Pons")
            await choice.check()
            await page.fill("#call-duration", "3:15")
            await page.fill("#call-topic", "Padró")
            await page.click("#call-form button[type=submit]:not([formmethod])")
            await page.wait_for_url(server.url + "/calls")
            await expect(page.locator("main")).to_contain_text("Padró")
        finally:
            await browser.close()

    async def read() -> list[Call]:
        ctx = HubContext.create(browser_settings)
        try:
            async with ctx.sessionmaker() as s:
                return list((await s.exec(select(Call))).all())
        finally:
            await ctx.close()

    [call] = await read()
    assert (call.ticket_id, call.duration_s, call.number) == (ticket_id, 195, "+34600111222")
