"""Citizens coming back on WhatsApp, through the real webhook and worker: a returning citizen
reads one coherent message (never "Hello again" then "Thank you" for nothing said), in the
office's language; a name stated right after a consultation closed unanswered is taken as the
answer to its welcome, not met with the welcome again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.lifecycle import do_resolve
from hub.clock import FakeClock
from hub.db.tables import Contact, EventRow, Ticket
from tests.support.whatsapp_channel import Hub, running_hub, whatsapp_settings
from tests.support.fake_twilio import FakeTwilio

MADRID = ZoneInfo("Europe/Madrid")

HELLO_AGAIN = {
    "ca": "Hola de nou, Anna Serra! Aquesta és l'Oficina d'Atenció Ciutadana de {office}",
    "es": "¡Hola de nuevo, Anna Serra! Esta es la Oficina de Atención Ciudadana de {office}",
    "en": "Hello again, Anna Serra! This is the citizen help office of {office}",
}
WILL_HELP = {"ca": "Jordi t'atendrà", "es": "Jordi te atenderá", "en": "Jordi will help you"}
THANKS = {"ca": "Gràcies", "es": "Gracias", "en": "Thank you"}
CLOSED = {"ca": "torna a obrir dilluns a les 8:30", "es": "vuelve a abrir el lunes a las 8:30",
          "en": "opens again on Monday at 8:30"}


async def open_office(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, twilio: FakeTwilio,
                      clock: FakeClock, **overrides: str) -> AsyncIterator[Hub]:
    async for h in running_hub(whatsapp_settings(monkeypatch, tmp_path, db_url, twilio, **overrides), clock):
        yield h


@pytest.fixture(params=["ca", "es", "en"])
async def office(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str,
                 twilio: FakeTwilio, clock: FakeClock) -> AsyncIterator[Hub]:
    async for h in open_office(monkeypatch, tmp_path, db_url, twilio, clock, language=request.param,
                               office_hours="mon-fri 08:30-14:30"):
        yield h


def bodies(twilio: FakeTwilio) -> list[str]:
    return [r.value("Body") or "" for r in twilio.sent()]


async def rows(hub: Hub, table, *where):  # type: ignore[no-untyped-def]
    async with hub.ctx.sessionmaker() as s:
        return list((await s.exec(select(table).where(*where).order_by(table.id))).all())


async def served_once(hub: Hub, agent: int) -> None:
    """Anna writes on Monday morning, gives her name, is helped and resolved."""
    hub.clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=MADRID))
    hub.inbound("SM1", "Hola")
    hub.inbound("SM2", "Em dic Anna Serra")
    await hub.work()
    [ticket] = await rows(hub, Ticket)
    await do_resolve(hub.ctx, ticket.id, agent)
    await hub.work()


async def test_a_returning_citizen_taken_at_once_reads_one_message_naming_the_agent(office: Hub, twilio: FakeTwilio) -> None:
    language = office.settings.language
    agent = await do_create_agent(office.ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await do_set_presence(office.ctx, agent, "available")
    await served_once(office, agent)
    before = len(twilio.sent())
    office.clock.advance(days=2)
    office.inbound("SM3", "Una altra cosa")
    await office.work()
    new = bodies(twilio)[before:]
    assert len(new) == 1, new
    [text] = new
    assert text.startswith(HELLO_AGAIN[language].format(office=office.settings.office_name))
    assert WILL_HELP[language] in text and "Vidal" not in text and THANKS[language] not in text
    tickets = await rows(office, Ticket)
    assert [t.status for t in tickets] == ["resolved", "assigned"] and tickets[1].assignee_id == agent


async def test_a_returning_citizen_nobody_takes_yet_reads_hello_and_no_agent(office: Hub, twilio: FakeTwilio) -> None:
    language = office.settings.language
    agent = await do_create_agent(office.ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await served_once(office, agent)  # Jordi stays offline: nobody is free to take it
    before = len(twilio.sent())
    office.clock.advance(days=1)
    office.inbound("SM3", "Una altra cosa")
    await office.work()
    [text] = bodies(twilio)[before:]
    assert text.startswith(HELLO_AGAIN[language].format(office=office.settings.office_name))
    assert "Jordi" not in text and THANKS[language] not in text
    assert [t.status for t in await rows(office, Ticket)] == ["resolved", "waiting"]


async def test_a_returning_citizen_outside_hours_reads_one_message_with_the_opening(office: Hub, twilio: FakeTwilio) -> None:
    language = office.settings.language
    agent = await do_create_agent(office.ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await do_set_presence(office.ctx, agent, "available")
    await served_once(office, agent)
    before = len(twilio.sent())
    office.clock.set(datetime(2026, 12, 5, 22, 0, tzinfo=MADRID))  # Saturday night
    office.inbound("SM3", "Una altra cosa")
    await office.work()
    [text] = bodies(twilio)[before:]
    tickets = await rows(office, Ticket)
    assert text.startswith(HELLO_AGAIN[language].format(office=office.settings.office_name))
    assert CLOSED[language] in text and tickets[1].reference in text
    assert "Jordi" not in text and THANKS[language] not in text
    assert tickets[1].status == "waiting" and tickets[1].assignee_id is None


@pytest.fixture
async def hub_ca(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, twilio: FakeTwilio,
                 clock: FakeClock) -> AsyncIterator[Hub]:
    async for h in open_office(monkeypatch, tmp_path, db_url, twilio, clock):
        yield h


async def close_unanswered(hub: Hub) -> None:
    """The welcome asks the name, the reminder is ignored, the consultation closes."""
    hub.clock.set(datetime(2026, 11, 30, 9, 0, tzinfo=MADRID))
    hub.inbound("SM1", "Hola, una pregunta sobre el padró")
    await hub.work()
    hub.clock.advance(minutes=20)
    await hub.tick()
    hub.clock.advance(minutes=20)
    await hub.tick()
    assert [t.status for t in await rows(hub, Ticket)] == ["closed_unidentified"]


async def test_a_name_stated_after_the_close_is_taken_as_the_answer_not_met_with_the_welcome(hub_ca: Hub, twilio: FakeTwilio) -> None:
    agent = await do_create_agent(hub_ca.ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await do_set_presence(hub_ca.ctx, agent, "available")
    await close_unanswered(hub_ca)
    before = len(twilio.sent())
    hub_ca.clock.advance(minutes=30)
    hub_ca.inbound("SM2", "Perdó, em dic Laura Pons")
    await hub_ca.work()
    tickets = await rows(hub_ca, Ticket)
    [contact] = await rows(hub_ca, Contact)
    assert contact.name == "Laura Pons"
    assert [t.status for t in tickets] == ["closed_unidentified", "assigned"]
    assert tickets[1].identified_at is not None and tickets[1].assignee_id == agent
    [text] = bodies(twilio)[before:]
    assert text == "Gràcies, Laura Pons. Jordi t'atendrà fins a resoldre la teva consulta."
    [identified] = await rows(hub_ca, EventRow, EventRow.ticket_id == tickets[1].id, EventRow.kind == "identified")
    assert identified.data == {"late_answer": True}


async def test_after_the_close_a_message_without_a_name_or_a_day_later_gets_the_welcome(hub_ca: Hub, twilio: FakeTwilio) -> None:
    await close_unanswered(hub_ca)
    hub_ca.clock.advance(minutes=30)
    hub_ca.inbound("SM2", "Perdó, soc a la feina")  # "soc" alone is not a name
    await hub_ca.work()
    assert [t.status for t in await rows(hub_ca, Ticket)] == ["closed_unidentified", "identifying"]
    assert "el teu nom" in bodies(twilio)[-1]

    await close_unanswered_again(hub_ca)
    hub_ca.clock.advance(hours=25)  # past the 24-hour conversation the welcome opened
    hub_ca.inbound("SM9", "Em dic Laura Pons")
    await hub_ca.work()
    assert [t.status for t in await rows(hub_ca, Ticket)][-1] == "identifying"


async def close_unanswered_again(hub: Hub) -> None:
    hub.clock.advance(minutes=20)
    await hub.tick()
    hub.clock.advance(minutes=20)
    await hub.tick()
    assert [t.status for t in await rows(hub, Ticket)][-1] == "closed_unidentified"
