"""The managers' dashboard and the citizens' survey in Debian's chromium against the real hub:
charts drawn over the tables, the live "now" panel, axe-core checks, the survey on a phone."""

from __future__ import annotations

from typing import Any

import pytest

from hub.config import Settings
from tests.support.live_server import LiveServer
from tests.support.browser import AXE, _axe, browser, citizen_writes, english, hub, logged_in  # noqa: F401
from tests.support import services

pytestmark = pytest.mark.browser
CHART = AXE.parent / "chart.umd.min.js"


async def test_the_dashboard_draws_charts_and_follows_the_queue_live(hub: tuple[LiveServer, Settings],
                                                                      browser: Any) -> None:
    from playwright.async_api import expect

    if not CHART.exists() or not AXE.exists():
        services.unavailable("chart.js or axe-core not installed (python -m agent_ui.assets install)")
    server, settings = hub
    await citizen_writes(settings, "Hola", "+34600555001", "SMs1")
    await citizen_writes(settings, "Em dic Pere", "+34600555001", "SMs2")
    page = await logged_in(browser, server.url, "manager@example.org")
    await page.goto("/stats")
    await expect(page.locator("h1")).to_have_text("Statistics")
    await expect(page.locator("#chart-daily")).to_be_visible()  # the chart library is served by the hub
    drawn = await page.evaluate("() => !!(window.Chart && Chart.getChart('chart-daily'))")
    assert drawn
    trends = await page.evaluate("() => ['trend-wait', 'trend-rates'].map(id => Chart.getChart(id).data.datasets"
                                 ".map(d => d.borderDash.length + ':' + d.pointStyle))")
    assert trends[0] == ["0:circle", "2:triangle"]  # lines apart without colour: dash and marker
    await expect(page.locator("#trend-wait-title")).to_have_text("Wait in queue (minutes)")
    now = page.locator("#now-panel .now-item", has_text="Waiting in the queue").locator("dd")
    await expect(now).to_have_text("1")
    await citizen_writes(settings, "Una altra consulta", "+34600555002", "SMs3")  # identifying
    await citizen_writes(settings, "Em dic Rosa", "+34600555002", "SMs4")  # queued: live event
    await expect(now).to_have_text("2")  # no reload
    problems = await _axe(page)
    assert not problems, problems
    # Sections fold away; printed, the controls go and every section is there.
    await page.locator("#calls-title").click()
    await expect(page.locator("#calls-title").locator("xpath=ancestor::details")).not_to_have_attribute("open", "")
    await page.emulate_media(media="print")
    await expect(page.locator("form.stats-filters").first).to_be_hidden()
    await expect(page.locator("#trend-title")).to_be_visible()
    await page.evaluate("() => window.dispatchEvent(new Event('beforeprint'))")
    await expect(page.locator("#calls-title").locator("xpath=ancestor::details")).to_have_attribute("open", "")


async def test_the_survey_on_a_phone(hub: tuple[LiveServer, Settings], browser: Any) -> None:
    from playwright.async_api import expect

    from hub.actions.lifecycle import do_resolve
    from hub.context import HubContext

    server, settings = hub
    ticket = await citizen_writes(settings, "Hola", "+34600555101", "SMv1")
    await citizen_writes(settings, "Em dic Jana", "+34600555101", "SMv2")
    ctx = HubContext.create(settings)
    try:
        url = (await do_resolve(ctx, ticket, None)).survey_url
    finally:
        await ctx.close()
    assert url and url.startswith(server.url)
    context = await browser.new_context(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)
    page = await context.new_page()
    await page.goto(url)
    await expect(page.locator("html")).to_have_attribute("lang", "ca")  # the contact's language
    if AXE.exists():
        assert not await _axe(page)
    await page.get_by_label("5 – Molt satisfet").check()
    await page.get_by_label("Vols dir-nos alguna cosa? (opcional)").fill("Molt bé!")
    await page.get_by_role("button", name="Envia").click()
    await expect(page.locator("h1")).to_have_text("Gràcies")
    again = await page.goto(url)
    assert again is not None and again.status == 410
    await context.close()


async def test_the_topic_filter_narrows_the_whole_dashboard(hub: tuple[LiveServer, Settings], browser: Any) -> None:
    import re
    from dataclasses import dataclass

    from playwright.async_api import expect
    from sqlmodel import select

    from hub.actions.topics import do_create_topic, do_set_ticket_topics
    from hub.context import HubContext
    from hub.db.tables import Agent

    @dataclass
    class Manager:
        id: int
        role: str = "manager"

    server, settings = hub
    first = await citizen_writes(settings, "Hola", "+34600555201", "SMp1")
    await citizen_writes(settings, "Em dic Anna", "+34600555201", "SMp2")
    second = await citizen_writes(settings, "Bon dia", "+34600555202", "SMp3")
    ctx = HubContext.create(settings)
    try:
        async with ctx.sessionmaker() as s:
            boss = Manager((await s.exec(select(Agent.id).where(Agent.email == "manager@example.org"))).one())
        topic = (await do_create_topic(ctx, boss, {"ca": "Cens de prova", "es": "Censo de prueba",
                                                   "en": "Test census"})).id
        await do_set_ticket_topics(ctx, boss, first, [topic])
    finally:
        await ctx.close()
    page = await logged_in(browser, server.url, "manager@example.org")
    await page.goto("/stats")
    consultations = page.locator(".key-figures dt", has_text=re.compile("^Consultations$")).locator("xpath=../dd[1]")
    await expect(consultations).to_have_text("2")
    await page.locator("#f-topic").select_option(label="Test census")
    await page.locator("form.stats-filters").first.get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(rf"[?&]topic={topic}(&|$)"))
    await expect(consultations).to_have_text("1")
    await expect(page.locator("#f-topic")).to_have_value(str(topic))
    await expect(page.get_by_text("Calls have no topic")).to_be_visible()
    xlsx = await page.get_by_role("link", name="Download spreadsheet (XLSX)").get_attribute("href")
    assert xlsx and f"topic={topic}" in xlsx
    drill = await consultations.locator("a").get_attribute("href")
    assert drill and f"topic={topic}" in drill
    # The trend period form keeps the topic.
    await page.locator("#f-period").select_option("week")
    await page.locator("#f-period").locator("xpath=ancestor::form").get_by_role("button", name="Show").click()
    await expect(page).to_have_url(re.compile(rf"topic={topic}.*period=week|period=week.*topic={topic}"))
    await expect(consultations).to_have_text("1")
    if AXE.exists():
        problems = await _axe(page)
        assert not problems, problems
    # The drill-down lists that one consultation.
    await page.goto(drill)
    await expect(page.locator(f'a[href="/tickets/{first}"]').first).to_be_visible()
    assert await page.locator(f'a[href="/tickets/{second}"]').count() == 0
