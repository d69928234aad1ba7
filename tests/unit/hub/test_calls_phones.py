"""Phone number normalisation: every way people write a number becomes one E.164 string."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.phones import ANONYMOUS, InvalidNumber, display, normalise, try_normalise

LLEIDA = "+34973930247"


@pytest.mark.parametrize("raw", [
    "973 93 02 47", "973930247", "+34 973930247", "+34973930247", "0034973930247", "0034 973 93 02 47",
    "(+34) 973-93-02-47", "973.93.02.47", " 973 930 247 ", "tel:+34973930247", "+34 (973) 930 247",
    "whatsapp:+34973930247",
])
def test_every_way_of_writing_the_office_number_gives_one_e164(raw: str) -> None:
    assert normalise(raw) == LLEIDA


@pytest.mark.parametrize(("raw", "region", "expected"), [
    ("600 11 12 22", "ES", "+34600111222"),  # a Spanish mobile
    ("+33 1 42 68 53 00", "ES", "+33142685300"),  # abroad, with its country code
    ("0033142685300", "ES", "+33142685300"),  # abroad, with Spain's international prefix
    ("01 42 68 53 00", "FR", "+33142685300"),  # another office region
    ("+1 (415) 523-8886", "ES", "+14155238886"),
    ("020 7946 0958", "GB", "+442079460958"),
])
def test_numbers_abroad_and_other_regions(raw: str, region: str, expected: str) -> None:
    assert normalise(raw, region) == expected


@pytest.mark.parametrize("raw", [
    "", "   ", "anonymous", "Anonymous", "ANONYMOUS", "unknown", "private", "restricted", "withheld",
    "+266696687", "+7378742833", "+86282452253", "anònim", "desconocido",
])
def test_withheld_caller_ids_are_anonymous(raw: str) -> None:
    assert normalise(raw) == ANONYMOUS


@pytest.mark.parametrize(("raw", "why"), [
    ("hello", "no digits"),
    ("12", "too short|wrong number of digits|not a number in use"),
    ("973 93 02 4", "wrong number of digits|not a number in use"),
    ("973 93 02 47 99 99", "wrong number of digits|too long|not a number in use"),
    ("+999 123456", "unknown country code|not a number"),
    ("+34 000 000 000", "not a number in use|wrong number"),
    ("1" * 60, "at most 15 digits"),
])
def test_invalid_numbers_give_a_clear_error(raw: str, why: str) -> None:
    with pytest.raises(InvalidNumber, match=why):
        normalise(raw)
    assert try_normalise(raw) is None


def test_display_is_national_at_home_and_international_abroad() -> None:
    assert display(LLEIDA) == "973 93 02 47"
    assert display("+33142685300") == "+33 1 42 68 53 00"
    assert display(ANONYMOUS) == ANONYMOUS


SPANISH = st.sampled_from(["6", "7", "8", "9"]).flatmap(
    lambda first: st.text("0123456789", min_size=8, max_size=8).map(lambda rest: first + rest)
)


def _spellings(national: str) -> list[str]:
    spaced = " ".join(national[i:i + 3] for i in range(0, 9, 3))
    return [national, spaced, f"+34{national}", f"+34 {spaced}", f"0034{national}", f"0034 {spaced}",
            f"({national[:3]}) {national[3:]}", "-".join([national[:3], national[3:6], national[6:]])]


@settings(max_examples=300, deadline=None)
@given(SPANISH)
def test_all_spellings_of_a_spanish_number_agree_and_are_idempotent(national: str) -> None:
    results = {try_normalise(s) for s in _spellings(national)}
    assert len(results) == 1  # either all valid and equal, or all refused
    [result] = results
    if result is not None:
        assert result == f"+34{national}"
        assert normalise(result) == result  # normalising E.164 changes nothing
        assert phonenumbers.is_valid_number(phonenumbers.parse(result))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=30))
def test_any_text_is_either_a_valid_e164_anonymous_or_a_clear_error(text: str) -> None:
    try:
        result = normalise(text)
    except InvalidNumber as exc:
        assert str(exc)
        return
    assert result == ANONYMOUS or (result.startswith("+") and result[1:].isdigit() and len(result) <= 16)


def test_the_office_region_is_configurable_and_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from hub.config import ConfigError, load_settings

    assert load_settings(_env_file=None, data_dir=tmp_path).phone_region == "ES"
    assert load_settings(_env_file=None, data_dir=tmp_path, phone_region="fr").phone_region == "FR"
    with pytest.raises(ConfigError, match="HUB_PHONE_REGION"):
        load_settings(_env_file=None, data_dir=tmp_path, phone_region="Spain")
