"""The webhook form parser every Twilio callback goes through, against the standard library's,
and the inbox row's JSON written in one step against the two-step form it replaced."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

from hypothesis import example, given, settings as hsettings, strategies as st

from channels.twilio_webhooks import form_pairs
from channels.whatsapp.parse import parse_inbound
from hub.inbound import decode_json, encode, encode_json
from tests.support.fake_twilio import inbound_form

# Raw bodies built from what makes url-encoding hard: separators, plus signs, escapes good and bad.
_PIECES = st.sampled_from(["&", "=", "+", "%", "%2", "%20", "%C3%A9", "%e2%82%ac", "%FF", "%zz", "%%", "a", "Body",
                           " ", "é", "€", "😀", "0", "F"])


@hsettings(max_examples=400)
@given(st.lists(_PIECES, max_size=30).map("".join))
@example("")
@example("&&a=&=b&c&d=1=2&+=+&%=%")
def test_any_body_parses_exactly_as_parse_qsl_keeping_blank_values(text: str) -> None:
    assert form_pairs(text) == parse_qsl(text, keep_blank_values=True)


@given(st.lists(st.tuples(st.text(max_size=20), st.text(max_size=40)), max_size=20))
def test_what_a_provider_encodes_comes_back_as_it_was(pairs: list[tuple[str, str]]) -> None:
    assert form_pairs(urlencode(pairs)) == pairs


@given(st.text(max_size=300), st.text(max_size=60))
def test_an_inbound_message_as_json_text_is_its_builtins_as_json(body: str, profile: str) -> None:
    message = parse_inbound(inbound_form("SM" + "b" * 32, body, profile=profile), datetime(2026, 3, 2, 9, tzinfo=UTC))
    text = encode_json(message)
    assert json.loads(text) == encode(message)
    assert decode_json(text) == message
