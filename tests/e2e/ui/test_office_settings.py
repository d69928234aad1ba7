"""The office's calendar in Settings and the API: admins change the weekly hours and closures,
everyone sees them, staff calendars subscribe to the closures feed (iCalendar)."""

from __future__ import annotations

from typing import Any

import icalendar
import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from tests.support.agent_ui import Logins, app, client, logins  # noqa: F401
from tests.support.live_server import LiveServer
from tests.support.browser import AXE, _axe, browser, hub, logged_in  # noqa: F401
from tests.support import services
from tests.support.agent_ui import token_for as bearer


def test_admins_change_hours_and_closures_and_everyone_reads_them(client: TestClient[Litestar]) -> None:
    admin, agent = bearer(client, "admin@example.org"), bearer(client, "agent@example.org")
    assert client.get("/api/v1/office-hours", headers=agent).json()["hours"] == "always"  # this suite's default
    bad = client.put("/api/v1/office-hours", json={"hours": "mon 18:00-09:00"}, headers=admin)
    assert bad.status_code == 422 and "ends before it starts" in bad.json()["detail"]
    assert client.put("/api/v1/office-hours", json={"hours": "mon-fri 08:30-14:30"}, headers=agent).status_code == 403
    done = client.put("/api/v1/office-hours", json={"hours": "mon-thu 08:30-14:30,16:00-18:00; fri 08:30-14:30"},
                      headers=admin)
    assert done.status_code == 200 and done.json()["hours"] == "mon-thu 08:30-14:30,16:00-18:00; fri 08:30-14:30"
    added = client.post("/api/v1/office-hours/closures",
                        json={"first": "2027-08-09", "last": "2027-08-13", "reason": "Summer works"}, headers=admin)
    assert added.status_code == 201, added.text
    assert client.post("/api/v1/office-hours/closures", json={"first": "2027-08-13", "last": "2027-08-09",
                                                                "reason": "backwards"}, headers=admin).status_code == 422
    assert client.post("/api/v1/office-hours/closures", json={"first": "2027-08-13", "reason": ""},
                       headers=admin).status_code == 400
    body = client.get("/api/v1/office-hours", headers=agent).json()
    assert body["closures"] == [{"first": "2027-08-09", "last": "2027-08-13", "reason": "Summer works"}]
    assert body["holidays"] == "ES-CT" and body["sla_first_response_s"] == 1800
    assert client.delete("/api/v1/office-hours/closures/2027-08-09/2027-08-13", headers=admin).status_code == 204
    assert client.delete("/api/v1/office-hours/closures/2027-08-09/2027-08-13", headers=admin).status_code == 404
    assert client.get("/api/v1/office-hours", headers=agent).json()["closures"] == []
    assert client.put("/api/v1/office-hours", json={"hours": ""}, headers=admin).json()["hours"] == "always"


def test_the_closures_feed_needs_its_token_and_lists_holidays_and_closures(client: TestClient[Litestar],
                                                                            settings: Settings) -> None:
    from agent_ui.office import feed_token
    from hub.context import HubContext

    admin = bearer(client, "admin@example.org")
    client.put("/api/v1/office-hours", json={"hours": "mon-fri 08:30-14:30"}, headers=admin)
    client.post("/api/v1/office-hours/closures", json={"first": "2027-01-07", "reason": "Inventory"}, headers=admin)
    assert client.get("/calendar/not-the-token/closures.ics").status_code == 404
    ctx = HubContext.create(settings)
    token = feed_token(ctx)
    answer = client.get(f"/calendar/{token}/closures.ics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/calendar")
    events = {str(e["summary"]): e for e in icalendar.Calendar.from_ical(answer.content).walk("VEVENT")}
    assert "Inventory" in events and "Cap d'Any" in events  # a closure and a holiday from the library
    inventory = events["Inventory"]
    assert str(inventory.decoded("dtstart")) == "2027-01-07" and str(inventory.decoded("dtend")) == "2027-01-08"


@pytest.mark.browser
async def test_an_admin_adds_a_closure_in_settings(hub: tuple[LiveServer, Settings], browser: Any) -> None:
    from playwright.async_api import expect

    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    server, _settings = hub
    page = await logged_in(browser, server.url, "admin@example.org")
    await page.goto("/settings")
    await page.get_by_label("Weekly hours").fill("mon-fri 08:30-14:30")
    await page.locator("#office-hours ~ div button").click()
    await expect(page.get_by_text("Office hours saved.")).to_be_visible()
    await page.get_by_label("First day").fill("2027-12-24")
    await page.get_by_label("Reason").fill("Christmas Eve")
    await page.get_by_role("button", name="Add the closure").click()
    await expect(page.get_by_text("Closure added.")).to_be_visible()
    row = page.locator("table", has=page.get_by_text("One-off closures")).get_by_role("row", name="Christmas Eve")
    await expect(row).to_contain_text("24/12/2027")
    await expect(page.locator("#office-hours")).to_have_value("mon-fri 08:30-14:30")
    problems = await _axe(page)
    assert not problems, problems


@pytest.mark.browser
async def test_the_queue_says_the_office_is_closed_and_shows_the_clock_in_words(
        hub: tuple[LiveServer, Settings], browser: Any) -> None:
    from datetime import date, timedelta

    from playwright.async_api import expect

    from hub.actions.office import do_add_closure
    from hub.context import HubContext
    from tests.support.browser import citizen_writes as whatsapp_writes

    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    server, settings = hub
    ctx = HubContext.create(settings)
    try:  # closed today and tomorrow (a closure closes even an always-open office)
        today = date.today()
        await do_add_closure(ctx, None, today - timedelta(days=1), today + timedelta(days=1), "Strike")
    finally:
        await ctx.close()
    await whatsapp_writes(settings, "Hola", "+34600777001", "SMc1")
    await whatsapp_writes(settings, "Em dic Pau", "+34600777001", "SMc2")
    page = await logged_in(browser, server.url, "agent@example.org")
    await expect(page.locator(".outside-hours")).to_contain_text("Outside office hours. The office opens on")
    clock = page.locator("#lane-waiting .sla")
    await expect(clock).to_have_text("First reply on time; office time waited: 0 s")
    problems = await _axe(page)
    assert not problems, problems
