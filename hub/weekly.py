"""The managers' weekly summary: which week is due, and when (pure, no I/O).

Last week's key figures go out on the office's first working day of the new week, from the
moment the office opens that day (a Monday holiday moves it to Tuesday). A week in which the
office never opens still gets its summary, on Monday. Sending is the runtime's job
(`entrypoints/weekly_summary.py`); the once-only guarantee is a unique row per manager and week
(`hub/actions/reports.py`).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hub.calendar import OfficeCalendar


def week_due(now: datetime, calendar: OfficeCalendar) -> date | None:
    """The Monday of the week to summarise (last week) once this week's first working day has
    begun, else None."""
    today = calendar.local_date(now)
    monday = today - timedelta(days=today.weekday())
    start = datetime.combine(monday, time(0), calendar.zone)
    first_open = calendar.next_opening(start)
    if first_open is None or calendar.local_date(first_open) > monday + timedelta(days=6):
        first_open = start  # closed all week: Monday
    if now < first_open:
        return None
    return monday - timedelta(days=7)
