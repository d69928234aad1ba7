"""SLA clocks in office time: green, amber from 75 %, red past the target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from hub.calendar import OfficeCalendar
from hub.sla import DeskClocks, SlaClock, first_response_clock

MADRID = ZoneInfo("Europe/Madrid")
CAL = OfficeCalendar.from_settings("mon-fri 08:30-14:30", "ES-CT", "Europe/Madrid")


def test_states_at_the_thresholds() -> None:
    assert SlaClock(0, 1800).state == "ok"
    assert SlaClock(1349, 1800).state == "ok"
    assert SlaClock(1350, 1800).state == "warning"  # 75 %
    assert SlaClock(1800, 1800).state == "warning"
    assert SlaClock(1801, 1800).state == "breached"


def test_the_weekend_does_not_count() -> None:
    friday = datetime(2026, 11, 27, 14, 20, tzinfo=MADRID)
    monday = datetime(2026, 11, 30, 8, 40, tzinfo=MADRID)
    clock = first_response_clock(CAL, friday, monday, 1800)
    assert clock.seconds == 20 * 60 and clock.state == "ok"
    assert first_response_clock(CAL, friday, monday.replace(minute=51), 1800).state == "breached"


@dataclass
class T:
    status: str
    created_at: datetime
    queued_at: datetime | None = None
    first_response_at: datetime | None = None


def test_desk_clocks_only_for_consultations_without_a_first_reply() -> None:
    now = datetime(2026, 12, 2, 10, 0, tzinfo=MADRID)
    desk = DeskClocks(CAL, now, 1800)
    waiting = desk.first_response(T("waiting", now.replace(hour=9), now.replace(hour=9, minute=40)))
    assert waiting is not None and waiting.seconds == 20 * 60
    assert desk.first_response(T("assigned", now, now, first_response_at=now)) is None
    assert desk.first_response(T("identifying", now)) is None
    assert desk.open_now and DeskClocks(CAL, now.replace(hour=20), 1800).next_opening == now.replace(
        day=3, hour=8, minute=30)
