"""Phone numbers: what callers and agents type, turned into the one form the hub stores (E.164).

Pure functions on top of `phonenumbers` (Google's libphonenumber metadata). A number written
without a country code belongs to the office's region (`HUB_PHONE_REGION`, Spain by default),
so `973 93 02 47`, `+34 973930247`, `0034973930247` and `973930247` are the same `+34973930247`.
A withheld caller id (`anonymous`, empty, the placeholders carriers use) is `ANONYMOUS`: a call
from it is logged but belongs to no contact and cannot be called back.
"""

from __future__ import annotations

import phonenumbers

ANONYMOUS = "anonymous"

# Words and placeholder numbers that mean "no caller id". The numbers are the keypad spellings
# some carriers (Twilio among them) put in `From` for withheld ids: ANONYMOUS, RESTRICTED,
# UNKNOWN, BLOCKED, UNAVAILABLE.
_WITHHELD_WORDS = frozenset({
    "", "anonymous", "unknown", "private", "restricted", "withheld", "unavailable", "blocked",
    "anónimo", "anonimo", "anònim", "desconegut", "desconocido", "privat", "privado",
})
_WITHHELD_NUMBERS = frozenset({"+266696687", "+7378742833", "+86282452253", "+2562533", "+8656696"})
_PREFIXES = ("tel:", "sip:", "whatsapp:")


class InvalidNumber(ValueError):
    """The text is not a phone number we could call; the message says why, for an agent."""


def is_anonymous(number: str) -> bool:
    return number == ANONYMOUS


def normalise(raw: str, region: str = "ES") -> str:
    """The E.164 form of `raw` (`+34973930247`), or `ANONYMOUS`; raises `InvalidNumber`."""
    text = (raw or "").strip()
    lowered = text.lower()
    for prefix in _PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix):].split("@", 1)[0].strip()
            lowered = text.lower()
            break
    if lowered in _WITHHELD_WORDS or text in _WITHHELD_NUMBERS:
        return ANONYMOUS
    if len(text) > 40:
        raise InvalidNumber("a phone number has at most 15 digits")
    if not any(ch.isdigit() for ch in text):
        raise InvalidNumber(f"{raw!r} is not a phone number: it has no digits")
    try:
        parsed = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException as exc:
        raise InvalidNumber(f"{raw!r} is not a phone number ({_REASONS.get(exc.error_type, 'unreadable')})") from None
    if not phonenumbers.is_valid_number(parsed):
        if not phonenumbers.is_possible_number(parsed):
            raise InvalidNumber(f"{raw!r} has the wrong number of digits for its country")
        raise InvalidNumber(f"{raw!r} is not a number in use in its country")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if e164 in _WITHHELD_NUMBERS:  # pragma: no cover - placeholders are not valid numbers today
        return ANONYMOUS
    return e164


def try_normalise(raw: str, region: str = "ES") -> str | None:
    """Like `normalise`, but None instead of an error (for lookups while an agent types)."""
    try:
        return normalise(raw, region)
    except InvalidNumber:
        return None


def display(number: str, region: str = "ES") -> str:
    """How an agent reads a stored number: national format at home, international abroad."""
    if not number or is_anonymous(number):
        return number
    try:
        parsed = phonenumbers.parse(number, region.upper())
    except phonenumbers.NumberParseException:
        return number
    home = phonenumbers.region_code_for_number(parsed) == region.upper()
    fmt = phonenumbers.PhoneNumberFormat.NATIONAL if home else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    return phonenumbers.format_number(parsed, fmt)


_REASONS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    phonenumbers.NumberParseException.NOT_A_NUMBER: "not a number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
    phonenumbers.NumberParseException.TOO_LONG: "too long",
}
