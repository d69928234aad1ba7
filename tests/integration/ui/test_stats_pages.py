"""The statistics API, its CSV, the dashboard and the survey page over HTTP, with each role."""

from __future__ import annotations

import asyncio
import csv
import re
import io
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import select

from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Contact, SurveyResponse
from tests.support.agent_ui import Logins, app, citizen_writes, client, login, logins  # noqa: F401
from tests.support.agent_ui import token_for as bearer
from tests.support.cookies import csrf_token

STATS_ROUTES = ["/api/v1/stats", "/api/v1/stats.csv", "/api/v1/stats?format=csv", "/api/v1/stats/now",
                "/api/v1/stats/trends", "/api/v1/stats?compare=previous", "/api/v1/stats.xlsx", "/stats", "/stats/now"]


def office_today() -> date:
    return datetime.now(ZoneInfo("Europe/Madrid")).date()


def test_agents_see_no_manager_pages(client: TestClient[Litestar]) -> None:
    for path in STATS_ROUTES:
        assert client.get(path, headers={"accept": "application/json"}, follow_redirects=False).status_code in (
            401, 302, 303), path
    agent = bearer(client, "agent@example.org")
    for path in STATS_ROUTES:
        if path.startswith("/api/"):  # bearer tokens are for the API only
            assert client.get(path, headers=agent).status_code == 403, path
    assert login(client, "agent@example.org").status_code in (302, 303)
    for path in STATS_ROUTES:
        assert client.get(path, headers={"x-hub-fragment": "1"}).status_code == 403, path
    assert 'href="/stats"' not in client.get("/").text  # no menu entry either


def test_managers_and_admins_get_the_figures(client: TestClient[Litestar], settings: Settings) -> None:
    citizen_writes(settings, "email", "Necessito un certificat")
    citizen_writes(settings, "whatsapp", "Hola", identify=False)
    for email in ("manager@example.org", "admin@example.org"):
        stats = client.get("/api/v1/stats", headers=bearer(client, email))
        assert stats.status_code == 200, stats.text
        body = stats.json()
        assert body["totals"]["consultations"] == 2
        assert {c["channel"]: c["figures"]["consultations"] for c in body["by_channel"]} == {"email": 1, "whatsapp": 1}
        assert body["timezone"] == "Europe/Madrid" and len(body["busiest_hours"]) == 7
    manager = bearer(client, "manager@example.org")
    now = client.get("/api/v1/stats/now", headers=manager).json()
    assert (now["waiting"], now["identifying"]) == (1, 1)
    only_email = client.get("/api/v1/stats?channel=email", headers=manager).json()
    assert only_email["totals"]["consultations"] == 1 and only_email["channel"] == "email"


@pytest.mark.parametrize("query", ["from=yesterday", "from=2026-03-05&to=2026-03-01", "channel=fax", "agent=me",
                                   "from=2020-01-01&to=2026-01-01", "format=xml", "compare=last", "topic=999",
                                   "topic=padro"])
def test_bad_filters_are_400(client: TestClient[Litestar], query: str) -> None:
    answer = client.get(f"/api/v1/stats?{query}", headers=bearer(client, "manager@example.org"))
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"]


def test_comparison_and_trends_over_http(client: TestClient[Litestar], settings: Settings) -> None:
    citizen_writes(settings, "email")
    manager = bearer(client, "manager@example.org")
    plain = client.get("/api/v1/stats", headers=manager).json()
    assert "previous" not in plain and "year_ago" not in plain
    today = office_today()
    query = f"from={(today - timedelta(days=1)).isoformat()}&to={(today + timedelta(days=1)).isoformat()}"
    body = client.get(f"/api/v1/stats?compare=previous&{query}", headers=manager).json()
    assert body["totals"]["consultations"] == 1
    assert body["previous"]["date_to"] == (today - timedelta(days=2)).isoformat()
    assert body["previous"]["totals"]["consultations"] == 0 and "year_ago" not in body
    trends = client.get(f"/api/v1/stats/trends?period=day&{query}", headers=manager).json()
    assert [p["consultations"] for p in trends["points"]] == [0, 1, 0]
    assert client.get("/api/v1/stats/trends?period=year", headers=manager).status_code == 400
    for bad in ("padro", "%C2%B2", "-1"):
        assert client.get(f"/api/v1/stats/trends?topic={bad}", headers=manager).status_code == 400, bad
    # An unknown topic is a 400, as on the ticket list (not a chart of zeros that looks real).
    assert client.get(f"/api/v1/stats/trends?period=day&topic=999&{query}", headers=manager).status_code == 400


def test_csv_export_has_the_same_figures(client: TestClient[Litestar], settings: Settings) -> None:
    citizen_writes(settings, "email")
    manager = bearer(client, "manager@example.org")
    today = datetime.now(UTC).date()
    query = f"from={(today - timedelta(days=2)).isoformat()}&to={(today + timedelta(days=1)).isoformat()}"
    for path in (f"/api/v1/stats.csv?{query}", f"/api/v1/stats?format=csv&{query}"):
        answer = client.get(path, headers=manager)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
        assert "attachment" in answer.headers["content-disposition"]
        rows = list(csv.reader(io.StringIO(answer.text)))
        assert rows[0] == ["section", "key", "metric", "value"]
        assert ["all", "", "consultations", "1"] in rows
        assert ["channel", "email", "consultations", "1"] in rows
        assert ["all", "", "wait.median_s", ""] in rows  # nobody took it yet: no sample, empty cell
        assert sum(1 for r in rows if r[0] == "day" and r[2] == "consultations" and r[3] == "1") == 1


def test_the_dashboard_has_tables_behind_charts_and_a_live_panel(client: TestClient[Litestar], settings: Settings) -> None:
    citizen_writes(settings, "email")
    assert login(client, "manager@example.org").status_code in (302, 303)
    html = client.get("/stats").text
    assert "<h1>" in html and html.count("<h1") == 1
    assert 'data-live-src="/stats/now"' in html and 'id="chart-daily"' in html and "<table" in html
    assert 'href="/api/v1/stats.csv?from=' in html
    assert 'id="stats-data"' in html and "&#34;daily&#34;" in html  # chart data escaped into an attribute
    fragment = client.get("/stats/now", headers={"x-hub-fragment": "1"})
    assert fragment.status_code == 200 and "<html" not in fragment.text


def test_the_dashboard_compares_and_draws_trends_with_tables(client: TestClient[Litestar], settings: Settings) -> None:
    citizen_writes(settings, "email")
    assert login(client, "manager@example.org").status_code in (302, 303)
    today = office_today()
    html = client.get(f"/stats?from={today.isoformat()}&to={today.isoformat()}&period=day").text
    # One consultation today, none the day before: "up from 0", in words besides the arrow.
    assert f"Compared with {(today - timedelta(days=1)).isoformat()}" in html
    assert "up from 0" in html and '<span aria-hidden="true">▲</span>' in html
    # The calls too: each beside the previous period's.
    assert re.search(r'<dt>Missed</dt><dd>0</dd>\s*<dd class="compare"><span class="compare-label">before: 0</span>', html)
    for chart in ("trend-wait", "trend-first_response", "trend-resolution", "trend-rates", "trend-satisfaction"):
        assert f'id="{chart}"' in html and f'id="{chart}-title"' in html
    assert "Wait in queue (minutes)" in html and "Median: no data in this range." in html
    assert f'<th scope="row">{today.isoformat()}</th>' in html  # the trend's table
    assert client.get("/stats?period=year").status_code == 400


def test_a_manager_opts_in_to_the_weekly_summary(client: TestClient[Litestar], settings: Settings) -> None:
    manager = bearer(client, "manager@example.org")
    assert client.put("/api/v1/agents/me/weekly-summary", json={"enabled": True}, headers=manager).json() == {
        "enabled": True}
    assert client.put("/api/v1/agents/me/weekly-summary", json={"enabled": "yes"}, headers=manager).status_code == 400
    agent = bearer(client, "agent@example.org")
    assert client.put("/api/v1/agents/me/weekly-summary", json={"enabled": True}, headers=agent).status_code == 403
    assert login(client, "manager@example.org").status_code in (302, 303)
    page = client.get("/stats?from=2026-03-01&to=2026-03-31").text
    assert 'id="weekly-summary" name="enabled" value="1" checked' in page
    token = csrf_token(client)
    off = client.post("/stats/weekly-summary", data={"next": "/stats?from=2026-03-01&to=2026-03-31", "_csrf_token": token},
                      follow_redirects=False)
    assert off.status_code == 303 and off.headers["location"] == "/stats?from=2026-03-01&to=2026-03-31"
    assert 'value="1" checked' not in client.get("/stats").text


def test_counts_link_to_the_search_page_with_the_filters(client: TestClient[Litestar], settings: Settings) -> None:
    citizen_writes(settings, "whatsapp", "Hola", identify=False)
    citizen_writes(settings, "email")
    assert login(client, "manager@example.org").status_code in (302, 303)
    today = office_today().isoformat()
    html = client.get(f"/stats?from={today}&to={today}&channel=email").text
    link = f"/search?from={today}&amp;to={today}&amp;kind=consultation&amp;channel=email"
    assert f'<a href="{link}">1</a>' in html
    page = client.get(link.replace("&amp;", "&") + "&abandoned=1&dated=closed&outside_sla=0")
    assert page.status_code == 200
    assert 'id="search-abandoned" type="checkbox" name="abandoned" value="1" checked' in page.text
    assert '<input type="hidden" name="kind" value="consultation">' in page.text
    manager = bearer(client, "manager@example.org")
    listed = client.get(f"/api/v1/tickets?from={today}&to={today}&kind=consultation", headers=manager).json()
    assert {t["channel"] for t in listed["tickets"]} == {"email", "whatsapp"}
    none = client.get(f"/api/v1/tickets?from={today}&to={today}&abandoned=1&dated=closed", headers=manager).json()
    assert none["tickets"] == []  # still identifying: not abandoned
    for bad in ("abandoned=yes", "dated=updated", "kind=task", "outside_sla=2"):
        assert client.get(f"/api/v1/tickets?{bad}", headers=manager).status_code == 400, bad


def answered_surveys(settings: Settings, ratings: list[int]) -> None:
    """One answered survey per rating (fixture rows, one ticket each), a minute apart, newest last."""
    tickets = [citizen_writes(settings, "email") for _ in ratings]

    async def answer() -> None:
        ctx = HubContext.create(settings)
        # Inside today's office day whatever the hour (CI once ran at 00:34 in Madrid: an hour ago was yesterday).
        now = datetime.combine(office_today(), datetime.min.time(), ZoneInfo("Europe/Madrid")).astimezone(UTC)
        now += timedelta(minutes=1)
        try:
            async with ctx.sessionmaker() as s:
                for i, (ticket, rating) in enumerate(zip(tickets, ratings)):
                    at = now + timedelta(minutes=i)
                    s.add(SurveyResponse(ticket_id=ticket, channel="email", token_hash=f"t{ticket}", created_at=at,
                                         expires_at=at + timedelta(days=14), answered_at=at, rating=rating,
                                         comment=f"Comentari {i + 1}"))
                await s.commit()
        finally:
            await ctx.close()

    asyncio.run(answer())


def test_comments_are_paginated_and_filtered_by_rating_in_the_url(client: TestClient[Litestar],
                                                                   settings: Settings) -> None:
    answered_surveys(settings, [(i % 5) + 1 for i in range(23)])  # ratings 1..5 in turn
    assert login(client, "manager@example.org").status_code in (302, 303)
    today = office_today().isoformat()
    first = client.get(f"/stats?from={today}&to={today}").text
    assert "Comments 1–10 of 23, newest first." in first and "Comentari 23" in first and "Comentari 13" not in first
    assert "Page 1 of 3" in first
    older = f"/stats?from={today}&amp;to={today}&amp;page=2#comments-title"
    assert f'href="{older}" rel="next"' in first
    second = client.get(older.replace("&amp;", "&")).text
    assert "Comentari 13" in second and "Comentari 23" not in second and 'rel="prev"' in second
    fives = client.get(f"/stats?from={today}&to={today}&rating=5").text
    assert "Comments 1–4 of 4, newest first." in fives and "Comentari 20" in fives and "Comentari 19" not in fives
    assert '<option value="5" selected>5</option>' in fives
    for bad in ("rating=6", "page=0", "page=x", "page=%C2%B2", "page=" + "9" * 30):
        assert client.get(f"/stats?{bad}").status_code == 400, bad


def test_range_presets_collapsible_sections_and_print(client: TestClient[Litestar], settings: Settings) -> None:
    assert login(client, "manager@example.org").status_code in (302, 303)
    today = office_today()
    monday = today - timedelta(days=today.weekday())
    html = client.get(f"/stats?from={monday.isoformat()}&to={today.isoformat()}&channel=email&period=week").text
    # "This week" is the current range: marked, and every preset keeps the channel and period.
    assert (f'<a href="/stats?from={monday.isoformat()}&amp;to={today.isoformat()}&amp;channel=email&amp;period=week" '
            'aria-current="true">This week</a>') in html
    last = monday - timedelta(days=7)
    assert (f'href="/stats?from={last.isoformat()}&amp;to={(monday - timedelta(days=1)).isoformat()}'
            '&amp;channel=email&amp;period=week"') in html
    assert 'href="/stats?from=' + today.replace(month=1, day=1).isoformat() in html  # this year
    assert html.count('<details class="section" open><summary><h2 id=') == 10  # with 'By WhatsApp entry point'
    assert '<input type="hidden" name="period" value="week">' in html  # the range form keeps the period
    assert 'id="f-topic" name="topic"' in html  # trends by topic (the seeded topics)
    sheet = re.search(r'<link rel="stylesheet" href="(/static/stats\.css[^"]*)"', html)
    assert sheet is not None
    css = client.get(sheet.group(1)).text
    assert "@media print" in css and ".no-print" in css  # the printed report: no controls


# The survey page ---------------------------------------------------------------------------------


def resolved_survey(client: TestClient[Litestar], settings: Settings, language: str = "es") -> str:
    ticket = citizen_writes(settings, "email", "Hola")

    async def set_language() -> None:
        ctx = HubContext.create(settings)
        try:
            async with ctx.sessionmaker() as s:
                for contact in (await s.exec(select(Contact))).all():
                    contact.language = language
                    s.add(contact)
                await s.commit()
        finally:
            await ctx.close()

    asyncio.run(set_language())
    resolved = client.post(f"/api/v1/tickets/{ticket}/resolve", headers=bearer(client, "manager@example.org"))
    assert resolved.status_code == 200, resolved.text
    url = resolved.json()["survey_url"]
    assert url.startswith(settings.public_url + "/survey/")
    return url.removeprefix(settings.public_url)


def test_a_citizen_answers_the_survey_once(client: TestClient[Litestar], settings: Settings) -> None:
    path = resolved_survey(client, settings, "es")
    form = client.get(path)
    assert form.status_code == 200
    assert '<html lang="es">' in form.text and 'type="radio"' in form.text and 'name="_csrf_token"' in form.text
    for n in range(1, 6):
        assert f'<label for="rating-{n}">' in form.text
    # The CSRF protection stays on for the public form.
    assert client.post(path, data={"rating": "5"}).status_code == 403
    token = csrf_token(client)
    missing = client.post(path, data={"comment": "sense nota", "_csrf_token": token})
    assert missing.status_code == 422 and 'role="alert"' in missing.text and "sense nota" in missing.text
    done = client.post(path, data={"rating": "4", "comment": "Molt bé <b>gràcies</b>", "_csrf_token": token})
    assert done.status_code == 200 and '<html lang="es">' in done.text
    again = client.post(path, data={"rating": "1", "_csrf_token": token})
    assert again.status_code == 410
    assert client.get(path).status_code == 410

    async def stored() -> SurveyResponse:
        ctx = HubContext.create(settings)
        try:
            async with ctx.sessionmaker() as s:
                return (await s.exec(select(SurveyResponse))).one()
        finally:
            await ctx.close()

    survey = asyncio.run(stored())
    assert (survey.rating, survey.comment) == (4, "Molt bé <b>gràcies</b>")
    comments = client.get("/api/v1/stats", headers=bearer(client, "manager@example.org")).json()["comments"]
    assert [c["comment"] for c in comments] == ["Molt bé <b>gràcies</b>"]
    # A comment that looks like a spreadsheet formula is exported as text.
    other = resolved_survey(client, settings, "ca")
    client.get(other)
    assert client.post(other, data={"rating": "2", "comment": "=HYPERLINK(\"http://x\")",
                                    "_csrf_token": csrf_token(client)}).status_code == 200
    # ...also after a `;`, where a Catalan or Spanish Excel splits the cell (issue 13, finding 9).
    third = resolved_survey(client, settings, "ca")
    client.get(third)
    assert client.post(third, data={"rating": "2", "comment": "Molt be;=cmd|' /C calc'!A0",
                                    "_csrf_token": csrf_token(client)}).status_code == 200
    export = client.get("/api/v1/stats.csv", headers=bearer(client, "manager@example.org")).text
    assert all(line.startswith('"') and line.endswith('"') for line in export.splitlines())  # every cell quoted
    assert '"Molt be;\'=cmd|\' /C calc\'!A0"' in export
    rows = list(csv.reader(io.StringIO(export)))
    assert ["'=HYPERLINK(\"http://x\")"] == [r[3] for r in rows if r[0] == "comment" and "HYPERLINK" in r[3]]
    assert login(client, "manager@example.org").status_code in (302, 303)
    page = client.get("/stats").text
    assert "Molt bé &lt;b&gt;gràcies&lt;/b&gt;" in page  # citizens' text is escaped


def test_unknown_and_expired_surveys_get_a_friendly_page(client: TestClient[Litestar], settings: Settings) -> None:
    assert client.get("/survey/" + "x" * 32).status_code == 404
    assert client.get("/survey/nope").status_code == 404
    path = resolved_survey(client, settings, "en")

    async def expire() -> None:
        ctx = HubContext.create(settings)
        try:
            async with ctx.sessionmaker() as s:
                survey = (await s.exec(select(SurveyResponse))).one()
                survey.expires_at = datetime.now(UTC) - timedelta(seconds=1)
                s.add(survey)
                await s.commit()
        finally:
            await ctx.close()

    asyncio.run(expire())
    gone = client.get(path)
    assert gone.status_code == 410 and '<html lang="en">' in gone.text and "expired" in gone.text


def test_the_topic_filter_applies_to_the_whole_page(client: TestClient[Litestar], settings: Settings) -> None:
    """Two email consultations today with a comment each, one of them about a topic: with the
    topic chosen, the key figure, the tables, the comments, the drill-down links and the export
    links all count only that one, and the choice stays in every link and form."""
    manager = bearer(client, "manager@example.org")
    topic = client.post("/api/v1/topics", headers=manager, json={
        "names": {"ca": "Cens de prova", "es": "Censo de prueba", "en": "Test census"}}).json()["id"]
    answered_surveys(settings, [5, 2])
    ticket = client.get("/api/v1/tickets?status=all", headers=manager).json()["tickets"]
    about = min(t["id"] for t in ticket)  # the one rated 5 ("Comentari 1")
    assert client.put(f"/api/v1/tickets/{about}/topics", headers=manager, json={"topics": [topic]}).status_code == 200
    assert login(client, "manager@example.org").status_code in (302, 303)
    today = office_today().isoformat()
    html = client.get(f"/stats?from={today}&to={today}").text
    assert f'<a href="/search?from={today}&amp;to={today}&amp;kind=consultation">2</a>' in html
    assert "Comentari 1" in html and "Comentari 2" in html and "Calls have no topic" not in html
    html = client.get(f"/stats?from={today}&to={today}&topic={topic}").text
    assert f'<option value="{topic}" selected>Test census</option>' in html
    assert re.search(r'<form class="stats-filters" method="get" action="/stats">.*?id="f-topic"', html, re.S)
    link = f"/search?from={today}&amp;to={today}&amp;kind=consultation&amp;topic={topic}"
    assert html.count(f'<a href="{link}">1</a>') == 4  # the key figure, the day's, week's and month's totals
    by_channel = f"/search?from={today}&amp;to={today}&amp;kind=consultation&amp;channel=email&amp;topic={topic}"
    assert html.count(f'<a href="{by_channel}">1</a>') == 4  # the channel's row, its day, week and month
    assert "Comentari 1" in html and "Comentari 2" not in html
    assert "Calls have no topic" in html
    for export in ("/api/v1/stats.xlsx?", "/api/v1/stats.csv?table=daily&amp;", "/api/v1/stats.csv?table=agents&amp;"):
        assert f'href="{export}from={today}&amp;to={today}&amp;topic={topic}"' in html, export
    # The trend and comment forms carry the topic on.
    assert html.count(f'<input type="hidden" name="topic" value="{topic}">') == 2
    assert client.get("/stats?topic=999").status_code == 400
