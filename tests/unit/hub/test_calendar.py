"""The office calendar: weekly hours, holidays from the library, local days, closures, DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from hub.calendar import (
    CalendarError, Closure, OfficeCalendar, parse_holidays, parse_office_hours,
)
from hub.config import ConfigError, load_settings

MADRID = ZoneInfo("Europe/Madrid")


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=MADRID)


def lleida(hours: str = "mon-fri 08:30-14:30", holidays: str = "ES-CT,2026-05-11,2026-09-29",
           closures: tuple[Closure, ...] = ()) -> OfficeCalendar:
    return OfficeCalendar.from_settings(hours, holidays, "Europe/Madrid", closures)


# The parser ------------------------------------------------------------------------------

def test_parses_several_ranges_a_day_and_days_not_named_are_closed() -> None:
    hours = parse_office_hours("mon-thu 08:30-14:30,16:00-18:00; fri 08:30-14:30")
    assert hours.days[0] == ((time(8, 30), time(14, 30)), (time(16), time(18)))
    assert hours.days[3] == hours.days[0]
    assert hours.days[4] == ((time(8, 30), time(14, 30)),)
    assert hours.days[5] == hours.days[6] == ()
    assert hours.format() == "mon-thu 08:30-14:30,16:00-18:00; fri 08:30-14:30"


def test_always_and_24_00() -> None:
    assert parse_office_hours(" Always ").always
    assert parse_office_hours("sat,sun 00:00-24:00").format() == "sat-sun 00:00-24:00"


@pytest.mark.parametrize("text, fragment", [
    ("", "got nothing"),
    ("mon-fri", "days then hours"),
    ("mon-fir 08:30-14:30", "expected days"),
    ("fri-mon 08:30-14:30", "runs backwards"),
    ("mon 8h-14h", "expected a time"),
    ("mon 14:30-08:30", "ends before it starts"),
    ("mon 08:00-12:00,11:00-13:00", "overlap"),
    ("mon-fri 08:30-14:30; fri 16:00-18:00", "fri is named twice"),
    ("mon 08:30", "expected a range"),
    ("mon 24:00-24:00", "24:00 is only allowed"),
    ("mon 25:00-26:00", "expected a time"),
])
def test_bad_office_hours_name_the_variable(text: str, fragment: str) -> None:
    with pytest.raises(CalendarError) as exc:
        parse_office_hours(text)
    assert str(exc.value).startswith("HUB_OFFICE_HOURS: ")
    assert fragment in str(exc.value)


def test_holidays_setting() -> None:
    source = parse_holidays("es-ct, 2026-09-29,2026-05-11")
    assert (source.country, source.subdivision) == ("ES", "CT")
    assert source.local_days == (date(2026, 5, 11), date(2026, 9, 29))
    assert source.format() == "ES-CT,2026-05-11,2026-09-29"
    assert parse_holidays("none").format() == "none"


@pytest.mark.parametrize("text, fragment", [
    ("XX", "neither a date"),
    ("ES-ZZ", "not a subdivision of ES"),
    ("ES,FR", "only one country"),
    ("2026-02-30", "not a real date"),
])
def test_bad_holidays_name_the_variable(text: str, fragment: str) -> None:
    with pytest.raises(CalendarError, match=fragment) as exc:
        parse_holidays(text)
    assert str(exc.value).startswith("HUB_HOLIDAYS: ")


def test_settings_refuse_a_bad_calendar_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HUB_OFFICE_HOURS", raising=False)
    with pytest.raises(ConfigError, match="HUB_OFFICE_HOURS: .*ends before it starts"):
        load_settings(_env_file=None, office_hours="mon 18:00-09:00")
    with pytest.raises(ConfigError, match="HUB_HOLIDAYS"):
        load_settings(_env_file=None, holidays="Narnia")
    with pytest.raises(ConfigError, match="HUB_TIMEZONE"):
        load_settings(_env_file=None, timezone="Europe/Lleida")
    settings = load_settings(_env_file=None)
    assert (settings.office_hours, settings.holidays) == ("mon-fri 08:30-14:30", "ES-CT")
    assert settings.sla_first_response == timedelta(minutes=30)


_DAY = st.sampled_from(["mon", "tue", "wed", "thu", "fri", "sat", "sun"])


@st.composite
def _hours_text(draw: st.DrawFn) -> str:
    days = draw(st.lists(_DAY, min_size=1, max_size=7, unique=True))
    clauses = []
    for day in days:
        minutes = sorted(draw(st.lists(st.integers(0, 24 * 60), min_size=2, max_size=6, unique=True)))
        if len(minutes) % 2:
            minutes = minutes[:-1]
        ranges = [f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}" for a, b in zip(minutes[::2], minutes[1::2])]
        clauses.append(f"{day} {','.join(ranges)}")
    return "; ".join(clauses)


@given(_hours_text())
def test_office_hours_round_trip(text: str) -> None:
    hours = parse_office_hours(text)
    assert parse_office_hours(hours.format()) == hours


@given(st.text(max_size=40))
def test_the_parser_never_fails_other_than_with_a_calendar_error(text: str) -> None:
    try:
        parse_office_hours(text)
    except CalendarError as exc:
        assert str(exc).startswith("HUB_OFFICE_HOURS: ")


# Open or closed ---------------------------------------------------------------------------

def test_open_on_weekday_mornings_in_the_office_time_zone() -> None:
    cal = lleida()
    assert cal.is_open(local(2026, 12, 2, 8, 30))
    assert not cal.is_open(local(2026, 12, 2, 8, 29))
    assert not cal.is_open(local(2026, 12, 2, 14, 30))
    assert cal.is_open(datetime(2026, 12, 2, 13, 29, tzinfo=UTC))  # 14:29 in Lleida (CET)
    assert not cal.is_open(local(2026, 12, 5, 10))  # Saturday


def test_a_weekend_the_next_opening_is_monday() -> None:
    cal = lleida()
    friday_evening = local(2026, 11, 27, 19)
    assert cal.next_opening(friday_evening) == local(2026, 11, 30, 8, 30)
    assert cal.next_opening(local(2026, 11, 30, 9)) == local(2026, 11, 30, 9)  # open: now
    assert cal.next_closing(local(2026, 11, 30, 9)) == local(2026, 11, 30, 14, 30)
    assert cal.next_closing(friday_evening) is None


def test_holidays_from_the_library_in_catalan_local_days_and_closures() -> None:
    closure = Closure(date(2026, 12, 24), date(2026, 12, 24), "Christmas Eve: office closed")
    cal = lleida(closures=(closure,))
    assert cal.day_off(date(2026, 12, 8)).kind == "holiday"  # Immaculada (Spain)
    assert cal.day_off(date(2026, 9, 11)).reason == "Diada Nacional de Catalunya"  # Catalonia only
    assert cal.day_off(date(2026, 5, 11)).kind == "local"  # Sant Anastasi, Lleida
    assert cal.day_off(date(2026, 12, 24)).reason == "Christmas Eve: office closed"
    # Monday 7 Dec is open; Tuesday 8 Dec (holiday) is not.
    assert cal.next_opening(local(2026, 12, 7, 15)) == local(2026, 12, 9, 8, 30)
    # Thu 24 (closure), Fri 25 and Sat 26 (holidays), Sun 27: next is Monday 28.
    assert cal.next_opening(local(2026, 12, 23, 15)) == local(2026, 12, 28, 8, 30)
    # Without the region, Diada is an ordinary Friday.
    assert OfficeCalendar.from_settings("mon-fri 08:30-14:30", "ES", "Europe/Madrid").is_open(local(2026, 9, 11, 9))


def test_a_closure_range_and_always() -> None:
    summer = Closure(date(2026, 8, 10), date(2026, 8, 14), "Summer")
    cal = lleida(closures=(summer,))
    assert cal.next_opening(local(2026, 8, 7, 15)) == local(2026, 8, 17, 8, 30)
    with pytest.raises(CalendarError):
        Closure(date(2026, 8, 14), date(2026, 8, 10))
    always = OfficeCalendar.from_settings("always", "ES-CT", "Europe/Madrid", (summer,))
    assert always.is_open(local(2026, 12, 25, 3))  # no public holidays when always open
    assert not always.is_open(local(2026, 8, 12, 12))  # an admin's closure still closes
    assert always.next_opening(local(2026, 8, 12, 12)) == local(2026, 8, 15)


def test_never_open_has_no_next_opening() -> None:
    cal = OfficeCalendar.from_settings("mon 09:00-10:00", "none", "Europe/Madrid",
                                       (Closure(date(2026, 1, 1), date(2030, 1, 1), "gone"),))
    assert cal.next_opening(local(2026, 3, 1)) is None
    assert cal.office_seconds_between(local(2026, 3, 1), local(2026, 4, 1)) == 0


# Office time -------------------------------------------------------------------------------

def test_office_seconds_across_a_weekend_are_hand_computed() -> None:
    cal = lleida()
    # Friday 27 Nov 13:00 -> Monday 30 Nov 09:30: 1h30 on Friday + 1h on Monday.
    assert cal.office_seconds_between(local(2026, 11, 27, 13), local(2026, 11, 30, 9, 30)) == 2.5 * 3600
    # A whole working week: 5 x 6 h.
    assert cal.office_seconds_between(local(2026, 11, 30), local(2026, 12, 7)) == 30 * 3600
    # That week of December has the 8th off: 4 x 6 h.
    assert cal.office_seconds_between(local(2026, 12, 7), local(2026, 12, 14)) == 24 * 3600


def test_office_seconds_across_a_daylight_saving_change() -> None:
    # Sunday 29 March 2026, 02:00 CET becomes 03:00 CEST: 01:00-04:00 on the wall is 2 real hours.
    cal = OfficeCalendar.from_settings("sun 01:00-04:00", "none", "Europe/Madrid")
    assert cal.office_seconds_between(local(2026, 3, 29), local(2026, 3, 30)) == 2 * 3600
    # And the autumn change (25 October) makes it 4 real hours.
    assert cal.office_seconds_between(local(2026, 10, 25), local(2026, 10, 26)) == 4 * 3600
    # Weekday hours stay 08:30 on the wall clock on both sides of the change.
    weekdays = lleida()
    assert weekdays.next_opening(local(2026, 3, 27, 15)) == datetime(2026, 3, 30, 6, 30, tzinfo=UTC)
    assert weekdays.next_opening(local(2026, 3, 26, 15)) == datetime(2026, 3, 27, 7, 30, tzinfo=UTC)


_MOMENT = st.datetimes(datetime(2026, 1, 1), datetime(2027, 12, 31), timezones=st.just(UTC))


@hsettings(max_examples=60, deadline=None)
@given(_MOMENT, _MOMENT, _MOMENT)
def test_office_seconds_add_up_and_never_exceed_wall_time(a: datetime, b: datetime, c: datetime) -> None:
    cal = lleida("mon-thu 08:30-14:30,16:00-18:00; fri 08:30-14:30")
    a, b, c = sorted((a, b, c))
    ab, bc = cal.office_seconds_between(a, b), cal.office_seconds_between(b, c)
    assert 0 <= ab <= (b - a).total_seconds()
    assert cal.office_seconds_between(a, c) == pytest.approx(ab + bc)
    assert cal.office_seconds_between(b, a) == 0


@hsettings(max_examples=60, deadline=None)
@given(_MOMENT)
def test_the_next_opening_is_open_and_nothing_before_it_is(at: datetime) -> None:
    cal = lleida()
    opening = cal.next_opening(at)
    assert opening is not None and opening >= at
    assert cal.is_open(opening)
    assert cal.office_seconds_between(at, opening) == 0
    assert cal.is_open(at) == (opening == at)


def test_hours_and_openings_as_citizens_read_them() -> None:
    from hub.texts import describe_hours, describe_opening

    hours = parse_office_hours("mon-thu 08:30-14:30,16:00-18:00; fri 08:30-14:30")
    assert describe_hours(hours, "ca") == "dl.–dj. 8:30–14:30, 16:00–18:00; dv. 8:30–14:30"
    assert describe_hours(hours, "es") == "lun–jue 8:30–14:30, 16:00–18:00; vie 8:30–14:30"
    assert describe_hours(parse_office_hours("always"), "ca") == "a qualsevol hora"
    saturday = local(2026, 11, 28, 23)
    monday = local(2026, 11, 30, 8, 30)
    assert describe_opening(monday, saturday, "Europe/Madrid", "ca") == "dilluns a les 8:30"
    assert describe_opening(monday, saturday, "Europe/Madrid", "es") == "el lunes a las 8:30"
    assert describe_opening(monday, saturday, "Europe/Madrid", "en") == "on Monday at 8:30"
    assert describe_opening(local(2027, 1, 7, 8, 30), saturday, "Europe/Madrid", "ca") == "el 7 de gener del 2027 a les 8:30"
    assert describe_opening(None, saturday, "Europe/Madrid", "es") == "lo antes posible"
