"""Outside office hours on WhatsApp: the seed's rules still run, the citizen is told when the
office opens (with their reference), nobody is pushed the ticket, and the agent introduction
waits until an agent takes it. Clock injected: a weekend, holidays, a closure, a DST change."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.lifecycle import do_take_next
from hub.actions.office import do_add_closure
from hub.clock import FakeClock
from hub.actions.messages import do_reply
from hub.db.tables import EventRow, Ticket
from tests.support.whatsapp_channel import Hub, running_hub, whatsapp_settings
from tests.support.fake_twilio import FakeTwilio

MADRID = ZoneInfo("Europe/Madrid")
REPLY_HX = "HX" + "b" * 32


@pytest.fixture
async def office(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, twilio: FakeTwilio,
                 clock: FakeClock) -> AsyncIterator[Hub]:
    settings = whatsapp_settings(monkeypatch, tmp_path, db_url, twilio, office_hours="mon-fri 08:30-14:30",
                                 holidays="ES-CT,2026-05-11,2026-09-29", twilio_template_agent_reply=REPLY_HX)
    async for h in running_hub(settings, clock):
        yield h


def bodies(twilio: FakeTwilio) -> list[str]:
    return [r.value("Body") or "" for r in twilio.sent()]


async def tickets(hub: Hub) -> list[Ticket]:
    async with hub.ctx.sessionmaker() as s:
        return list((await s.exec(select(Ticket).order_by(Ticket.id))).all())


async def converse(hub: Hub, at: datetime, number: str, name: str) -> str:
    """A citizen writes at `at`, answers the welcome with their name; the last text they read."""
    hub.clock.set(at)
    hub.inbound(f"SM{number[-6:]}a", "Hola", number=number)
    await hub.work()
    hub.clock.advance(minutes=2)
    hub.inbound(f"SM{number[-6:]}b", f"Em dic {name}", number=number)
    await hub.work()
    return hub_last(hub)


def hub_last(hub: Hub) -> str:
    return bodies(hub._twilio)[-1]  # type: ignore[attr-defined]


async def test_saturday_night_is_told_monday_and_the_agent_is_introduced_on_taking(office: Hub, twilio: FakeTwilio) -> None:
    office._twilio = twilio  # type: ignore[attr-defined]
    agent = await do_create_agent(office.ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await do_set_presence(office.ctx, agent, "available")  # forgot to go offline on Friday
    said = await converse(office, datetime(2026, 11, 28, 23, 0, tzinfo=MADRID), "+34600111222", "Anna Serra")
    [ticket] = await tickets(office)
    assert said == (
        "Gràcies, Anna Serra. Ara l'oficina és tancada i torna a obrir dilluns a les 8:30. "
        f"La teva consulta té la referència {ticket.reference}: un agent t'escriurà aleshores."
    )
    assert ticket.status == "waiting" and ticket.assignee_id is None  # not pushed to Jordi
    assert len(twilio.sent()) == 2  # welcome, then the closed-office notice; no introduction

    # Monday 8:35: 33 hours later, WhatsApp's 24-hour window is closed. Jordi takes it: the
    # introduction cannot go yet and waits; his reply goes as the approved template.
    office.clock.set(datetime(2026, 11, 30, 8, 35, tzinfo=MADRID))
    assert await do_take_next(office.ctx, agent) == ticket.id
    await office.work()
    assert len(twilio.sent()) == 2
    from tests.support.agent_ui import login

    login(office.client, "jordi@oac.example", "password123")
    page = office.client.get(f"/tickets/{ticket.id}").text  # Jordi sees it before writing
    assert "la resposta s&#39;envia com la plantilla aprovada" in page or "la resposta s'envia com la plantilla aprovada" in page
    await do_reply(office.ctx, ticket.id, agent, "Bon dia Anna, ja tenim el certificat.")
    await office.work()
    assert "Esperant que la persona respongui" in office.client.get(f"/tickets/{ticket.id}/timeline").text
    notice = twilio.sent()[-1]
    assert notice.value("ContentSid") == REPLY_HX and notice.value("Body") is None
    assert json.loads(notice.value("ContentVariables") or "{}") == {"1": ticket.reference, "2": "Anna Serra"}
    # The citizen answers the template: the introduction and the text follow, in that order.
    office.clock.advance(minutes=5)
    office.inbound("SMmonday", "Digueu")
    await office.work()
    assert bodies(twilio)[-2:] == [
        "Gràcies, Anna Serra. Jordi t'atendrà fins a resoldre la teva consulta.",
        "Bon dia Anna, ja tenim el certificat.",
    ]
    assert len(twilio.sent()) == 5
    # Counted for the statistics (how often the office answers after the window closed).
    async with office.ctx.sessionmaker() as s:
        kinds = [e.kind for e in (await s.exec(select(EventRow).where(EventRow.ticket_id == ticket.id))).all()]
    assert kinds.count("reply_outside_window") == 1


async def test_silence_rules_still_run_outside_hours(office: Hub, twilio: FakeTwilio) -> None:
    office.clock.set(datetime(2026, 11, 28, 23, 0, tzinfo=MADRID))
    office.inbound("SM1", "Hola")
    await office.work()
    office.clock.advance(minutes=21)
    await office.tick()
    assert "Reprenem el contacte" in bodies(twilio)[-1]
    office.clock.advance(minutes=21)
    await office.tick()
    [ticket] = await tickets(office)
    assert ticket.status == "closed_unidentified"


@pytest.mark.parametrize("at, expected", [
    # A holiday from the library: Tuesday 8 December (Immaculada); Monday evening -> Wednesday.
    (datetime(2026, 12, 7, 20, 0, tzinfo=MADRID), "dimecres a les 8:30"),
    # Lleida's local day, Monday 11 May 2026 (Sant Anastasi), from HUB_HOLIDAYS: Sunday -> Tuesday.
    (datetime(2026, 5, 10, 12, 0, tzinfo=MADRID), "dimarts a les 8:30"),
    # Friday 27 March 2026 evening; clocks go forward on Sunday: Monday 8:30 on the wall clock.
    (datetime(2026, 3, 27, 19, 0, tzinfo=MADRID), "dilluns a les 8:30"),
    # Within the same day: before opening.
    (datetime(2026, 12, 2, 7, 0, tzinfo=MADRID), "avui a les 8:30"),
    # After closing on a Wednesday.
    (datetime(2026, 12, 2, 15, 0, tzinfo=MADRID), "demà a les 8:30"),
])
async def test_the_next_opening_is_told_in_catalan(office: Hub, twilio: FakeTwilio, at: datetime, expected: str) -> None:
    office._twilio = twilio  # type: ignore[attr-defined]
    said = await converse(office, at, "+34600111333", "Pere")
    assert f"torna a obrir {expected}. " in said


async def test_a_one_off_closure_counts(office: Hub, twilio: FakeTwilio) -> None:
    office._twilio = twilio  # type: ignore[attr-defined]
    await do_add_closure(office.ctx, None, date(2026, 12, 3), date(2026, 12, 4), "Inventory days")
    said = await converse(office, datetime(2026, 12, 2, 16, 0, tzinfo=MADRID), "+34600111444", "Laia")
    assert "torna a obrir dilluns a les 8:30. " in said  # Thu and Fri closed, then the weekend


async def test_in_office_hours_nothing_changes(office: Hub, twilio: FakeTwilio) -> None:
    office._twilio = twilio  # type: ignore[attr-defined]
    agent = await do_create_agent(office.ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await do_set_presence(office.ctx, agent, "available")
    said = await converse(office, datetime(2026, 12, 2, 10, 0, tzinfo=MADRID), "+34600111555", "Anna")
    assert said == "Gràcies, Anna. Jordi t'atendrà fins a resoldre la teva consulta."
    assert datetime(2026, 12, 2, 9, 2, tzinfo=UTC) == office.clock.now()


async def test_the_queue_says_the_office_is_closed_and_colours_the_first_reply_clock(office: Hub, twilio: FakeTwilio) -> None:
    from tests.support.agent_ui import login

    office._twilio = twilio  # type: ignore[attr-defined]
    await do_create_agent(office.ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await converse(office, datetime(2026, 11, 27, 14, 20, tzinfo=MADRID), "+34600111666", "Rosa")  # queued 14:22

    def at(when: datetime) -> str:
        """The queue's lanes as Jordi reads them at `when` (a sign-in lasts 10 h, so he signs in again)."""
        office.clock.set(when)
        assert login(office.client, "jordi@oac.example", "password123").status_code in (302, 303)
        return office.client.get("/queue/lanes").text

    html = at(datetime(2026, 11, 28, 11, 0, tzinfo=MADRID))  # Saturday
    assert "Fora de l'horari d'atenció. L'oficina obre el 30/11/2026 08:30." in html
    assert 'class="sla sla-ok">Primera resposta a temps; temps d\'oficina esperat: 8 min' in html

    html = at(datetime(2026, 11, 30, 8, 51, tzinfo=MADRID))  # 8 + 21 = 29 min of 30
    assert "Fora de l'horari" not in html
    assert 'class="sla sla-warning">Primera resposta gairebé fora de termini; temps d\'oficina esperat: 29 min' in html
    assert 'class="sla sla-breached">Primera resposta fora de termini; temps d\'oficina esperat: 31 min' in at(
        datetime(2026, 11, 30, 8, 53, tzinfo=MADRID))
