"""The mail acknowledgement outside office hours says when the office opens (exact texts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from channels.email.config import load_mail_settings
from channels.email.pipeline import Pipeline
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Message, Ticket
from tests.integration.channels.email.test_pipeline import citizen
from tests.conftest import make_settings

MADRID = ZoneInfo("Europe/Madrid")


@pytest.fixture
async def office(tmp_path: Path, db_url: str, clock: FakeClock, request: pytest.FixtureRequest) -> AsyncIterator[HubContext]:
    settings = make_settings(tmp_path, db_url, office_hours="mon-fri 08:30-14:30", holidays="ES-CT",
                             language=getattr(request, "param", "ca"))
    ctx = HubContext.create(settings, clock)
    yield ctx
    await ctx.close()


async def ack_of(ctx: HubContext) -> tuple[str, str]:
    async with ctx.sessionmaker() as s:
        [ticket] = (await s.exec(select(Ticket))).all()
        [ack] = (await s.exec(select(Message).where(Message.kind == "auto"))).all()
    return ticket.reference, ack.body


async def test_a_mail_on_friday_evening_is_told_monday(office: HubContext, clock: FakeClock) -> None:
    clock.set(datetime(2026, 11, 27, 18, 0, tzinfo=MADRID))
    await Pipeline(office, load_mail_settings(_env_file=None)).ingest(citizen(1))
    reference, body = await ack_of(office)
    assert body == (
        f"Hem rebut el teu missatge i l'hem registrat amb la referència {reference}. Ara l'oficina és "
        "tancada i torna a obrir dilluns a les 8:30: un agent et respondrà aleshores."
    )


@pytest.mark.parametrize("office", ["es"], indirect=True)
async def test_in_spanish_before_a_holiday(office: HubContext, clock: FakeClock) -> None:
    clock.set(datetime(2026, 12, 7, 16, 0, tzinfo=MADRID))  # Tuesday 8 is a holiday
    await Pipeline(office, load_mail_settings(_env_file=None)).ingest(citizen(2))
    reference, body = await ack_of(office)
    assert body == (
        f"Hemos recibido tu mensaje y lo hemos registrado con la referencia {reference}. Ahora la oficina "
        "está cerrada y vuelve a abrir el miércoles a las 8:30: un agente te responderá entonces."
    )


async def test_in_office_hours_the_usual_acknowledgement(office: HubContext, clock: FakeClock) -> None:
    clock.set(datetime(2026, 12, 2, 10, 0, tzinfo=MADRID))
    await Pipeline(office, load_mail_settings(_env_file=None)).ingest(citizen(3))
    reference, body = await ack_of(office)
    assert body.startswith("Hem rebut el teu missatge") and "tancada" not in body
