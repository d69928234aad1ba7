"""Service-level clocks for the desk (pure): how long a consultation has waited for its first
reply, in office time, against `HUB_SLA_FIRST_RESPONSE`.

Three states, each with its own words in the UI (never colour alone): `ok` (green), `warning`
from 75 % of the target (amber), `breached` past the target (red).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hub.calendar import OfficeCalendar

WARNING_SHARE = 0.75


@dataclass(frozen=True)
class SlaClock:
    seconds: int  # office time so far
    target_s: float

    @property
    def state(self) -> str:
        if self.target_s <= 0:
            return "ok"
        if self.seconds > self.target_s:
            return "breached"
        if self.seconds >= WARNING_SHARE * self.target_s:
            return "warning"
        return "ok"


def first_response_clock(calendar: OfficeCalendar, since: datetime, now: datetime, target_s: float) -> SlaClock:
    return SlaClock(round(calendar.office_seconds_between(since, now)), target_s)


@dataclass(frozen=True)
class DeskClocks:
    """What the queue and the board need from the calendar, for one rendering."""

    calendar: OfficeCalendar
    now: datetime
    target_s: float

    @property
    def open_now(self) -> bool:
        return self.calendar.is_open(self.now)

    @property
    def next_opening(self) -> datetime | None:
        return self.calendar.next_opening(self.now)

    def first_response(self, ticket: object) -> SlaClock | None:
        """The clock of a consultation still waiting for its first agent reply (None otherwise)."""
        if getattr(ticket, "first_response_at", None) is not None or getattr(ticket, "status", "") not in (
            "waiting", "assigned",
        ):
            return None
        since = getattr(ticket, "queued_at", None) or getattr(ticket, "created_at")
        return first_response_clock(self.calendar, since, self.now, self.target_s)
