"""Waiting, first response and resolution in office time, against hand-computed figures; the
first-response SLA share; replies that had to go as the WhatsApp template."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from hub.calendar import Closure, OfficeCalendar
from hub.stats import M, Cell, Ev, OfficeTime, facts_of, figures_of

MADRID = ZoneInfo("Europe/Madrid")
CLOSURE = Closure(date(2026, 6, 1), date(2026, 6, 2), "Move to the new building")
OFFICE = OfficeTime(OfficeCalendar.from_settings("mon-fri 08:30-14:30", "ES-CT,2026-05-11", "Europe/Madrid",
                                                 (CLOSURE,)), sla_s=30 * 60)


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=MADRID)


def history(created: datetime, assigned: datetime, replied: datetime, resolved: datetime) -> list[Ev]:
    return [Ev("created", created), Ev("queued", created), Ev("assigned", assigned, 7),
            Ev("first_agent_reply", replied, 7), Ev("agent_replied", replied, 7), Ev("resolved", resolved, 7)]


def values(events: list[Ev], metric: str) -> list[int | None]:
    return [f.value for f in facts_of("whatsapp", events, MADRID, OFFICE) if f.metric == metric]


@pytest.mark.parametrize("created, assigned, wait_office", [
    # A weekend: Friday 13:00 -> Monday 9:30 is 1h30 on Friday + 1h on Monday.
    (at(2026, 11, 27, 13), at(2026, 11, 30, 9, 30), 2.5 * 3600),
    # A holiday from the library (Tuesday 8 December): Monday 14:00 -> Wednesday 9:00.
    (at(2026, 12, 7, 14), at(2026, 12, 9, 9), 3600),
    # The city's local day (Monday 11 May): Friday 14:00 -> Tuesday 9:00.
    (at(2026, 5, 8, 14), at(2026, 5, 12, 9), 3600),
    # A one-off closure (1-2 June): Friday 29 May 14:00 -> Wednesday 3 June 9:00.
    (at(2026, 5, 29, 14), at(2026, 6, 3, 9), 3600),
    # The spring DST change (Sunday 29 March): Friday 14:00 -> Monday 9:00, 08:30 on the wall clock.
    (at(2026, 3, 27, 14), at(2026, 3, 30, 9), 3600),
])
def test_office_waiting_is_the_hand_computed_figure(created: datetime, assigned: datetime, wait_office: float) -> None:
    events = history(created, assigned, assigned.replace(minute=assigned.minute + 10), assigned.replace(hour=12))
    assert values(events, M.WAIT_OFFICE) == [wait_office]
    assert values(events, M.WAIT) == [round((assigned - created).total_seconds())]  # wall time too
    assert values(events, M.FIRST_RESPONSE_OFFICE) == [wait_office + 600]
    resolution = values(events, M.RESOLUTION_OFFICE)[0]
    assert resolution == wait_office + (assigned.replace(hour=12) - assigned).total_seconds()


def test_first_response_within_the_sla_is_counted_in_office_time() -> None:
    # Friday 14:20 -> Monday 8:45: 10 min + 15 min of office time, within 30 minutes (wall: 3 days).
    weekend = history(at(2026, 11, 27, 14, 20), at(2026, 11, 30, 8, 40), at(2026, 11, 30, 8, 45), at(2026, 11, 30, 9))
    # Monday 9:00 -> 9:40: 40 minutes, breached.
    slow = history(at(2026, 11, 30, 9), at(2026, 11, 30, 9, 30), at(2026, 11, 30, 9, 40), at(2026, 11, 30, 10))
    cells: dict[str, Cell] = {}
    for events in (weekend, slow):
        for fact in facts_of("whatsapp", events, MADRID, OFFICE):
            cells.setdefault(fact.metric, Cell()).add(fact)
    figures = figures_of(cells)
    assert figures.first_response.within_sla == 0.5
    assert figures.first_response_office.count == 2
    assert figures.first_response_office.average_s == (25 * 60 + 40 * 60) / 2
    assert figures.first_response.average_s == ((2 * 24 + 18) * 3600 + 25 * 60 + 40 * 60) / 2  # wall time keeps the weekend


def test_replies_outside_the_whatsapp_window_are_counted() -> None:
    events = history(at(2026, 11, 27, 19), at(2026, 11, 30, 8, 35), at(2026, 11, 30, 8, 40), at(2026, 11, 30, 9))
    events.insert(4, Ev("reply_outside_window", at(2026, 11, 30, 8, 40), 7))
    cells: dict[str, Cell] = {}
    for fact in facts_of("whatsapp", events, MADRID, OFFICE):
        cells.setdefault(fact.metric, Cell()).add(fact)
    assert figures_of(cells).replies_outside_window == 1


def test_without_a_calendar_only_wall_time_is_measured() -> None:
    events = history(at(2026, 11, 27, 13), at(2026, 11, 30, 9, 30), at(2026, 11, 30, 9, 40), at(2026, 11, 30, 12))
    metrics = {f.metric for f in facts_of("whatsapp", events, MADRID)}
    assert M.WAIT in metrics and M.WAIT_OFFICE not in metrics


def test_a_call_nobody_answered_while_closed_is_not_missed_by_the_agents() -> None:
    from hub.stats import CallRow, call_facts

    saturday = CallRow(at(2026, 11, 28, 11), "inbound", "missed", False, None, None, None, "ended", "+34600111222")
    monday = CallRow(at(2026, 11, 30, 11), "inbound", "missed", False, None, None, None, "ended", "+34600111222")
    answered_late = CallRow(at(2026, 11, 30, 20), "inbound", "answered", True, 3, 5, 60, "ended", "+34600111222")
    assert [f.metric for f in call_facts(saturday, OFFICE)] == [M.CALL_MISSED_OUTSIDE_HOURS]
    assert [f.metric for f in call_facts(monday, OFFICE)] == [M.CALL_MISSED]
    assert M.CALL_ANSWERED in [f.metric for f in call_facts(answered_late, OFFICE)]
    assert [f.metric for f in call_facts(saturday)] == [M.CALL_MISSED]  # no calendar: as before


def test_the_facts_since_a_moment_are_the_facts_of_the_whole_history_from_then() -> None:
    """A window's facts (`since`: what the statistics compute live) skip the office-time
    measurement of earlier facts, and are exactly the whole history's facts from then on."""
    events = history(at(2026, 11, 27, 13), at(2026, 11, 30, 9, 30), at(2026, 11, 30, 9, 40), at(2026, 11, 30, 12))
    events[3:3] = [Ev("unassigned", at(2026, 11, 30, 9, 35), 7), Ev("queued", at(2026, 11, 30, 9, 35)),
                   Ev("assigned", at(2026, 11, 30, 9, 38), 8)]
    events += [Ev("survey_sent", at(2026, 11, 30, 12)), Ev("survey_answered", at(2026, 12, 1, 9), 8, {"rating": 4})]
    whole = list(facts_of("whatsapp", events, MADRID, OFFICE))
    for since in sorted({e.at for e in events} | {at(2026, 11, 28, 0), at(2026, 12, 2, 0)}):
        assert list(facts_of("whatsapp", events, MADRID, OFFICE, since=since)) == [f for f in whole if f.at >= since]
