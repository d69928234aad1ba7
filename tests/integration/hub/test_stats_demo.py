"""`hub run --demo` seeds weeks of genuine history once, and the statistics have something to show."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlmodel import func, select

from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Call, Outbox, SurveyResponse, Ticket
from hub.rollups import query_stats
from entrypoints.demo_data import seed


async def _counts(ctx: HubContext) -> dict[str, int]:
    async with ctx.sessionmaker() as s:
        by_status = dict((await s.exec(select(Ticket.status, func.count()).group_by(Ticket.status))).all())
        by_channel = dict((await s.exec(select(Ticket.channel, func.count()).group_by(Ticket.channel))).all())
        answered = (await s.exec(select(func.count()).select_from(SurveyResponse)
                                 .where(SurveyResponse.answered_at != None))).one()  # noqa: E711
        calls = (await s.exec(select(func.count()).select_from(Call))).one()
        pending = (await s.exec(select(func.count()).select_from(Outbox).where(Outbox.status != "sent"))).one()
    return {**{f"status:{k}": v for k, v in by_status.items()}, **{f"channel:{k}": v for k, v in by_channel.items()},
            "answered": answered, "calls": calls, "undelivered": pending}


async def test_demo_data_is_seeded_once_with_every_kind_of_story(settings: Settings) -> None:
    await seed(settings, weeks=2, per_day=(6, 9))
    ctx = HubContext.create(settings)
    try:
        first = await _counts(ctx)
        assert first["status:resolved"] > 20 and first["status:closed_unidentified"] > 0
        assert first["channel:whatsapp"] and first["channel:email"] and first["channel:phone"]
        assert first["answered"] > 3 and first["calls"] > 5 and first["undelivered"] == 0
        await seed(settings)  # a second run changes nothing
        assert await _counts(ctx) == first
        today = datetime.now(UTC).date()
        stats = await query_stats(ctx, today - timedelta(days=30), today)
        assert stats.totals.consultations > 30 and stats.totals.abandoned > 0
        assert stats.satisfaction.answered > 3 and stats.comments and stats.calls.answered > 0
        assert stats.totals.wait.median_s is not None and stats.totals.resolution.p90_s is not None
        assert len(stats.by_agent) >= 3
    finally:
        await ctx.close()
