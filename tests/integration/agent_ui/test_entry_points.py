"""WhatsApp entry points through the API, the forms and a citizen's first message: managers
create them, the hub gives the wa.me link, QR codes and the banner snippet; a first message
starting with the prefill sets the consultation's topic and is counted in the statistics."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from hub.context import HubContext
from tests.support.agent_ui import citizen_writes, csrf, login
from tests.support.agent_ui import token_for
from tests.conftest import make_settings, whatsapp_env

PADRO_PREFILL = "Ajuda amb el padró: "


@pytest.fixture
def settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str) -> Settings:
    whatsapp_env(monkeypatch, twilio_whatsapp_from="whatsapp:+34622846272")  # the sender's number
    return make_settings(tmp_path, db_url)




def _topic(client: TestClient[Litestar], headers: dict[str, str], key: str) -> int:
    return next(t["id"] for t in client.get("/api/v1/topics", headers=headers).json() if t["key"] == key)


def _create(client: TestClient[Litestar], headers: dict[str, str], **body: Any) -> Any:
    return client.post("/api/v1/entry-points", json=body, headers=headers)


def _audit(settings: Settings, action: str) -> list[Any]:
    from hub.actions.audit import audit_entries

    async def read() -> list[Any]:
        ctx = HubContext.create(settings)
        try:
            return await audit_entries(ctx, action=action)
        finally:
            await ctx.close()

    return asyncio.run(read())


def test_a_manager_creates_an_entry_point_and_gets_its_link_qr_codes_and_banner(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], manager: dict[str, str],
) -> None:
    padro = _topic(client, manager, "padro")
    body = {"topic_id": padro, "label": "Web del padró", "prefill": PADRO_PREFILL}
    assert _create(client, agent, **body).status_code == 403
    created = _create(client, manager, **body)
    assert created.status_code == 201, created.text
    entry = created.json()
    assert entry["link"] == "https://wa.me/34622846272?text=Ajuda%20amb%20el%20padr%C3%B3%3A%20"
    assert parse_qs(urlsplit(entry["link"]).query)["text"] == [PADRO_PREFILL]
    assert entry["topic_id"] == padro and entry["active"] is True
    assert [e["id"] for e in client.get("/api/v1/entry-points", headers=agent).json()] == [entry["id"]]

    svg = client.get(entry["qr_svg"], headers=agent)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in svg.content and svg.headers["content-disposition"].startswith("inline")
    png = client.get(entry["qr_png"] + "?download=true&scale=4", headers=agent)
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert png.headers["content-disposition"].startswith("attachment")
    assert client.get(entry["qr_png"] + "?scale=400", headers=agent).status_code == 400

    # the banner: a plain link to wa.me (nothing loaded from the hub), in the language asked for
    snippet = entry["snippet"]
    assert f'href="{entry["link"]}"' in snippet and "<script" not in snippet and "hub.example.org" not in snippet
    assert 'lang="ca"' in snippet and "Pregunta'ns per WhatsApp" in snippet
    es = client.get(f"/api/v1/entry-points/{entry['id']}?language=es", headers=agent).json()
    assert 'lang="es"' in es["snippet"] and "Pregúntanos por WhatsApp" in es["snippet"]
    assert client.get("/api/v1/entry-points?language=fr", headers=agent).status_code == 400
    assert _audit(settings, "entry_point.create")[0].detail["label"] == "Web del padró"


def test_the_office_number_may_be_set_apart_from_the_twilio_sender(tmp_path: Path, db_url: str) -> None:
    from hub.actions.entry_points import office_number

    with_number = make_settings(tmp_path, db_url, click_to_chat_number="+34 973 70 03 00")
    assert office_number(HubContext.create(with_number)) == "34973700300"
    assert office_number(HubContext.create(make_settings(tmp_path, db_url))) == ""


def test_bad_entry_points_are_refused_with_the_reason_and_change_nothing(
    client: TestClient[Litestar], manager: dict[str, str],
) -> None:
    ok = _create(client, manager, label="Web", prefill=PADRO_PREFILL)
    assert ok.status_code == 201 and ok.json()["topic_id"] is None
    same = _create(client, manager, label="Cartell", prefill="ajuda amb el PADRO")  # reads alike
    assert same.status_code == 409 and "same prefilled message" in same.json()["detail"]
    assert _create(client, manager, label="X", prefill=": ").status_code == 422
    assert _create(client, manager, label="X", prefill="Dues\nlínies").status_code == 422
    assert _create(client, manager, label="X", prefill="Rebuts", topic_id=9999).status_code == 422
    assert _create(client, manager, label="", prefill="Rebuts").status_code == 400
    assert _create(client, manager, label="X", prefill="Rebuts", extra=1).status_code == 400
    assert len(client.get("/api/v1/entry-points", headers=manager).json()) == 1
    assert client.patch("/api/v1/entry-points/9999", json={"active": False}, headers=manager).status_code == 404
    assert client.get("/api/v1/entry-points/9999/qr.svg", headers=manager).status_code == 404


def test_without_a_whatsapp_number_there_is_no_link_and_the_page_says_what_to_set(
    tmp_path: Path, db_url: str,
) -> None:
    from entrypoints.web import create_app
    from tests.support.agent_ui import _make_agents, _run

    settings = make_settings(tmp_path, db_url)
    _run(_make_agents(settings))
    with TestClient(create_app(settings), base_url="https://testserver.local") as client:
        headers = token_for(client, "manager@example.org")
        entry = _create(client, headers, label="Web", prefill="Padró: ").json()
        assert entry["link"] is None and entry["snippet"] is None
        assert client.get(entry["qr_svg"], headers=headers).status_code == 404
        login(client, "manager@example.org")
        assert "HUB_WHATSAPP_NUMBER" in client.get("/settings/entry-points").text


def _whatsapp(settings: Settings, who: str, *bodies: str) -> int:
    from datetime import UTC, datetime

    from hub.actions.messages import do_receive_message
    from hub.inbound import IdentityIn, InboundMessage

    async def run() -> int:
        ctx = HubContext.create(settings)
        try:
            ticket = None
            for i, body in enumerate(bodies):
                got = await do_receive_message(ctx, InboundMessage(
                    channel="whatsapp", provider_id=f"SM{who}{i}", received_at=datetime.now(UTC), body=body,
                    identities=[IdentityIn("phone", who)], display_hint="Profile"))
                ticket = got.ticket_id
            assert ticket is not None
            return ticket
        finally:
            await ctx.close()

    return asyncio.run(run())


def test_a_first_message_with_the_prefill_sets_the_topic_and_is_counted_per_entry_point(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], manager: dict[str, str],
) -> None:
    padro, rebuts = _topic(client, manager, "padro"), _topic(client, manager, "rebuts")
    web = _create(client, manager, label="Web del padró", prefill=PADRO_PREFILL, topic_id=padro).json()
    poster = _create(client, manager, label="Cartell rebuts", prefill="Tinc un dubte amb un rebut", topic_id=rebuts).json()

    # WhatsApp typed the prefill; the phone dropped the trailing space and an accent, the citizen went on
    first = _whatsapp(settings, "+34600100001", "Ajuda amb el padro:necessito un volant", "Em dic Laia Pons")
    second = _whatsapp(settings, "+34600100002", "AJUDA AMB EL PADRÓ: canvi de domicili")
    third = _whatsapp(settings, "+34600100003", "Tinc un dubte amb un rebut de l'IBI")
    plain = _whatsapp(settings, "+34600100004", "Hola, Ajuda amb el padró: ")  # not at the start
    mail = citizen_writes(settings, "email", PADRO_PREFILL + "per correu")  # only WhatsApp has entry points

    def detail(ticket: int) -> Any:
        return client.get(f"/api/v1/tickets/{ticket}", headers=manager).json()

    assert [t["key"] for t in detail(first)["topics"]] == ["padro"]
    assert [t["key"] for t in detail(third)["topics"]] == ["rebuts"]
    assert detail(plain)["topics"] == [] and detail(mail)["topics"] == []
    assert detail(first)["entry_point"] == {"id": web["id"], "label": "Web del padró"}
    assert detail(plain)["entry_point"] is None
    events = [i for i in detail(first)["timeline"] if i["type"] == "event"]
    assert any(e["kind"] == "entry_point" for e in events) and any(e["kind"] == "topics_changed" for e in events)
    # the prefill was the first message, not the citizen's name: the name is asked and taken as usual
    assert detail(first)["contact"]["name"] == "Laia Pons"
    exported = client.get(f"/api/v1/contacts/{detail(first)['contact']['id']}/export", headers=manager).json()
    assert [(e["ticket_id"], e["entry_point_id"]) for e in exported["ticket_entry_points"]] == [(first, web["id"])]
    login(client, "manager@example.org")
    page = client.get(f"/tickets/{first}").text
    assert "Came through the WhatsApp entry point “Web del padró”." in page
    assert "Came through a WhatsApp entry point" in page  # the timeline's event

    stats = client.get("/api/v1/stats", headers=manager).json()
    by_entry = {row["label"]: row for row in stats["by_entry_point"]}
    assert set(by_entry) == {"Web del padró", "Cartell rebuts"}
    assert by_entry["Web del padró"]["consultations"] == 2 and by_entry["Cartell rebuts"]["consultations"] == 1
    assert by_entry["Web del padró"]["topic_id"] == padro and by_entry["Web del padró"]["resolved"] == 0
    assert [t["consultations"] for t in stats["by_topic"] if t["key"] == "padro"] == [2]
    assert client.get("/api/v1/stats?channel=email", headers=manager).json()["by_entry_point"] == []
    csv = client.get("/api/v1/stats.csv", headers=manager).text
    assert f'"entry_point","{web["id"]} Web del padró","consultations","2"' in csv
    assert f'"entry_point","{poster["id"]} Cartell rebuts","consultations","1"' in csv
    table = client.get("/api/v1/stats.csv?table=entry_points", headers=manager).text.splitlines()
    assert table[0].lstrip("\ufeff").startswith("Entry point,Topic,Consultations")  # the manager's language: en
    assert table[1].startswith("Web del padró,Census registration (padró),2,0,") and len(table) == 3
    del second


def test_the_longest_prefill_wins_and_a_switched_off_entry_point_is_not_recognised(
    client: TestClient[Litestar], settings: Settings, manager: dict[str, str],
) -> None:
    padro = _topic(client, manager, "padro")
    general = _create(client, manager, label="Home", prefill="Ajuda").json()
    specific = _create(client, manager, label="Padró", prefill="Ajuda amb el padró", topic_id=padro).json()
    ticket = _whatsapp(settings, "+34600200001", "Ajuda amb el padró, si us plau")
    assert client.get(f"/api/v1/tickets/{ticket}", headers=manager).json()["entry_point"]["id"] == specific["id"]
    ticket = _whatsapp(settings, "+34600200002", "Ajuda! no sé què fer")
    got = client.get(f"/api/v1/tickets/{ticket}", headers=manager).json()
    assert got["entry_point"]["id"] == general["id"] and got["topics"] == []
    assert _whatsapp(settings, "+34600200003", "Ajudant") and True

    off = client.patch(f"/api/v1/entry-points/{specific['id']}", json={"active": False, "label": "Padró (vell)"},
                       headers=manager)
    assert off.status_code == 200 and off.json()["active"] is False
    entry = _audit(settings, "entry_point.update")[0]
    assert entry.detail["changed"] == "label,active" and entry.detail["before_label"] == "Padró"
    ticket = _whatsapp(settings, "+34600200004", "Ajuda amb el padró, si us plau")
    assert client.get(f"/api/v1/tickets/{ticket}", headers=manager).json()["entry_point"]["id"] == general["id"]
    # taking the topic away: later consultations get none, earlier ones keep theirs
    client.patch(f"/api/v1/entry-points/{specific['id']}", json={"active": True, "topic_id": None}, headers=manager)
    ticket = _whatsapp(settings, "+34600200005", "Ajuda amb el padró")
    assert client.get(f"/api/v1/tickets/{ticket}", headers=manager).json()["topics"] == []


def test_a_message_continuing_a_consultation_is_not_attributed(
    client: TestClient[Litestar], settings: Settings, manager: dict[str, str],
) -> None:
    _create(client, manager, label="Web", prefill=PADRO_PREFILL, topic_id=_topic(client, manager, "padro"))
    ticket = _whatsapp(settings, "+34600300001", "Hola", "Em dic Pau", PADRO_PREFILL + "ara sí")
    got = client.get(f"/api/v1/tickets/{ticket}", headers=manager).json()
    assert got["entry_point"] is None and got["topics"] == []


def test_managers_keep_entry_points_on_their_page_and_agents_may_not(
    client: TestClient[Litestar], settings: Settings,
) -> None:
    login(client, "agent@example.org")
    assert client.get("/settings/entry-points").status_code == 403
    assert "/settings/entry-points" not in client.get("/settings").text
    assert client.post("/settings/entry-points", data={"label": "X", "prefill": "Rebuts"}, headers=csrf(client),
                       follow_redirects=False).status_code == 403
    login(client, "manager@example.org")
    assert "/settings/entry-points" in client.get("/settings").text
    padro = _topic(client, {}, "padro")
    answer = client.post("/settings/entry-points", data={"label": "Web del padró", "prefill": PADRO_PREFILL,
                                                         "topic": str(padro)}, headers=csrf(client),
                         follow_redirects=False)
    assert answer.status_code == 303
    (entry,) = client.get("/api/v1/entry-points").json()
    assert entry["prefill"] == PADRO_PREFILL and entry["topic_id"] == padro
    page = client.get("/settings/entry-points").text
    assert "Entry point added." in page and entry["link"].replace("&", "&amp;") in page
    assert f'src="{entry["qr_svg"]}"' in page and "Pregunta&#39;ns per WhatsApp" in page  # banner (escaped in its preview's srcdoc): HUB_LANGUAGE
    assert "Ask us on WhatsApp" in client.get("/settings/entry-points?language=en").text
    client.post(f"/settings/entry-points/{entry['id']}", data={"label": "Web", "prefill": PADRO_PREFILL, "topic": ""},
                headers=csrf(client))
    (entry,) = client.get("/api/v1/entry-points").json()
    assert entry["label"] == "Web" and entry["topic_id"] is None and entry["active"] is False  # box unchecked
    dup = client.post("/settings/entry-points", data={"label": "Y", "prefill": "ajuda amb el padro"},
                      headers=csrf(client))
    assert "same prefilled message" in dup.text
    # in Catalan, the reason in Catalan (never an English sentence on a ca page)
    client.post("/language", data={"lang": "ca", "next": "/settings/entry-points"}, headers=csrf(client))
    dup = client.post("/settings/entry-points", data={"label": "Y", "prefill": "ajuda amb el padro"},
                      headers=csrf(client))
    assert "El punt d'entrada «Web» té el mateix missatge preescrit" in dup.text.replace("&#39;", "'")
    short = client.post("/settings/entry-points", data={"label": "Y", "prefill": "a:"}, headers=csrf(client))
    assert "necessita almenys tres lletres o xifres" in short.text


def test_the_statistics_page_shows_the_consultations_per_entry_point(
    client: TestClient[Litestar], settings: Settings, manager: dict[str, str],
) -> None:
    padro = _topic(client, manager, "padro")
    _create(client, manager, label="Web del padró", prefill=PADRO_PREFILL, topic_id=padro)
    login(client, "manager@example.org")
    assert "No consultation came through an entry point in this range." in client.get("/stats").text
    _whatsapp(settings, "+34600400001", PADRO_PREFILL + "un volant")
    page = client.get("/stats").text
    assert 'id="entry-title"' in page
    row = page.split('<th scope="row">Web del padró</th>')[1].split("</tr>")[0]
    assert "<td>Census registration (padró)</td><td><a href=" in row and "<td>0</td>" in row
    link = row.split('<a href="')[1].split('"')[0].replace("&amp;", "&")
    assert "entry_point=" in link and "kind=consultation" in link
    listed = client.get(link).text
    assert "Only consultations that came through the WhatsApp entry point “Web del padró”." in listed
    assert listed.count('href="/tickets/') == 1


def test_the_ticket_list_filters_by_entry_point(
    client: TestClient[Litestar], settings: Settings, manager: dict[str, str],
) -> None:
    web = _create(client, manager, label="Web", prefill=PADRO_PREFILL).json()
    came = _whatsapp(settings, "+34600500001", PADRO_PREFILL + "hola")
    _whatsapp(settings, "+34600500002", "Hola")
    listed = client.get(f"/api/v1/tickets?entry_point={web['id']}", headers=manager).json()
    assert [t["id"] for t in listed["tickets"]] == [came]
    assert client.get("/api/v1/tickets?entry_point=9999", headers=manager).json()["tickets"] == []
    assert client.get("/api/v1/tickets?entry_point=x", headers=manager).status_code == 400
