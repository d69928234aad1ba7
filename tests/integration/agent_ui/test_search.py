"""Finding any consultation (`GET /api/v1/tickets?q=`): every reading of the search text, the
filters, ranking and highlighting, on the run's database (SQLite FTS5 or PostgreSQL full text)."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from hub.config import Settings
from tests.support.agent_ui import Logins, citizen_writes
from tests.support.agent_ui import token_for



def found(client: TestClient[Litestar], headers: dict[str, str], **params: Any) -> list[int]:
    answer = client.get("/api/v1/tickets", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return [t["id"] for t in answer.json()["tickets"]]


@pytest.fixture
def office(client: TestClient[Litestar], settings: Settings, agent: dict[str, str]) -> dict[str, int]:
    """Three consultations: a resolved WhatsApp one (Núria Solé), an open email, a phone-less one."""
    closed = citizen_writes(settings, "whatsapp", "Necessito el volant d'empadronament urgent", who="+34600111222")
    contact = client.get(f"/api/v1/tickets/{closed}", headers=agent).json()["contact"]["id"]
    assert client.patch(f"/api/v1/contacts/{contact}", json={"name": "Núria Solé"}, headers=agent).status_code == 200
    client.post(f"/api/v1/tickets/{closed}/assign", headers=agent)
    client.post(f"/api/v1/tickets/{closed}/notes", json={"body": "Expedient caducat, cal renovar"}, headers=agent)
    assert client.post(f"/api/v1/tickets/{closed}/resolve", headers=agent).status_code == 200
    email = citizen_writes(settings, "email", "Bon dia, vull demanar una cita per la llicència d'obres",
                           who="pere.roca@example.net")
    other = citizen_writes(settings, "email", "Una altra consulta sobre obres menors", who="anna@example.net")
    return {"closed": closed, "email": email, "other": other}


def test_a_word_of_a_message_finds_a_resolved_consultation(
    client: TestClient[Litestar], agent: dict[str, str], office: dict[str, int],
) -> None:
    answer = client.get("/api/v1/tickets", params={"q": "empadronament"}, headers=agent).json()
    assert [t["id"] for t in answer["tickets"]] == [office["closed"]]
    assert answer["tickets"][0]["status"] == "resolved"  # status=all when searching
    match = answer["matches"][0]
    assert match["field"] == "message"
    start, end = match["spans"][0]
    assert match["text"][start:end] == "empadronament"
    assert found(client, agent, q="EMPADRON") == [office["closed"]]  # prefix, any case
    assert found(client, agent, q="empadronament", status="open") == []


def test_notes_subjects_and_several_words(
    client: TestClient[Litestar], agent: dict[str, str], office: dict[str, int],
) -> None:
    assert found(client, agent, q="caducat") == [office["closed"]]
    answer = client.get("/api/v1/tickets", params={"q": "caducat"}, headers=agent).json()
    assert answer["matches"][0]["field"] == "note"
    assert set(found(client, agent, q="padró")) == {office["email"], office["other"]}  # the emails' subject
    assert set(found(client, agent, q="obres")) == {office["email"], office["other"]}
    assert found(client, agent, q="llicencia obres") == [office["email"]]  # every word, accents ignored


def test_a_number_in_a_subject_is_found_whole_or_begun(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], office: dict[str, int],
) -> None:
    receipt = citizen_writes(settings, "email", "Adjunto el rebut", subject="Rebut 4815162342 de l'IBI")
    assert found(client, agent, q="4815162342") == [receipt]
    assert found(client, agent, q="48151623") == [receipt]  # the first digits, as typed so far
    answer = client.get("/api/v1/tickets", params={"q": "4815162342"}, headers=agent).json()
    assert answer["matches"][0]["field"] == "subject"


def test_a_name_without_accents_or_case_finds_the_contact(
    client: TestClient[Litestar], agent: dict[str, str], office: dict[str, int],
) -> None:
    assert found(client, agent, q="nuria sole") == [office["closed"]]
    answer = client.get("/api/v1/tickets", params={"q": "NÚRIA"}, headers=agent).json()
    assert answer["matches"][0]["field"] == "name"


def test_references_numbers_and_addresses(
    client: TestClient[Litestar], agent: dict[str, str], office: dict[str, int],
) -> None:
    closed = office["closed"]
    reference = client.get(f"/api/v1/tickets/{closed}", headers=agent).json()["ticket"]["reference"]
    prefix, year, number = reference.split("-")
    for typed in (reference, reference.lower(), f"{year}-{number}", number, str(closed)):
        assert found(client, agent, q=typed)[:1] == [closed], typed
    for typed in ("+34600111222", "600 11 12 22", "600-111-222", "0034 600111222"):
        assert found(client, agent, q=typed) == [closed], typed
    assert found(client, agent, q="Pere.Roca@example.net") == [office["email"]]


def test_filters_and_their_errors(
    client: TestClient[Litestar], agent: dict[str, str], office: dict[str, int], logins: Logins,
) -> None:
    assert found(client, agent, q="obres", channel="whatsapp") == []
    assert found(client, agent, q="caducat", assignee_id=logins.agent) == [office["closed"]]
    assert found(client, agent, q="caducat", assignee_id=logins.agent2) == []
    assert found(client, agent, q="caducat", status="closed") == [office["closed"]]
    assert found(client, agent, q="caducat", status="resolved") == [office["closed"]]
    assert found(client, agent, q="caducat", **{"from": "2000-01-01", "to": "2000-01-31"}) == []
    assert found(client, agent, q="caducat", **{"from": "2000-01-01"}) == [office["closed"]]
    assert set(found(client, agent, status="all")) == set(office.values())
    assert found(client, agent, status="open") == [office["other"], office["email"]]
    for bad in ({"status": "lost"}, {"channel": "fax"}, {"from": "yesterday"},
                {"from": "2026-03-02", "to": "2026-03-01"}, {"topic": "x"}, {"topic": "999999"}):
        answer = client.get("/api/v1/tickets", params={"q": "obres", **bad}, headers=agent)
        assert answer.status_code == 400, bad


def test_search_text_cannot_break_the_query(
    client: TestClient[Litestar], agent: dict[str, str], office: dict[str, int],
) -> None:
    for typed in ('"', "'; drop table tickets; --", "a & b | !c", "*", "(", "%_%", "NEAR(a b)", "é", "🙂"):
        assert client.get("/api/v1/tickets", params={"q": typed}, headers=agent).status_code == 200, typed
    assert found(client, agent, q="%") == []


def test_the_best_match_comes_first(
    client: TestClient[Litestar], settings: Settings, agent: dict[str, str], office: dict[str, int],
) -> None:
    # ticket `other`'s number also appears in another consultation's text: the reference wins
    number = str(office["other"])
    mention = citizen_writes(settings, "email", f"Sobre l'expedient {number} que vaig obrir")
    assert found(client, agent, q=number)[:2] == [office["other"], mention]


def test_highlight_spans_cover_whole_words_and_keep_offsets() -> None:
    from hub.search import highlight, pieces

    text, spans = highlight("Sol·licitud de l'Àrea d'Urbanisme", ["area", "urban"])
    assert [text[s:e] for s, e in spans] == ["Àrea", "Urbanisme"]
    long = "x " * 200 + "padró municipal" + " y" * 200
    text, spans = highlight(long, ["padro"])
    assert text.startswith("…") and text.endswith("…") and len(text) < 200
    assert [text[s:e] for s, e in spans] == ["padró"]
    assert pieces("ab<c>d", [(2, 5)]) == [("ab", False), ("<c>", True), ("d", False)]


def test_the_topic_filter(client: TestClient[Litestar], agent: dict[str, str], office: dict[str, int]) -> None:
    manager = token_for(client, "manager@example.org")
    topic = client.post("/api/v1/topics", json={"names": {"ca": "Obres", "es": "Obras", "en": "Works"}}, headers=manager)
    assert topic.status_code == 201, topic.text
    topic_id = topic.json()["id"]
    answer = client.put(f"/api/v1/tickets/{office['email']}/topics", json={"topics": [topic_id]}, headers=manager)
    assert answer.status_code == 200, answer.text
    assert found(client, agent, q="obres", topic=topic_id) == [office["email"]]
    assert found(client, agent, topic=topic_id) == [office["email"]]


def test_erasing_a_citizen_takes_their_words_out_of_the_search(
    client: TestClient[Litestar], agent: dict[str, str], office: dict[str, int],
) -> None:
    """The index follows the text (PostgreSQL: a stored vector generated from the row; SQLite:
    FTS5 kept by triggers): once the person's messages are erased, their words find nothing."""
    assert found(client, agent, q="empadronament") == [office["closed"]]
    assert found(client, agent, q="nuria sole") == [office["closed"]]
    contact = client.get(f"/api/v1/tickets/{office['closed']}", headers=agent).json()["contact"]["id"]
    manager = token_for(client, "manager@example.org")
    assert client.post(f"/api/v1/contacts/{contact}/erase", headers=manager).status_code == 200
    assert found(client, agent, q="empadronament") == []
    assert found(client, agent, q="EMPADRON") == []  # nor as a prefix
    assert found(client, agent, q="nuria sole") == []
    assert found(client, agent, q="obres") == sorted([office["email"], office["other"]], reverse=True)
