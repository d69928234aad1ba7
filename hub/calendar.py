"""The office's calendar: when agents answer (pure, no I/O).

Three sources decide whether the office is open at a moment, all in the office's time zone
(daylight-saving changes included, so "08:30" is always 08:30 on the office's wall clock):

- the weekly hours, several ranges a day (`HUB_OFFICE_HOURS`, editable by admins);
- public holidays of a country and region from the maintained `holidays` library, plus the
  city's local days (`HUB_HOLIDAYS`: `ES-CT,2026-05-11,2026-09-29`);
- one-off closures, a date or a range of dates with a reason (admins add them in settings).

`always` means no calendar at all: open at every moment (public holidays ignored; an admin's
one-off closure still closes). Moments are aware datetimes; results are aware UTC datetimes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DEFAULT_OFFICE_HOURS = "mon-fri 08:30-14:30"
DEFAULT_HOLIDAYS = "ES-CT"
_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_HORIZON = timedelta(days=800)  # next_opening gives up (returns None) beyond this


class CalendarError(ValueError):
    """A malformed calendar setting; the message names the variable and what was expected."""


Range = tuple[time, time]  # start inclusive, end exclusive; time.max stands for 24:00


@dataclass(frozen=True)
class WeeklyHours:
    """Opening ranges per weekday (index 0 = Monday); `always` ignores them."""

    days: tuple[tuple[Range, ...], ...] = ((),) * 7
    always: bool = False

    def format(self) -> str:
        """Back to the `HUB_OFFICE_HOURS` syntax (days with the same ranges grouped)."""
        if self.always:
            return "always"
        parts: list[str] = []
        index = 0
        while index < 7:
            ranges = self.days[index]
            end = index
            while end + 1 < 7 and self.days[end + 1] == ranges:
                end += 1
            if ranges:
                span = DAYS[index] if end == index else f"{DAYS[index]}-{DAYS[end]}"
                parts.append(span + " " + ",".join(f"{_fmt(a)}-{_fmt(b)}" for a, b in ranges))
            index = end + 1
        return "; ".join(parts)

    @property
    def never(self) -> bool:
        return not self.always and not any(self.days)


def _fmt(moment: time) -> str:
    return "24:00" if moment == time.max else moment.strftime("%H:%M")


def _parse_time(text: str, variable: str, *, end: bool) -> time:
    match = _TIME.match(text)
    if not match:
        raise CalendarError(f"{variable}: expected a time such as 08:30, got {text!r}")
    hours, minutes = int(match.group(1)), int(match.group(2))
    if hours == 24:
        if minutes or not end:
            raise CalendarError(f"{variable}: 24:00 is only allowed as the end of a range, got {text!r}")
        return time.max
    return time(hours, minutes)


def _parse_days(text: str, variable: str) -> list[int]:
    days: list[int] = []
    for item in text.split(","):
        first, _, last = item.strip().partition("-")
        if first not in DAYS or (last and last not in DAYS):
            raise CalendarError(
                f"{variable}: expected days such as mon-fri or sat (mon, tue, wed, thu, fri, sat, sun), got {item.strip()!r}"
            )
        start, stop = DAYS.index(first), DAYS.index(last or first)
        if stop < start:
            raise CalendarError(f"{variable}: the day range {item.strip()!r} runs backwards")
        days.extend(range(start, stop + 1))
    return days


def parse_office_hours(text: str, variable: str = "HUB_OFFICE_HOURS") -> WeeklyHours:
    """`mon-thu 08:30-14:30,16:00-18:00; fri 08:30-14:30`, or `always`.

    Days not named are closed. A day named twice, overlapping ranges or a range that ends
    before it starts is an error, so a typo never silently opens or closes the office.
    """
    cleaned = " ".join(str(text).strip().lower().split())
    if cleaned == "always":
        return WeeklyHours(always=True)
    if not cleaned:
        raise CalendarError(f"{variable}: expected opening hours such as 'mon-fri 08:30-14:30' or 'always', got nothing")
    days: list[list[Range]] = [[] for _ in DAYS]
    seen: set[int] = set()
    for clause in cleaned.split(";"):
        clause = clause.strip()
        if not clause:
            continue
        head, _, tail = clause.partition(" ")
        if not tail.strip():
            raise CalendarError(f"{variable}: expected days then hours, such as 'mon-fri 08:30-14:30', got {clause!r}")
        named = _parse_days(head, variable)
        ranges: list[Range] = []
        for item in tail.replace(" ", "").split(","):
            start_text, dash, end_text = item.partition("-")
            if not dash:
                raise CalendarError(f"{variable}: expected a range such as 08:30-14:30, got {item!r}")
            start = _parse_time(start_text, variable, end=False)
            end = _parse_time(end_text, variable, end=True)
            if end <= start:
                raise CalendarError(f"{variable}: the range {item!r} ends before it starts")
            ranges.append((start, end))
        ranges.sort()
        for (_, first_end), (second_start, _) in zip(ranges, ranges[1:]):
            if second_start < first_end:
                raise CalendarError(f"{variable}: the ranges in {clause!r} overlap")
        for day in named:
            if day in seen:
                raise CalendarError(f"{variable}: {DAYS[day]} is named twice")
            seen.add(day)
            days[day] = list(ranges)
    return WeeklyHours(tuple(tuple(d) for d in days))


@dataclass(frozen=True)
class HolidaySource:
    """`HUB_HOLIDAYS`: a country (and subdivision) of the `holidays` library plus local dates."""

    country: str = ""
    subdivision: str = ""
    local_days: tuple[date, ...] = ()

    def format(self) -> str:
        parts = []
        if self.country:
            parts.append(self.country + (f"-{self.subdivision}" if self.subdivision else ""))
        parts.extend(d.isoformat() for d in self.local_days)
        return ",".join(parts) or "none"


def parse_holidays(text: str, variable: str = "HUB_HOLIDAYS") -> HolidaySource:
    """`ES-CT,2026-05-11,2026-09-29`; `ES` for a whole country; `none` (or empty) for none."""
    from holidays.registry import EntityLoader

    country = subdivision = ""
    local: list[date] = []
    for item in (p.strip() for p in str(text).split(",")):
        if not item or item.lower() == "none":
            continue
        if _DATE.match(item):
            try:
                local.append(date.fromisoformat(item))
            except ValueError:
                raise CalendarError(f"{variable}: {item!r} is not a real date") from None
            continue
        if country:
            raise CalendarError(f"{variable}: only one country code is allowed, got {country!r} and {item!r}")
        code, _, sub = item.partition("-")
        code = code.upper()
        # The library's registry names every country without importing one (its
        # `list_supported_countries` imports all of them).
        if code not in set(EntityLoader.get_country_codes()):
            raise CalendarError(
                f"{variable}: {item!r} is neither a date (YYYY-MM-DD) nor a country code of the holidays library (such as ES-CT)"
            )
        if sub:
            known = list(_country_class(code).subdivisions)
            by_code = {s.upper(): s for s in known}
            if sub.upper() not in by_code:
                raise CalendarError(
                    f"{variable}: {sub!r} is not a subdivision of {code} (known: {', '.join(known)})"
                )
            sub = by_code[sub.upper()]
        country, subdivision = code, sub
    return HolidaySource(country, subdivision, tuple(sorted(set(local))))


@dataclass(frozen=True)
class Closure:
    """The office closed from `first` to `last` (inclusive, local dates), with a reason."""

    first: date
    last: date
    reason: str = ""

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise CalendarError(f"a closure cannot end ({self.last}) before it starts ({self.first})")

    def covers(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class DayOff:
    day: date
    reason: str
    kind: str  # "holiday" (from the library), "local", "closure"


@dataclass(frozen=True)
class OfficeCalendar:
    hours: WeeklyHours = field(default_factory=lambda: parse_office_hours(DEFAULT_OFFICE_HOURS))
    timezone: str = "Europe/Madrid"
    holidays: HolidaySource = field(default_factory=HolidaySource)
    closures: tuple[Closure, ...] = ()
    language: str = "ca"  # of the holiday names the library gives

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise CalendarError(f"HUB_TIMEZONE: unknown time zone {self.timezone!r}") from None

    @classmethod
    def from_settings(
        cls, office_hours: str, holidays: str, timezone: str, closures: Iterable[Closure] = (), language: str = "ca",
    ) -> "OfficeCalendar":
        return cls(parse_office_hours(office_hours), timezone, parse_holidays(holidays), tuple(closures), language)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def always(self) -> bool:
        return self.hours.always

    # Days ------------------------------------------------------------------------------

    def day_off(self, day: date) -> DayOff | None:
        """Why the office is closed all of `day` (a holiday, a local day, a closure), or None."""
        for closure in self.closures:
            if closure.covers(day):
                return DayOff(day, closure.reason, "closure")
        if self.always:
            return None
        if day in self.holidays.local_days:
            return DayOff(day, "", "local")
        name = _public_holidays(self.holidays.country, self.holidays.subdivision, day.year, self.language).get(day)
        if name is not None:
            return DayOff(day, name, "holiday")
        return None

    def days_off(self, first: date, last: date) -> list[DayOff]:
        out = []
        day = first
        while day <= last:
            off = self.day_off(day)
            if off is not None:
                out.append(off)
            day += timedelta(days=1)
        return out

    def open_intervals_on(self, day: date) -> list[tuple[datetime, datetime]]:
        """The office's open intervals on a local date, as UTC datetimes (empty on a day off)."""
        return list(_intervals(self, day))

    # Moments ---------------------------------------------------------------------------

    def local_date(self, at: datetime) -> date:
        return _aware(at).astimezone(self.zone).date()

    def is_open(self, at: datetime) -> bool:
        at = _aware(at)
        if self.always:
            return self.day_off(self.local_date(at)) is None
        return any(start <= at < end for start, end in _intervals(self, self.local_date(at)))

    def next_opening(self, at: datetime) -> datetime | None:
        """When the office next opens at or after `at` (`at` itself if it is open then); None
        if it never opens within two years (no hours at all, or closed for longer)."""
        for start, end in self._intervals_from(at):
            return max(start, _aware(at).astimezone(UTC))
        return None

    def next_closing(self, at: datetime) -> datetime | None:
        """When the current opening ends (None if closed now or never closing)."""
        at = _aware(at).astimezone(UTC)
        if not self.is_open(at):
            return None
        for start, end in self._intervals_from(at):
            if start > at:
                return None
            return end
        return None

    def office_seconds_between(self, a: datetime, b: datetime) -> float:
        """Seconds of opening time in [a, b) (0 when b <= a). Wall time when `always`, except
        an admin's closure days."""
        a, b = _aware(a).astimezone(UTC), _aware(b).astimezone(UTC)
        if b <= a:
            return 0.0
        total = 0.0
        for start, end in self._intervals_from(a, until=b):
            if start >= b:
                break
            total += (min(end, b) - max(start, a)).total_seconds()
        return total

    def _intervals_from(self, at: datetime, until: datetime | None = None) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals ending after `at`, in order, merged across midnight."""
        at = _aware(at).astimezone(UTC)
        limit = until if until is not None else at + _HORIZON
        day = self.local_date(at) - timedelta(days=1)
        last_day = self.local_date(limit) + timedelta(days=1)
        pending: tuple[datetime, datetime] | None = None
        while day <= last_day:
            for start, end in _intervals(self, day):
                if end <= at:
                    continue
                if pending is not None and start <= pending[1]:
                    pending = (pending[0], max(end, pending[1]))
                    continue
                if pending is not None:
                    yield pending
                pending = (start, end)
            day += timedelta(days=1)
        if pending is not None:
            yield pending


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("the calendar needs aware datetimes (with a time zone)")
    return at


def _intervals(calendar: OfficeCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    return _intervals_cached(calendar, day)


@lru_cache(maxsize=8192)
def _intervals_cached(calendar: OfficeCalendar, day: date) -> tuple[tuple[datetime, datetime], ...]:
    if calendar.day_off(day) is not None:
        return ()
    zone = calendar.zone
    if calendar.always:
        ranges: tuple[Range, ...] = ((time.min, time.max),)
    else:
        ranges = calendar.hours.days[day.weekday()]
    out = []
    for start, end in ranges:
        begin = datetime.combine(day, start, zone).astimezone(UTC)
        if end == time.max:
            finish = datetime.combine(day + timedelta(days=1), time.min, zone).astimezone(UTC)
        else:
            finish = datetime.combine(day, end, zone).astimezone(UTC)
        if finish > begin:  # a range swallowed by a daylight-saving jump is simply shorter
            out.append((begin, finish))
    return tuple(out)


@lru_cache(maxsize=256)
def _public_holidays(country: str, subdivision: str, year: int, language: str) -> dict[date, str]:
    if not country:
        return {}
    kwargs: dict[str, object] = {"years": year}
    if subdivision:
        kwargs["subdiv"] = subdivision
    country_class = _country_class(country)
    wanted = {"en": "en_US"}.get(language, language)
    if wanted in (country_class.supported_languages or ()):
        kwargs["language"] = wanted
    return dict(country_class(**kwargs).items())


@lru_cache(maxsize=8)
def _country_class(code: str) -> type:
    """The holidays library's class for one country code (`ES`, `ESP`, an alias such as `UK`).

    Importing any country through the library (`holidays.country_holidays`, `holidays.ES`) runs
    `holidays/countries/__init__.py`, which imports all ~250 countries: 8 MB more in every
    process that shows office hours. The registry names the module and class of each code, so
    only that one module is loaded; should a later version move its files, the library's own
    (heavier) way is used.
    """
    import importlib.util
    import sys
    from pathlib import Path

    import holidays
    from holidays.registry import COUNTRIES

    for module, (class_name, *codes) in COUNTRIES.items():
        if code in codes:
            name = f"holidays.countries.{module}"
            path = Path(holidays.__file__).parent / "countries" / f"{module}.py"
            if name not in sys.modules and path.is_file():
                spec = importlib.util.spec_from_file_location(name, path)
                if spec is not None and spec.loader is not None:
                    loaded = importlib.util.module_from_spec(spec)
                    sys.modules[name] = loaded
                    try:
                        spec.loader.exec_module(loaded)
                    except BaseException:
                        del sys.modules[name]
                        raise
            if name in sys.modules:
                return getattr(sys.modules[name], class_name)
            break
    return getattr(holidays, code)
