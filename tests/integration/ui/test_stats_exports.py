"""The statistics as tables a spreadsheet opens: CSV per day x channel, per agent, per topic (in the
manager's language, `;` and a BOM for ca/es, durations in minutes) and the same tables as XLSX,
read back with openpyxl. Names people type are escaped against formulas in both."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.testing import TestClient
from sqlmodel import select

from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Agent
from tests.support.agent_ui import Logins, app, citizen_writes, client, logins  # noqa: F401
from tests.support.agent_ui import token_for as bearer


def office_today() -> date:
    return datetime.now(ZoneInfo("Europe/Madrid")).date()


def set_manager(settings: Settings, language: str, name: str = "Marta Puig") -> None:
    async def change() -> None:
        ctx = HubContext.create(settings)
        try:
            async with ctx.sessionmaker() as s:
                manager = (await s.exec(select(Agent).where(Agent.email == "manager@example.org"))).one()
                manager.language, manager.name = language, name
                s.add(manager)
                await s.commit()
        finally:
            await ctx.close()

    asyncio.run(change())


def resolved_email(client: TestClient[Litestar], settings: Settings) -> None:
    ticket = citizen_writes(settings, "email")
    answer = client.post(f"/api/v1/tickets/{ticket}/resolve", headers=bearer(client, "manager@example.org"))
    assert answer.status_code == 200, answer.text


def test_the_daily_table_opens_in_a_catalan_excel(client: TestClient[Litestar], settings: Settings) -> None:
    resolved_email(client, settings)
    set_manager(settings, "ca")
    today = office_today()
    query = f"from={(today - timedelta(days=1)).isoformat()}&to={today.isoformat()}"
    answer = client.get(f"/api/v1/stats.csv?table=daily&{query}", headers=bearer(client, "manager@example.org"))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
    header = rows[0]
    assert header[:4] == ["Dia", "Canal", "Consultes", "Consultes resoltes"]
    assert "Espera a la cua, mediana (min)" in header
    assert len(rows) == 1 + 2 * 3  # two days x three channels, zeros included
    row = dict(zip(header, next(r for r in rows[1:] if r[0] == today.isoformat() and r[1] == "Correu electrònic")))
    assert (row["Consultes"], row["Consultes resoltes"]) == ("1", "1")
    # Resolved straight from the queue within seconds: one wait in the first bucket (<= 15 s), in minutes.
    assert row["Espera a la cua, mediana (min)"] == "0,25"
    yesterday = [r for r in rows[1:] if r[0] == (today - timedelta(days=1)).isoformat()]
    assert len(yesterday) == 3 and all(r[2] == "0" for r in yesterday)


def test_english_gets_commas_and_no_bom(client: TestClient[Litestar], settings: Settings) -> None:
    citizen_writes(settings, "email")
    answer = client.get("/api/v1/stats.csv?table=daily", headers=bearer(client, "manager@example.org"))
    assert not answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(answer.text)))
    assert rows[0][:3] == ["Day", "Channel", "Consultations"]
    assert client.get("/api/v1/stats.csv?table=calls", headers=bearer(client, "manager@example.org")).status_code == 400


def test_the_agents_table_escapes_formulas_in_csv_and_xlsx(client: TestClient[Litestar], settings: Settings) -> None:
    from openpyxl import load_workbook

    resolved_email(client, settings)
    set_manager(settings, "es", name="=HYPERLINK(\"http://x\")")
    manager = bearer(client, "manager@example.org")
    rows = list(csv.reader(io.StringIO(
        client.get("/api/v1/stats.csv?table=agents", headers=manager).content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Agente", "Consultas resueltas", "Traspasos recibidos"]
    assert rows[1][:2] == ["'=HYPERLINK(\"http://x\")", "1"]

    answer = client.get("/api/v1/stats.xlsx", headers=manager)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == ["Por día", "Por agente", "Por tema", "Por punto de entrada"]
    agents = book["Por agente"]
    assert agents["A1"].value == "Agente" and agents["B2"].value == 1  # a number, not text
    assert agents["A2"].value == "'=HYPERLINK(\"http://x\")" and agents["A2"].data_type == "s"
    daily = book["Por día"]
    header = [c.value for c in daily[1]]
    assert header[:3] == ["Día", "Canal", "Consultas"]
    today = office_today()
    email = [[c.value for c in r] for r in daily.iter_rows(min_row=2)
             if r[0].value.date() == today and r[1].value == "Correo electrónico"]
    assert len(email) == 1 and email[0][2] == 1
    assert daily.max_row == 1 + 30 * 3  # the default range: the last 30 days, three channels


def test_the_topics_table_names_topics_in_the_managers_language(client: TestClient[Litestar],
                                                                 settings: Settings) -> None:
    manager = bearer(client, "manager@example.org")
    created = client.post("/api/v1/topics", headers=manager, json={
        "names": {"ca": "Bicicletes =1+1", "es": "=Bicicletas", "en": "Bikes"}})
    assert created.status_code == 201, created.text
    topic = created.json()["id"]
    ticket = citizen_writes(settings, "email")
    assert client.put(f"/api/v1/tickets/{ticket}/topics", headers=manager, json={"topics": [topic]}).status_code == 200
    set_manager(settings, "es")
    rows = list(csv.reader(io.StringIO(
        client.get("/api/v1/stats.csv?table=topics", headers=manager).content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][:3] == ["Tema", "Consultas", "Consultas resueltas"]
    mine = [r for r in rows[1:] if "Bicicletas" in r[0]]
    assert mine and mine[0][:3] == ["'=Bicicletas", "1", "0"]  # a name typed by a person, escaped


def test_the_exports_keep_the_pages_topic_filter(client: TestClient[Litestar], settings: Settings) -> None:
    """Three email consultations today, two resolved, one of those about a topic: the daily,
    agents and topics tables and the workbook count only that one when the topic is chosen."""
    from openpyxl import load_workbook

    manager = bearer(client, "manager@example.org")
    topic = client.post("/api/v1/topics", headers=manager, json={
        "names": {"ca": "Cens de prova", "es": "Censo de prueba", "en": "Test census"}}).json()["id"]
    other = client.post("/api/v1/topics", headers=manager, json={
        "names": {"ca": "Taxes de prova", "es": "Tasas de prueba", "en": "Test taxes"}}).json()["id"]
    about = citizen_writes(settings, "email")
    assert client.put(f"/api/v1/tickets/{about}/topics", headers=manager, json={"topics": [topic]}).status_code == 200
    assert client.post(f"/api/v1/tickets/{about}/resolve", headers=manager).status_code == 200
    elsewhere = citizen_writes(settings, "email")
    assert client.put(f"/api/v1/tickets/{elsewhere}/topics", headers=manager,
                      json={"topics": [other]}).status_code == 200
    resolved_email(client, settings)  # no topic
    set_manager(settings, "ca")
    today = office_today()
    query = f"from={today.isoformat()}&to={today.isoformat()}"

    def table(name: str, extra: str = "") -> list[dict[str, str]]:
        answer = client.get(f"/api/v1/stats.csv?table={name}&{query}{extra}", headers=manager)
        assert answer.status_code == 200, answer.text
        rows = list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig")), delimiter=";"))
        return [dict(zip(rows[0], r)) for r in rows[1:]]

    def email_today(rows: list[dict[str, str]]) -> dict[str, str]:
        return next(r for r in rows if r["Canal"] == "Correu electrònic")

    everything = email_today(table("daily"))
    assert (everything["Consultes"], everything["Consultes resoltes"]) == ("3", "2")
    census = table("daily", f"&topic={topic}")
    assert len(census) == 3  # still one row per channel
    assert (email_today(census)["Consultes"], email_today(census)["Consultes resoltes"]) == ("1", "1")
    assert [r["Consultes"] for r in census if r["Canal"] != "Correu electrònic"] == ["0", "0"]
    assert [(r["Agent"], r["Consultes resoltes"]) for r in table("agents", f"&topic={topic}")] == [("Marta Puig", "1")]
    assert [(r["Tema"], r["Consultes"]) for r in table("topics", f"&topic={topic}")] == [("Cens de prova", "1")]
    assert sorted(r["Tema"] for r in table("topics")) == ["Cens de prova", "Taxes de prova"]
    assert client.get(f"/api/v1/stats.csv?table=daily&topic=999&{query}", headers=manager).status_code == 400
    # The all-figures CSV says which filter it holds.
    plain = list(csv.reader(io.StringIO(client.get(f"/api/v1/stats.csv?topic={topic}&{query}", headers=manager).text)))
    assert ["filter", "", "topic_id", str(topic)] in plain and ["all", "", "consultations", "1"] in plain

    book = load_workbook(io.BytesIO(client.get(f"/api/v1/stats.xlsx?topic={topic}&{query}", headers=manager).content))
    assert book.sheetnames == ["Per dia", "Per agent", "Per tema", "Per punt d'entrada"]
    daily = [[c.value for c in r] for r in book["Per dia"].iter_rows(min_row=2)]
    assert sorted((r[1], r[2], r[3]) for r in daily) == [("Correu electrònic", 1, 1), ("Telèfon", 0, 0),
                                                         ("WhatsApp", 0, 0)]
    assert [[c.value for c in r][:2] for r in book["Per agent"].iter_rows(min_row=2)] == [["Marta Puig", 1]]
    assert [[c.value for c in r][:2] for r in book["Per tema"].iter_rows(min_row=2)] == [["Cens de prova", 1]]
