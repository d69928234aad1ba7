"""The call figures beside the previous period's, judged per figure (on the page and in the API)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from agent_ui.stats import call_figures
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Call
from hub.rollups import build_days, forget_cached_stats, query_compared
from tests.hub.test_stats_reports import W11, utc



@pytest.mark.parametrize("rolled", [False, True], ids=["live", "rolled-up"])
async def test_the_call_figures_are_compared_too(ctx: HubContext, clock: FakeClock, rolled: bool) -> None:
    """Week 10: two answered calls (talk 60 and 120 s) and two missed; week 11: three answered
    (180, 180, 300) and one missed. All at 09:00 on a Tuesday, office hours."""
    async with ctx.sessionmaker() as s:
        for day, outcome, talk in ((3, "answered", 60), (3, "answered", 120), (3, "missed", None), (3, "busy", None),
                                   (10, "answered", 180), (10, "answered", 180), (10, "answered", 300),
                                   (10, "missed", None)):
            s.add(Call(number="+34600000001", outcome=outcome, started_at=utc(day, 8), created_at=utc(day, 8), duration_s=talk,
                       done=outcome == "answered"))
        await s.commit()
    clock.set(datetime(2026, 3, 20, 12, 0, tzinfo=UTC))
    forget_cached_stats()
    if rolled:
        await build_days(ctx, date(2026, 3, 1), date(2026, 3, 19))
    s = await query_compared(ctx, *W11)
    assert (s.calls.answered, s.calls.missed, s.calls.answer_rate) == (3, 1, 0.75)
    figures = {k["key"]: k for k in call_figures(lambda text: text, s)}
    before = {key: k["compared"][0] for key, k in figures.items()}
    assert [before[k]["before"] for k in ("answered", "missed", "answer_rate")] == ["2", "2", "50 %"]
    assert (figures["answer_rate"]["value"], figures["talk"]["value"]) == ("75 %", "3 min / 5 min")
    judged = {key: (c["change"].percent, c["change"].direction, c["change"].better) for key, c in before.items()}
    assert judged["answered"] == (50.0, "up", True)
    assert judged["missed"] == (-50.0, "down", True)
    assert judged["answer_rate"] == (50.0, "up", True)
    assert judged["talk"] == (200.0, "up", None)  # longer calls are neither better nor worse
    assert judged["outbound"] == (0.0, "same", None)
