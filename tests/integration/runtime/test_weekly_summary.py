"""The managers' weekly summary: due on the office's first working day from its opening, last
week's figures against the week before in the manager's language, delivered once to a real
(aiosmtpd) SMTP server even when two schedulers send at the same moment, retried after a refusal."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlmodel import select

from channels.email.config import MailSettings, load_mail_settings
from hub.actions.agents import do_create_agent
from hub.actions.errors import Invalid
from hub.actions.reports import do_set_weekly_summary
from hub.calendar import OfficeCalendar
from hub.clock import FakeClock
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import WeeklySummary
from hub.weekly import week_due
from entrypoints.weekly_summary import send_weekly_summaries
from tests.conftest import make_settings
from tests.integration.hub.test_stats_reports import two_weeks  # noqa: F401
from tests.support import mailservers
from tests.support.email_channel import smtp  # noqa: F401  (fixture)

MADRID = OfficeCalendar.from_settings("mon-fri 08:30-14:30", "ES-CT", "Europe/Madrid")


@pytest.fixture
def settings(tmp_path: Path, db_url: str) -> Settings:
    return make_settings(tmp_path, db_url, office_hours="mon-fri 08:30-14:30", public_url="https://hub.example.org")


@pytest.fixture
def mail(smtp: mailservers.SmtpSink) -> MailSettings:
    """The mail channel's settings the composition root gives the job: the SMTP sink, the From address."""
    return load_mail_settings(_env_file=None, mail_from="OAC Lleida <oac@example.org>", **smtp.settings())


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=MADRID.zone)


def test_the_summary_is_due_from_the_first_working_days_opening() -> None:
    assert week_due(local(2026, 3, 16, 8, 29), MADRID) is None  # Monday, before opening
    assert week_due(local(2026, 3, 16, 8, 30), MADRID) == date(2026, 3, 9)
    assert week_due(local(2026, 3, 19, 12), MADRID) == date(2026, 3, 9)  # still that week's
    # Easter Monday (6 April 2026) is a holiday in Catalonia: Tuesday instead.
    assert week_due(local(2026, 4, 6, 10), MADRID) is None
    assert week_due(local(2026, 4, 7, 8, 30), MADRID) == date(2026, 3, 30)
    always = OfficeCalendar.from_settings("always", "ES-CT", "Europe/Madrid")
    assert week_due(local(2026, 3, 16, 0, 1), always) == date(2026, 3, 9)


async def test_the_weekly_summary_arrives_once(ctx: HubContext, clock: FakeClock, settings: Settings,
                                               mail: MailSettings, smtp: mailservers.SmtpSink, two_weeks: None) -> None:
    marta = await do_create_agent(ctx, "marta@oac.example", "Marta Puig", "manager", "password123", language="es")
    await do_create_agent(ctx, "pere@oac.example", "Pere Roca", "manager", "password123")  # did not opt in
    agent = await do_create_agent(ctx, "jordi@oac.example", "Jordi", "agent", "password123")
    with pytest.raises(Invalid):
        await do_set_weekly_summary(ctx, agent, True)
    await do_set_weekly_summary(ctx, marta, True)

    clock.set(datetime(2026, 3, 16, 7, 29, tzinfo=UTC))  # 08:29 in Lleida: not open yet
    assert await send_weekly_summaries(ctx, mail) == 0
    clock.set(datetime(2026, 3, 16, 7, 45, tzinfo=UTC))
    # Two schedulers (each its own connection pool) at the same moment.
    other = HubContext.create(settings, clock)
    try:
        sent = await asyncio.gather(send_weekly_summaries(ctx, mail), send_weekly_summaries(other, mail))
        assert sorted(sent) == [0, 1]
        assert await send_weekly_summaries(other, mail) == 0  # and later sweeps send nothing more
    finally:
        await other.close()
    got = await asyncio.to_thread(smtp.wait_for, 1)
    await asyncio.sleep(0.3)
    assert len(smtp.messages) == 1 and got[0].rcpt_tos == ["marta@oac.example"]
    mail = got[0].message
    assert mail["Subject"] == "Resumen semanal 2026-03-09 – 2026-03-15"
    assert mail["Auto-Submitted"] == "auto-generated"
    text = mail.get_body(("plain",)).get_content()
    assert "- Consultas: 6 (semana anterior: 4; ▲ +50 %)" in text
    assert ("- Espera en la cola, horario de atención (mediana / p90): 10 min / 30 min (tiempo real 10 min / 30 min) "
            "(semana anterior: 1 min; ▲ +900 %, peor)") in text
    assert "- Satisfacción (1–5): 2.5" in text and "▼ -38 %, peor" in text
    assert "https://hub.example.org/stats?from=2026-03-09&to=2026-03-15" in text
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(WeeklySummary))).all()
    assert [(r.week, r.agent_id, r.sent_at is not None) for r in rows] == [(date(2026, 3, 9), marta, True)]


async def test_a_refused_summary_is_sent_at_a_later_sweep(ctx: HubContext, clock: FakeClock, mail: MailSettings,
                                                          smtp: mailservers.SmtpSink) -> None:
    marta = await do_create_agent(ctx, "marta@oac.example", "Marta Puig", "manager", "password123")
    await do_set_weekly_summary(ctx, marta, True)
    clock.set(datetime(2026, 3, 16, 9, 0, tzinfo=UTC))
    smtp.replies.append("451 try again later")
    assert await send_weekly_summaries(ctx, mail) == 0
    assert await send_weekly_summaries(ctx, mail) == 1
    got = await asyncio.to_thread(smtp.wait_for, 1)
    assert len(got) == 1 and "Resum setmanal" in got[0].message["Subject"]
