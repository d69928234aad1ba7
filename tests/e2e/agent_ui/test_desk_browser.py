"""The agents' desk in Debian's chromium: finding a closed consultation from the top bar, its
results kept in the URL and refreshed live; axe on the new pages in every language."""

from __future__ import annotations

import re
from typing import Any

import pytest

from hub.config import Settings
from hub.context import HubContext
from tests.support.live_server import LiveServer
from tests.support.browser import AXE, _axe, browser, citizen_writes, hub, logged_in  # noqa: F401
from tests.support import services

pytestmark = pytest.mark.browser


async def _resolve(settings: Settings, ticket_id: int, agent_email: str) -> None:
    from sqlmodel import select

    from hub.actions.lifecycle import do_assign, do_resolve
    from hub.db.tables import Agent

    ctx = HubContext.create(settings)
    try:
        async with ctx.sessionmaker() as session:
            agent = (await session.exec(select(Agent).where(Agent.email == agent_email))).one()
        await do_assign(ctx, ticket_id, agent.id, by_agent_id=agent.id)
        await do_resolve(ctx, ticket_id, agent.id, send_survey=False)
    finally:
        await ctx.close()


async def test_a_search_from_the_top_bar_finds_a_closed_consultation_by_a_word_of_its_message(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    server, settings = hub
    ticket = await citizen_writes(settings, "Vull renovar el DNI del meu fill", "+34600124001", "SMs1")
    await citizen_writes(settings, "Em dic Laia Pons", "+34600124001", "SMs2")
    await _resolve(settings, ticket, "agent@example.org")

    page = await logged_in(browser, server.url, "agent2@example.org")
    await page.get_by_role("searchbox", name="Find any consultation").fill("RENOVAR")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{server.url}/search?q=RENOVAR")
    row = page.locator(f"#search-results tr[data-ticket-id='{ticket}']")
    await expect(row).to_contain_text("Resolved")
    await expect(row).to_contain_text("Laia Pons")
    await expect(row).to_contain_text("Jordi Vidal")  # the agent who had it
    await expect(row.locator("mark")).to_have_text("renovar")
    await expect(page.get_by_role("status").filter(has_text="1 consultation found")).to_be_visible()

    # filters live in the URL: a bookmark gives the same search
    await page.get_by_label("Status", exact=True).select_option("open")
    await page.locator("form.search-filters").get_by_role("button", name="Search", exact=True).click()
    await page.wait_for_url("**/search?q=RENOVAR&status=open*")
    await expect(page.get_by_text("No consultation found.")).to_be_visible()
    await page.wait_for_selector("html[data-live-ready]")

    # live: a new open consultation with the word appears without a reload
    fresh = await citizen_writes(settings, "També he de renovar el passaport", "+34600124002", "SMs3")
    await expect(page.locator(f"#search-results tr[data-ticket-id='{fresh}']")).to_be_visible()


async def test_the_search_page_passes_axe_in_every_language(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    server, settings = hub
    await citizen_writes(settings, "Necessito el padró <script>x</script>", "+34600124101", "SMa1")
    page = await logged_in(browser, server.url, "manager@example.org")
    problems = {}
    await page.goto("/search?q=padro")
    await page.wait_for_selector("#search-results mark")
    problems["/search (en)"] = await _axe(page)
    await page.goto("/search")
    problems["/search empty (en)"] = await _axe(page)
    for lang in ("ca", "es"):
        await page.select_option("#ui-language", lang)
        await page.press("#ui-language", "Enter")  # selects submit on Enter or the button, never on change
        await page.wait_for_selector(f"html[lang='{lang}']")
        await page.goto("/search?q=padro&status=open")
        problems[f"/search ({lang})"] = await _axe(page)
        html = await page.content()
        assert "consultation found" not in html and "Search consultations" not in html, lang  # translated
    bad = {path: found for path, found in problems.items() if found}
    assert not bad, f"serious or critical accessibility problems: {bad}"


async def _available(settings: Settings, email: str) -> int:
    from sqlmodel import select

    from hub.actions.agents import do_set_presence
    from hub.db.tables import Agent
    from runtime.reactions import wire_live_only

    ctx = HubContext.create(settings)
    wire_live_only(ctx)
    try:
        async with ctx.sessionmaker() as session:
            agent = (await session.exec(select(Agent).where(Agent.email == email))).one()
        await do_set_presence(ctx, agent.id, "available")
        return agent.id
    finally:
        await ctx.close()


async def _waiting(settings: Settings, n: int, start: int) -> list[int]:
    out = []
    for i in range(n):
        number = f"+3460012{start + i:04d}"
        ticket = await citizen_writes(settings, "Hola", number, f"SMb{start + i}a")
        await citizen_writes(settings, "Em dic Pau Riera", number, f"SMb{start + i}b")
        out.append(ticket)
    return out


async def test_a_manager_reassigns_two_tickets_at_once_from_the_board(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    server, settings = hub
    one, two, three = await _waiting(settings, 3, 100)
    anna = await _available(settings, "agent2@example.org")
    page = await logged_in(browser, server.url, "manager@example.org")
    await page.get_by_role("link", name="Board").click()
    await page.wait_for_url(f"{server.url}/board")
    await expect(page.locator("#board-waiting-title")).to_contain_text("3")

    await page.get_by_label(f"Select OAC-{_year()}-{one:06d}").check()
    await page.get_by_label(f"Select OAC-{_year()}-{two:06d}").check()
    # a live refresh (another ticket moves) keeps the ticks
    await _waiting(settings, 1, 200)
    await expect(page.locator("#board-waiting-title")).to_contain_text("4")
    await expect(page.get_by_label(f"Select OAC-{_year()}-{one:06d}")).to_be_checked()

    await page.get_by_label("With the ticked consultations").select_option("assign")
    await page.locator("#bulk-agent").select_option(str(anna))
    await page.get_by_role("button", name="Apply").click()
    await page.wait_for_url(f"{server.url}/board")
    await expect(page.get_by_text("Done: 2 of 2.")).to_be_visible()
    anna_lane = page.locator(f"#board-agent-{anna}")
    for ticket in (one, two):
        await expect(anna_lane.locator(f"tr[data-ticket-id='{ticket}']")).to_be_visible()
    await expect(anna_lane.locator(f"tr[data-ticket-id='{three}']")).to_have_count(0)
    await expect(page.locator(f"#board-agent-{anna}-title")).to_contain_text("2")


async def test_the_board_passes_axe_for_managers_and_is_read_only_for_agents(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    server, settings = hub
    await _waiting(settings, 2, 300)
    await _available(settings, "agent2@example.org")
    problems = {}
    page = await logged_in(browser, server.url, "manager@example.org")
    await page.goto("/board")
    problems["/board manager"] = await _axe(page)
    for lang in ("ca", "es"):
        await page.select_option("#ui-language", lang)
        await page.press("#ui-language", "Enter")  # selects submit on Enter or the button, never on change
        await page.wait_for_selector(f"html[lang='{lang}']")
        await page.goto("/board")
        problems[f"/board ({lang})"] = await _axe(page)
    agent = await logged_in(browser, server.url, "agent@example.org")
    await agent.get_by_role("link", name="All open").click()
    await agent.wait_for_url(f"{server.url}/board")
    problems["/board agent"] = await _axe(agent)
    await expect(agent.locator("#board input[type=checkbox]")).to_have_count(0)
    await expect(agent.get_by_role("button", name="Reassign")).to_have_count(0)
    await expect(agent.locator("#board-waiting-title")).to_contain_text("2")
    bad = {path: found for path, found in problems.items() if found}
    assert not bad, f"serious or critical accessibility problems: {bad}"


async def test_the_board_sorts_by_waiting_time_or_latest_activity_from_the_keyboard(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    server, settings = hub
    older, newer = await _waiting(settings, 2, 400)
    page = await logged_in(browser, server.url, "manager@example.org")
    await page.goto("/board")
    rows = page.locator("section:has(#board-waiting-title) tr[data-ticket-id]")
    await expect(rows).to_have_count(2)
    assert [await r.get_attribute("data-ticket-id") for r in await rows.all()] == [str(older), str(newer)]

    await page.focus("#board-sort")
    await page.keyboard.press("ArrowDown")  # choosing does not submit (WCAG 3.2.2) ...
    assert page.url == f"{server.url}/board"
    await page.keyboard.press("Tab")  # ... the button does
    await expect(page.get_by_role("button", name="Sort")).to_be_focused()
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{server.url}/board?sort=activity")
    await expect(page.locator("#board-sort")).to_have_value("activity")
    await expect(page.locator("#board")).to_have_attribute("data-live-src", "/board/fragment?sort=activity")
    await expect(rows.first).to_have_attribute("data-ticket-id", str(newer))
    assert [await r.get_attribute("data-ticket-id") for r in await rows.all()] == [str(newer), str(older)]
    found = await _axe(page)
    assert not found, f"serious or critical accessibility problems: {found}"


def _year() -> int:
    from datetime import UTC, datetime

    return datetime.now(UTC).year


async def test_an_agent_reopens_a_resolved_email_consultation_from_its_page(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from datetime import UTC, datetime

    from playwright.async_api import expect

    from hub.actions.messages import do_receive_message
    from hub.inbound import IdentityIn, InboundMessage

    server, settings = hub
    ctx = HubContext.create(settings)
    try:
        got = await do_receive_message(ctx, InboundMessage(
            channel="email", provider_id="<reopen@example.net>", received_at=datetime.now(UTC), body="Bon dia",
            identities=[IdentityIn("email", "pere@example.net")], subject="Llicència",
        ))
    finally:
        await ctx.close()
    assert got.ticket_id is not None
    await _available(settings, "agent@example.org")
    await _resolve(settings, got.ticket_id, "agent@example.org")
    page = await logged_in(browser, server.url, "agent@example.org")
    await page.goto(f"/tickets/{got.ticket_id}")
    await expect(page.locator("#ticket-status")).to_have_attribute("data-status", "resolved")
    if AXE.exists():
        assert await _axe(page) == []
    await page.get_by_role("button", name="Reopen").click()
    await expect(page.locator("#ticket-status")).to_have_attribute("data-status", "assigned")
    await expect(page.get_by_text("Consultation reopened.")).to_be_visible()
    await expect(page.locator("#timeline")).to_contain_text("Reopened")


async def test_work_from_the_keyboard(hub: tuple[LiveServer, Settings], browser: Any) -> None:  # noqa: F811
    """Alt+N takes the next, Ctrl+Enter sends, "?" lists the shortcuts, "Resolve and take next"."""
    from playwright.async_api import expect

    server, settings = hub
    first, second = await _waiting(settings, 2, 400)
    page = await logged_in(browser, server.url, "agent@example.org")
    await page.keyboard.press("?")
    await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_visible()
    if AXE.exists():
        assert await _axe(page) == []
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    await page.keyboard.press("j")
    assert await page.evaluate("document.activeElement.getAttribute('href')") == f"/tickets/{first}"

    await page.keyboard.press("Alt+n")
    await page.wait_for_url(f"{server.url}/tickets/{first}")
    await page.wait_for_selector("html[data-live-ready]")
    await page.keyboard.press("r")
    assert await page.evaluate("document.activeElement.id") == "reply-body"
    await page.keyboard.type("Bon dia, ara ho miro")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#timeline")).to_contain_text("Bon dia, ara ho miro")

    await page.get_by_role("button", name="Resolve and take next").click()
    await page.wait_for_url(f"{server.url}/tickets/{second}")
    await expect(page.get_by_text("Ticket resolved.")).to_be_visible()


async def test_a_citizen_writing_on_my_ticket_raises_the_title_count_and_plays_the_sound_hook(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    server, settings = hub
    number = "+34600125001"
    ticket = await citizen_writes(settings, "Hola", number, "SMn1")
    await citizen_writes(settings, "Em dic Rosa Vila", number, "SMn2")
    page = await logged_in(browser, server.url, "agent@example.org")
    await page.get_by_role("button", name="Take next").click()
    await page.wait_for_url(f"{server.url}/tickets/{ticket}")
    await page.goto("/")
    await page.wait_for_selector("html[data-live-ready]")
    title = await page.title()
    assert not title.startswith("(")
    await expect(page.get_by_role("button", name="Desktop notifications")).to_be_visible()  # asked on a click only

    await citizen_writes(settings, "Encara hi sou?", number, "SMn3")
    await expect(page).to_have_title("(1) " + title)
    await expect(page.locator("html")).to_have_attribute("data-sounds", "1")
    mine = page.locator(f"#lane-mine li[data-ticket-id='{ticket}']")
    await expect(mine.get_by_text("1 new message")).to_be_visible()
    await expect(mine).to_contain_text("the citizen wrote")
    if AXE.exists():
        assert await _axe(page) == []

    await page.get_by_role("button", name="Sound").click()  # switched off: no sound, still counted
    await expect(page.get_by_role("button", name="Sound")).to_have_attribute("aria-pressed", "false")
    await citizen_writes(settings, "Hola?", number, "SMn4")
    await expect(mine.get_by_text("2 new messages")).to_be_visible()
    await page.wait_for_timeout(500)
    await expect(page.locator("html")).to_have_attribute("data-sounds", "1")

    # kept on the server: the same after a reload and on another device, on any page
    await page.reload()
    await expect(page).to_have_title("(1) " + title)
    other = await logged_in(browser, server.url, "agent@example.org")
    await other.goto("/calls")
    await other.wait_for_selector("html[data-live-ready]")
    await expect(other).to_have_title(re.compile(r"^\(1\) "))

    await page.locator(f"#lane-mine li[data-ticket-id='{ticket}']").get_by_role("link").click()  # read
    await page.wait_for_url(f"{server.url}/tickets/{ticket}")
    await expect(page).not_to_have_title(re.compile(r"^\("))
    await expect(other).not_to_have_title(re.compile(r"^\("))  # the other device hears it at once
    await page.goto("/")
    await expect(page).to_have_title(title)
