"""The pure parser: Twilio's inbound form -> InboundMessage, for every documented shape."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from channels.whatsapp.parse import ParseError, parse_inbound, parse_status, phone_from
from hub.inbound import IdentityIn, decode, encode
from tests.support.fake_twilio import inbound_form

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_a_text_message_keys_the_contact_on_the_number_and_keeps_the_profile_name_as_a_hint() -> None:
    msg = parse_inbound(inbound_form("SM" + "a" * 32, "Hola, bon dia", profile="Anna P."), NOW)
    assert msg.provider_id == "SM" + "a" * 32 and msg.channel == "whatsapp"
    assert msg.identities == [IdentityIn("phone", "+34600111222")]
    assert msg.display_hint == "Anna P." and msg.body == "Hola, bon dia" and msg.kind == "text"
    assert msg.meta["To"] == "whatsapp:+14155238886" and msg.meta["MessageType"] == "text"
    assert decode(encode(msg)) == msg  # survives the inbox round trip


def test_a_hidden_number_uses_the_external_user_id_and_never_invents_a_phone() -> None:
    form = inbound_form("SM1", "hola")
    form.update(From="whatsapp:ES.1234567890abcdef", ExternalUserId="whatsapp:ES.1234567890abcdef")
    del form["WaId"]
    msg = parse_inbound(form, NOW)
    assert msg.identities == [IdentityIn("whatsapp_user", "ES.1234567890abcdef")]


def test_number_and_user_id_are_both_kept_when_both_are_sent() -> None:
    msg = parse_inbound(inbound_form("SM1", "hola", ExternalUserId="ES.abc"), NOW)
    assert msg.identities == [IdentityIn("phone", "+34600111222"), IdentityIn("whatsapp_user", "ES.abc")]


def test_media_becomes_pending_attachments_with_their_urls() -> None:
    form = inbound_form("SM1", "", NumMedia="2", MediaUrl0="https://api.twilio.com/x/Media/ME1",
                        MediaContentType0="image/jpeg", MediaUrl1="https://api.twilio.com/x/Media/ME2",
                        MediaContentType1="application/pdf")
    msg = parse_inbound(form, NOW)
    assert msg.kind == "media"
    assert [(a.status, a.content_type, a.source_url) for a in msg.attachments] == [
        ("pending", "image/jpeg", "https://api.twilio.com/x/Media/ME1"),
        ("pending", "application/pdf", "https://api.twilio.com/x/Media/ME2"),
    ]


def test_a_location_is_rendered_into_the_body_and_kept_in_meta() -> None:
    form = inbound_form("SM1", "", Latitude="41.6176", Longitude="0.6200", Label="Paeria", Address="Plaça Paeria 1")
    msg = parse_inbound(form, NOW)
    assert msg.kind == "location"
    assert "Paeria" in msg.body and "41.617600" in msg.body
    assert msg.meta["location"] == {"latitude": 41.6176, "longitude": 0.62, "label": "Paeria", "address": "Plaça Paeria 1"}


def test_a_button_reply_shows_its_text_and_keeps_the_payload() -> None:
    msg = parse_inbound(inbound_form("SM1", "", ButtonText="Sí, gràcies", ButtonPayload="survey_yes"), NOW)
    assert msg.kind == "button" and msg.body == "Sí, gràcies"
    assert msg.meta["button"] == {"text": "Sí, gràcies", "payload": "survey_yes"}


def test_unknown_parameters_are_tolerated() -> None:
    msg = parse_inbound(inbound_form("SM1", "hola", SomethingTwilioAddsTomorrow="1", ChannelMetadata="{}"), NOW)
    assert msg.body == "hola" and msg.meta["ChannelMetadata"] == "{}"


@pytest.mark.parametrize("form", [{}, {"Body": "hola"}, {"MessageSid": "SM1"}, {"MessageSid": "SM1", "From": ""}])
def test_forms_that_are_not_messages_raise_a_clear_parse_error(form: dict[str, str]) -> None:
    with pytest.raises(ParseError):
        parse_inbound(form, NOW)


@pytest.mark.parametrize("address,expected", [
    ("whatsapp:+34600111222", "+34600111222"), ("+34600111222", "+34600111222"),
    ("whatsapp:ES.abc", None), ("whatsapp:", None), ("whatsapp:+0123", None),
])
def test_phone_from(address: str, expected: str | None) -> None:
    assert phone_from(address) == expected


KEYS = st.sampled_from([
    "MessageSid", "SmsSid", "From", "WaId", "ExternalUserId", "Body", "NumMedia", "MediaUrl0", "MediaContentType0",
    "MediaUrl9", "Latitude", "Longitude", "Label", "Address", "ButtonText", "ButtonPayload", "ProfileName",
    "ReferralHeadline", "MessageStatus", "ErrorCode", "To", "x",
])
TEXT = st.text(max_size=50) | st.sampled_from(["whatsapp:+34600111222", "34600111222", "nan", "inf", "-91", "3", "https://a/b"])


@hsettings(max_examples=400, deadline=None)
@given(st.dictionaries(KEYS | st.text(max_size=10), TEXT | st.lists(TEXT, max_size=3), max_size=12))
def test_arbitrary_forms_parse_or_raise_only_parse_error(form: dict) -> None:  # type: ignore[type-arg]
    try:
        msg = parse_inbound(form, NOW)
    except ParseError:
        return
    assert msg.provider_id and msg.identities
    assert all(i.value for i in msg.identities)
    decode(encode(msg))


@hsettings(max_examples=200, deadline=None)
@given(st.dictionaries(KEYS, TEXT, max_size=8))
def test_arbitrary_status_callbacks_parse_or_raise_only_parse_error(form: dict[str, str]) -> None:
    try:
        sid, status, code = parse_status(form)
    except ParseError:
        return
    assert sid and status
