"""The automatic texts citizens receive, per language, with managers' overrides.

Defaults come from gettext catalogues (`hub/locale/<lang>/LC_MESSAGES/hub.po`; the English
msgid is the source text). A manager's edit is stored in the `texts` table and wins. Texts use
`{name}`-style placeholders; an unknown placeholder is left as it is rather than failing.

Register: one per language for everything a citizen reads (these texts and the survey pages):
the informal "tu" in Catalan and "tú" in Spanish, as the welcome always was; never "vós",
"vostè" or "usted" (tests/unit/hub/test_register.py scans the catalogues).
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from pathlib import Path
from string import Formatter
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from babel.messages.pofile import read_po

from hub.config import LANGUAGES

if TYPE_CHECKING:
    from hub.calendar import WeeklyHours

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "hub"

# key -> English source text (the gettext msgid)
DEFAULTS: dict[str, str] = {
    "identify_first.welcome": (
        "Hello! This is the citizen help office of {office}. To help you better, could you "
        "please tell us your name?"
    ),
    "identify_first.welcome_back": (
        "Hello again, {citizen}! This is the citizen help office of {office}. Tell us how we can "
        "help you. (If you are not {citizen}, please tell us your name.)"
    ),
    # A returning citizen taken by an agent at once, or outside office hours: one message, not a
    # welcome followed by "Thank you, ..." for nothing said yet (the agent is named because the
    # remembered name identifies the citizen, as for any identified one).
    "identify_first.welcome_back_agent": (
        "Hello again, {citizen}! This is the citizen help office of {office}: {agent} will help you until "
        "your consultation is resolved. Tell us how we can help you. (If you are not {citizen}, please "
        "tell us your name.)"
    ),
    "identify_first.welcome_back_outside_hours": (
        "Hello again, {citizen}! This is the citizen help office of {office}. The office is closed right "
        "now and opens again {opening}: tell us how we can help you and an agent will write to you then "
        "(your reference is {reference}). (If you are not {citizen}, please tell us your name.)"
    ),
    "agent_intro.text": "Thank you, {citizen}. {agent} will help you until your consultation is resolved.",
    "agent_intro.transfer": "{agent} will now continue helping you with your consultation.",
    "reminder.text": (
        "We are resuming contact: we are still here to help you. Could you please tell us your name "
        "so that we can continue?"
    ),
    "unidentified_close.text": (
        "As we have not heard from you, we have closed this consultation. You can contact us again "
        "whenever you are available."
    ),
    "idle_close.text": (
        "As we have not heard from you for a while, we have closed consultation {reference}. If you "
        "still need help, write to us again and we will be glad to help you."
    ),
    "survey.invitation": (
        "Your consultation {reference} has been resolved. If you wish, you can rate our service here: {url}"
    ),
    "email.ack": (
        "We have received your message and registered it with reference {reference}. An agent will "
        "answer you as soon as possible."
    ),
    "outside_hours.text": (
        "Thank you, {citizen}. The office is closed right now and opens again {opening}. Your "
        "consultation has the reference {reference}: an agent will write to you then."
    ),
    "reply_window.waiting": (
        "An agent has answered your consultation {reference}. Reply to this message to read the answer."
    ),
    "email.ack_outside_hours": (
        "We have received your message and registered it with reference {reference}. The office is "
        "closed right now and opens again {opening}: an agent will answer you then."
    ),
}

# Keys are named after the office's rule that sends the text (`<rule>.<text>`: identify-first,
# reminder, unidentified close, idle close, agent introduction, outside hours, reply window), not
# after a channel. The keys they had before (migration core_0007 renamed stored overrides):
# `PUT /api/v1/texts/<old key>` still edits the renamed text.
RENAMED_KEYS: dict[str, str] = {
    "whatsapp.welcome": "identify_first.welcome",
    "whatsapp.welcome_back": "identify_first.welcome_back",
    "whatsapp.welcome_back_agent": "identify_first.welcome_back_agent",
    "whatsapp.welcome_back_outside_hours": "identify_first.welcome_back_outside_hours",
    "whatsapp.reminder": "reminder.text",
    "whatsapp.closed_unidentified": "unidentified_close.text",
    "idle_close": "idle_close.text",
    "whatsapp.agent_intro": "agent_intro.text",
    "whatsapp.agent_transfer": "agent_intro.transfer",
    "whatsapp.outside_hours": "outside_hours.text",
    "whatsapp.reply_waiting": "reply_window.waiting",
}

# The same text when the office is closed (hub/calendar.py): the channel asks for the first,
# the core sends the second outside office hours.
OUTSIDE_HOURS_VARIANT: dict[str, str] = {"email.ack": "email.ack_outside_hours"}

# Phrases that build `{opening}` ("dilluns a les 8:30"); English msgids like the texts above.
OPENING_PHRASES: dict[str, str] = {
    "today": "today at {time}",
    "tomorrow": "tomorrow at {time}",
    "weekday": "on {weekday} at {time}",
    "date": "on {date} at {time}",
    "unknown": "as soon as possible",
    "always": "at any time",
}


@cache
def _catalogue(language: str) -> dict[str, str]:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    return {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}


def default_text(key: str, language: str) -> str:
    source = DEFAULTS[key]
    if language == "en":
        return source
    return _catalogue(language).get(source, source)


def phrase(source: str, language: str) -> str:
    """A short catalogue phrase (its English msgid) in `language`."""
    if language == "en":
        return source
    return _catalogue(language).get(source, source)


def describe_opening(opening: datetime | None, now: datetime, timezone: str, language: str) -> str:
    """When the office opens, as a citizen reads it: "dilluns a les 8:30", "tomorrow at 8:30"."""
    from babel.dates import format_date, format_time

    if opening is None:
        return phrase(OPENING_PHRASES["unknown"], language)
    zone = ZoneInfo(timezone)
    moment, today = opening.astimezone(zone), now.astimezone(zone).date()
    clock = format_time(moment.time(), "H:mm", locale=language)
    days = (moment.date() - today).days
    if days == 0:
        return render(phrase(OPENING_PHRASES["today"], language), time=clock)
    if days == 1:
        return render(phrase(OPENING_PHRASES["tomorrow"], language), time=clock)
    if days < 7:
        weekday = format_date(moment.date(), "EEEE", locale=language)
        return render(phrase(OPENING_PHRASES["weekday"], language), weekday=weekday, time=clock)
    return render(phrase(OPENING_PHRASES["date"], language),
                  date=format_date(moment.date(), "long", locale=language), time=clock)


def describe_hours(hours: "WeeklyHours", language: str) -> str:
    """Weekly hours as citizens read them, for `{office_hours}`: "dl.–dj. 8:30–14:30, 16:00–18:00; dv. 8:30–14:30"."""
    from babel.dates import get_day_names

    if hours.always:
        return phrase(OPENING_PHRASES["always"], language)
    names = get_day_names("abbreviated", locale=language)
    clock = lambda t: "24:00" if t.hour == 23 and t.minute == 59 and t.second == 59 else f"{t.hour}:{t.minute:02d}"  # noqa: E731
    parts = []
    day = 0
    while day < 7:
        ranges, last = hours.days[day], day
        while last + 1 < 7 and hours.days[last + 1] == ranges:
            last += 1
        if ranges:
            span = names[day] if last == day else f"{names[day]}–{names[last]}"
            parts.append(span + " " + ", ".join(f"{clock(a)}–{clock(b)}" for a, b in ranges))
        day = last + 1
    return "; ".join(parts)


class _SafeDict(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, **values: Any) -> str:
    # Only plain named fields are substituted: no attribute or index access from edited texts.
    out = []
    for literal, field, _spec, _conv in Formatter().parse(template):
        out.append(literal)
        if field is None:
            continue
        if field.isidentifier():
            out.append(str(_SafeDict(values)[field]))
        else:
            out.append("{" + field + "}")
    return "".join(out)


def normalise_language(language: str | None, fallback: str) -> str:
    if language:
        short = language.strip().lower().replace("_", "-").split("-")[0]
        if short in LANGUAGES:
            return short
    return fallback
