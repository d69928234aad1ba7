"""Accessibility with the keyboard and a screen reader, in Debian's chromium (issue 14, item 8):
no sideways scrolling at 320 px, focus kept across a live refresh, selects that do not submit on
an arrow key, live regions that announce what changed, required fields marked, errors tied to
their field with the typed input kept."""

from __future__ import annotations

from typing import Any

import pytest

from hub.config import Settings
from tests.support.live_server import LiveServer
from tests.support.browser import AXE, _axe, browser, citizen_writes, hub, logged_in  # noqa: F401

pytestmark = pytest.mark.browser

SIDEWAYS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


async def _ticket(settings: Settings, number: str, sid: str) -> int:
    ticket = await citizen_writes(settings, "Hola, necessito un certificat d'empadronament per a la beca", number, sid)
    await citizen_writes(settings, "Em dic Laia Pons i Vilaltella-Casanovas", number, sid + "b")
    return ticket


async def test_no_page_scrolls_sideways_at_320_px(hub: tuple[LiveServer, Settings], browser: Any) -> None:  # noqa: F811
    server, settings = hub
    ticket = await _ticket(settings, "+34600126001", "SMw1")
    page = await logged_in(browser, server.url, "admin@example.org")
    await page.set_viewport_size({"width": 320, "height": 640})
    wide = {}
    for path in ("/", f"/tickets/{ticket}", "/calls", "/calls/new", "/stats", "/settings", "/audit", "/board",
                 "/search?q=padro&status=all"):
        await page.goto(path)
        overflow = await page.evaluate(SIDEWAYS)
        if overflow > 0:
            culprits = await page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
                .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1
                        && !(e.parentElement && e.parentElement.closest('.table-scroll')))
                .slice(0, 6).map(e => e.tagName + '.' + e.className + '#' + e.id + '@' + Math.round(e.getBoundingClientRect().right))""")
            wide[path] = (overflow, culprits)
    assert not wide, f"pages wider than 320 px: {wide}"


async def test_a_live_refresh_keeps_the_focus_on_the_same_control_even_without_an_id(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    server, settings = hub
    first = await _ticket(settings, "+34600126101", "SMf1")
    page = await logged_in(browser, server.url, "agent@example.org")
    take = page.locator(f"#lane-waiting li[data-ticket-id='{first}'] button")
    assert await take.get_attribute("id") is None
    await take.focus()
    version = await page.evaluate("document.documentElement.getAttribute('data-live-version') || '0'")
    second = await _ticket(settings, "+34600126102", "SMf2")  # the lanes are refreshed live
    await expect(page.locator(f"#lane-waiting li[data-ticket-id='{second}']")).to_be_visible()
    assert await page.evaluate("document.documentElement.getAttribute('data-live-version')") != version
    focused = await page.evaluate("""() => [document.activeElement.tagName,
        document.activeElement.closest('li') && document.activeElement.closest('li').getAttribute('data-ticket-id')]""")
    assert focused == ["BUTTON", str(first)]
    await page.keyboard.press("Enter")  # still the same control: it takes that consultation
    await page.wait_for_url(f"{server.url}/tickets/{first}")


async def test_the_presence_and_language_selects_submit_on_enter_or_the_button_not_on_an_arrow_key(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    server, _ = hub
    page = await logged_in(browser, server.url, "agent@example.org")
    await page.evaluate("window.stillHere = true")
    await page.focus("#presence-status")
    await expect(page.locator("#presence-status")).to_have_value("offline")  # agents start offline
    await page.keyboard.press("ArrowUp")
    await page.wait_for_timeout(700)
    assert await page.evaluate("window.stillHere === true")  # nothing was submitted
    await page.keyboard.press("Enter")
    await page.wait_for_load_state()
    await expect(page.locator("#presence-status")).to_have_value("away")
    assert await page.evaluate("window.stillHere === undefined")
    await page.focus("#ui-language")
    await page.keyboard.press("ArrowUp")
    await page.wait_for_timeout(500)
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.locator("form.language").get_by_role("button", name="Change").click()
    await expect(page.locator("html")).to_have_attribute("lang", "es")


async def test_new_consultations_and_messages_are_announced_politely(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    server, settings = hub
    page = await logged_in(browser, server.url, "agent@example.org")
    announcer = page.locator("#announcer")
    await expect(announcer).to_have_attribute("aria-live", "polite")
    ticket = await _ticket(settings, "+34600126201", "SMl1")
    await expect(announcer).to_have_text("A new consultation is waiting.")
    await page.get_by_role("button", name="Take next").click()
    await page.wait_for_url(f"{server.url}/tickets/{ticket}")
    await page.wait_for_selector("html[data-live-ready]")
    await citizen_writes(settings, "Una pregunta més", "+34600126201", "SMl3")
    await expect(announcer).to_have_text("New message from the citizen.")


async def test_the_top_bar_fits_one_line_at_1366_px_for_managers_and_nothing_is_missing(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    server, _ = hub
    page = await logged_in(browser, server.url, "admin@example.org")  # the longest menu
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    await page.set_viewport_size({"width": 1366, "height": 768})
    for lang in ("en", "ca", "es"):
        await page.select_option("#ui-language", lang)
        await page.press("#ui-language", "Enter")
        await page.wait_for_selector(f"html[lang='{lang}']")
        await page.goto("/")
        await page.wait_for_load_state("networkidle")
        one_line = await page.evaluate("""() => {
            const boxes = Array.from(document.querySelectorAll('.topbar > *'))
                .filter(e => e.offsetParent !== null).map(e => e.getBoundingClientRect());
            return Math.max(...boxes.map(b => b.top)) < Math.min(...boxes.map(b => b.bottom));
        }""")
        assert one_line, f"the top bar wraps in {lang}"
    assert not missing, missing  # the favicon included


async def test_a_refused_reply_keeps_the_typed_text_and_a_draft_survives_a_reload(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    from hub.actions.lifecycle import do_resolve
    from hub.context import HubContext

    server, settings = hub
    ticket = await _ticket(settings, "+34600126301", "SMd1")
    page = await logged_in(browser, server.url, "agent@example.org")
    await page.get_by_role("button", name="Take next").click()
    await page.wait_for_url(f"{server.url}/tickets/{ticket}")
    box = page.locator("#reply-body")
    await box.fill("Bon dia Laia, li explico els passos")
    await page.reload()
    await expect(box).to_have_value("Bon dia Laia, li explico els passos")  # a draft per ticket
    ctx = HubContext.create(settings)  # meanwhile a manager resolves the consultation
    try:
        await do_resolve(ctx, ticket, None, send_survey=False)
    finally:
        await ctx.close()
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.locator(".flash-error")).to_be_visible()
    assert await page.evaluate("localStorage.getItem('hub-draft-reply-%d')" % ticket) == "Bon dia Laia, li explico els passos"


async def test_log_a_call_marks_required_fields_and_ties_an_error_to_its_field_keeping_the_input(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    server, _ = hub
    page = await logged_in(browser, server.url, "agent@example.org")
    await page.goto("/calls/new")
    marker = await page.evaluate(
        "getComputedStyle(document.querySelector('label[for=call-number]'), '::after').content")
    assert "required" in marker
    await page.get_by_label("Phone number").fill("973 93 02 47")
    await page.get_by_label("Duration (min:s)").fill("4:75")
    await page.get_by_label("Topic").fill("Padró")
    await page.get_by_label("Notes").fill("Vol el volant per a la beca")
    await page.get_by_role("button", name="Save the call").click()
    duration = page.get_by_label("Duration (min:s)")
    await expect(duration).to_have_attribute("aria-invalid", "true")
    await expect(duration).to_have_value("4:75")  # nothing typed is lost
    await expect(page.get_by_label("Notes")).to_have_value("Vol el volant per a la beca")
    await expect(page.get_by_label("Phone number")).to_have_value("973 93 02 47")
    described = await duration.get_attribute("aria-describedby")
    assert await page.locator(f"#{described}").inner_text() == "seconds go from 0 to 59"
    if AXE.exists():
        assert await _axe(page) == []
