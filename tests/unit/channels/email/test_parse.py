"""The parser on the fixture corpus, and on arbitrary bytes (hypothesis): it never raises; its
shortcuts for plain headers read what the standard library's `policy.default` reads."""

from __future__ import annotations

from datetime import UTC, datetime
from email import base64mime, policy, quoprimime
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from channels.email.parse import (
    _PLAIN_ADDRESSES, _addresses, _date, _decode_header, _split_plain, _unfold, fold_quotes, headers_of, html_to_text, id_list, normalise_id, parse_mail, sanitise_html,
    substitute_id,
)
from tests.support.email_channel import FIXTURES, fixture


def test_utf8_mail_is_read_with_its_accents_and_language() -> None:
    mail = parse_mail(fixture("utf8_plain.eml"))
    assert mail.provider_id == mail.message_id == "utf8-plain-1@example.cat"
    assert (mail.from_name, mail.from_addr) == ("Núria Puig", "nuria.puig@example.cat")
    assert "Què he de fer?" in mail.text and mail.language == "ca"
    assert mail.quarantine is None


def test_latin1_quoted_printable_and_rfc2047_headers_are_decoded() -> None:
    mail = parse_mail(fixture("latin1_qp.eml"))
    assert mail.from_name == "José María Ibáñez"
    assert mail.subject == "Información sobre el recibo del IBI"
    assert "la calle Mayor. ¿Es posible domiciliarlo?" in mail.text  # soft line break joined


def test_base64_body_and_encoded_words_are_decoded() -> None:
    mail = parse_mail(fixture("base64_rfc2047.eml"))
    assert mail.from_name == "Anna Serra i Fàbregas"
    assert mail.subject == "Instància general — cita prèvia"
    assert "instància general" in mail.text


def test_latin1_labelled_windows_1252_keeps_the_euro_and_quotes() -> None:
    mail = parse_mail(fixture("windows1252_as_latin1.eml"))
    assert mail.text == "He pagat 45 € de la taxa “de residus” però m'ho tornen a cobrar."


def test_an_unknown_charset_falls_back_without_failing() -> None:
    mail = parse_mail(fixture("unknown_charset.eml"))
    assert "expedient 2026/123" in mail.text and "caràcters" in mail.text
    assert "\ufffd" in mail.text  # the undecodable bytes are visible as replacements
    assert mail.quarantine is None


@pytest.mark.parametrize("name", ["no_message_id.eml", "empty_message_id.eml"])
def test_a_missing_message_id_gets_a_stable_substitute(name: str) -> None:
    raw = fixture(name)
    first, again = parse_mail(raw), parse_mail(raw)
    assert first.message_id == ""
    assert first.provider_id.startswith("sha256:") and first.provider_id == again.provider_id
    # A second delivery of the same mail (another Received line on top) is the same mail.
    assert parse_mail(b"Received: from mx2 by mx1; Tue, 24 Nov 2026\r\n" + raw).provider_id == first.provider_id


def test_different_mails_without_message_id_get_different_substitutes() -> None:
    a = fixture("no_message_id.eml")
    assert substitute_id(a) != substitute_id(a.replace(b"no porta", b"tampoc porta"))


def test_html_only_mail_is_sanitised_and_gets_a_text_version() -> None:
    mail = parse_mail(fixture("html_only_tracking.eml"))
    for bad in ("<script", "alert(", "onload", "javascript:", "tracker.example", "<iframe", "<style", "evil"):
        assert bad not in mail.html
    assert 'src="cid:logo@example.cat"' in mail.html  # images carried in the mail survive
    assert 'href="https://www.paeria.cat/"' in mail.html and "noopener" in mail.html
    assert mail.text.startswith("Bon dia,\n\nLa factura de l'aigua és massa alta.")
    assert "steal" not in mail.text and "alert" not in mail.text
    [logo] = mail.parts
    assert logo.inline and logo.content_id == "logo@example.cat" and logo.content_type == "image/png"


def test_attachment_with_encoded_filename_is_kept_with_its_hash() -> None:
    mail = parse_mail(fixture("attachment_pdf.eml"))
    assert mail.text == "Us adjunto la instància signada."
    assert "<b>instància</b>" in mail.html
    [pdf] = mail.parts
    assert pdf.filename == "instància.pdf" and pdf.data.startswith(b"%PDF") and len(pdf.sha256) == 64
    assert pdf.rejected is None


def test_an_attachment_over_the_limit_is_rejected_with_a_reason() -> None:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = "a@example.cat", "oac@x", "big", "<big@x>"
    msg.set_content("see attached")
    msg.add_attachment(b"\0" * (2 * 1024 * 1024), maintype="application", subtype="zip", filename="big.zip")
    mail = parse_mail(msg.as_bytes(), max_attachment_bytes=1024 * 1024)
    [part] = mail.parts
    assert part.rejected == "too large: 2 MB (limit 1 MB)" and part.data == b""
    assert mail.text == "see attached"


def test_a_delivery_report_says_which_of_our_messages_failed() -> None:
    mail = parse_mail(fixture("dsn_bounce.eml"))
    assert mail.report_type == "delivery-status"
    assert (mail.report_action, mail.report_status) == ("failed", "5.1.2")
    assert mail.report_original_id == "ORIGINAL-ID-PLACEHOLDER"
    assert mail.parts == []  # the report's machine parts are not attachments


def test_malformed_mime_keeps_the_text_and_records_the_defects() -> None:
    mail = parse_mail(fixture("malformed_mime.eml"))
    assert "no boundary lines" in mail.text
    assert "StartBoundaryNotFoundDefect" in mail.defects
    assert mail.date is None and mail.quarantine is None


def test_a_truncated_multipart_keeps_what_arrived() -> None:
    mail = parse_mail(fixture("truncated_multipart.eml"))
    assert mail.text == "Aquest missatge es talla a mitja part."
    assert [p.filename for p in mail.parts] == ["doc.pdf"]


def test_mail_without_a_sender_is_quarantined() -> None:
    assert parse_mail(fixture("no_sender.eml")).quarantine == "no usable sender address (From)"


def test_message_id_lists_are_normalised() -> None:
    assert normalise_id(" <abc@host> ") == "abc@host"
    assert normalise_id("<>") == ""
    assert id_list("<a@x> <b@y>\r\n <a@x>") == ["a@x", "b@y"]
    assert id_list("a@x b@y") == ["a@x", "b@y"]  # brackets forgotten by some clients


@pytest.mark.parametrize("text, new", [
    ("Gràcies!\n\nEl dl., 23 de nov. 2026, a les 9:15, OAC <oac@x> va escriure:\n> hola", "Gràcies!"),
    ("Thanks\n\nOn Mon, 23 Nov 2026 at 09:15, OAC <oac@x> wrote:\n> hi", "Thanks"),
    ("Vale\n\n-----Mensaje original-----\nDe: OAC\nEnviado: lunes", "Vale"),
    ("Ok\n\nFrom: OAC <oac@x>\nSent: Monday\nSubject: RE: x", "Ok"),
    ("Answer\n> quoted\n> more\n", "Answer"),
    ("> only quoted\n", "> only quoted"),
    ("No quotes at all", "No quotes at all"),
])
def test_quoted_history_is_folded_but_the_new_part_is_kept(text: str, new: str) -> None:
    assert fold_quotes(text) == new


def test_html_helpers_handle_broken_markup() -> None:
    assert html_to_text("<p>a<br>b</p><script>x</script><div>c") == "a\nb\n\nc"
    assert sanitise_html('<img src="http://t.example/p.gif"><b onclick="x()">ok</b>') == "<img><b>ok</b>"


# Property: whatever bytes arrive, the parser returns a result and never raises ------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=4000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    mail = parse_mail(raw)
    assert mail.provider_id
    assert mail.quarantine is None or isinstance(mail.quarantine, str)


_header_lines = st.sampled_from([
    b"From: ", b"To: ", b"Subject: =?utf-8?B?", b"Content-Type: multipart/mixed; boundary=", b"Message-ID: <",
    b"Content-Transfer-Encoding: base64", b"Content-Type: text/html; charset=", b"--", b"\r\n", b"\n",
    b"Content-Disposition: attachment; filename*=", b"Content-Type: message/rfc822", b"=?iso-8859-1?Q?=E9?=",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_header_lines, st.binary(max_size=40)), max_size=60))
def test_mime_shaped_garbage_never_raises(chunks: list[bytes]) -> None:
    parse_mail(b"".join(chunks))


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(p.name for p in FIXTURES.glob("*.eml"))), st.integers(0, 5000), st.binary(max_size=30))
def test_corrupted_fixtures_never_raise(name: str, cut: int, noise: bytes) -> None:
    raw = fixture(name)
    parse_mail(raw[:cut] + noise + raw[cut + len(noise):])


# Property: the shortcuts for plain headers read exactly what policy.default reads ----------

def _as_the_policy_reads(name: str, value: str) -> str:
    try:
        return str(policy.default.header_fetch_parse(name, value))
    except Exception:
        return value


def _addresses_as_the_policy_reads(name: str, values: list[str]) -> list[tuple[str, str]]:
    found = getaddresses([_as_the_policy_reads(name, v) for v in values])
    return [(d.strip(), a.strip().lower()) for d, a in found
            if "@" in a and " " not in a.strip() and len(a.strip()) <= 320 and a.strip().isprintable()]


def _date_as_the_policy_reads(values: list[str]) -> datetime | None:
    try:
        date = parsedate_to_datetime(" ".join(_as_the_policy_reads("Date", v) for v in values).strip())
        return date.astimezone(UTC) if date.tzinfo else date.replace(tzinfo=UTC)
    except Exception:
        return None


def _encoded_word(text: str, charset: str, q: bool) -> str:
    try:
        data = text.encode(charset)
    except UnicodeEncodeError:
        data, charset = text.encode("utf-8"), "utf-8"
    return quoprimime.header_encode(data, charset) if q else base64mime.header_encode(data, charset)


_chars = st.sampled_from(list("aZ09.@<>,;:\"()\\[] \t\r\n!#$%&'*+/=?^_`{|}~-é") + ["=?utf-8?q?a?=", "\r\n ", "<a@b>"])
_atom = st.text(alphabet=st.sampled_from(list("aZ09!#$%&'*+/=?^_`{|}~-")), min_size=1, max_size=5)
_address_atom = st.one_of(_atom, st.just("=?utf-8?q?a?="))
_address = st.tuples(st.lists(_address_atom, min_size=1, max_size=3), st.lists(_address_atom, min_size=1, max_size=3)).map(
    lambda t: ".".join(t[0]) + "@" + ".".join(t[1]))
_space = st.sampled_from(["", " ", " ", "  ", "\t", "\r\n ", " \r\n\t"])
_word = st.one_of(_atom, st.builds(_encoded_word, st.text(alphabet=st.sampled_from(list("aé à,\"<>()@;:.\\_=?ñ€ \t")), max_size=8),
                                   st.sampled_from(["utf-8", "iso-8859-1"]), st.booleans()))
_name = st.lists(st.tuples(_word, _space), min_size=1, max_size=4).map(lambda l: "".join(w + s for w, s in l))
_mailbox = st.one_of(_address, st.tuples(_name, _space, _address).map(lambda t: f"{t[0]}{t[1]}<{t[2]}>"))
_mailboxes = st.lists(st.tuples(_space, _mailbox, _space), min_size=1, max_size=3).map(
    lambda l: ",".join(a + m + b for a, m, b in l))
_text = st.lists(_chars, max_size=30).map("".join)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["Message-ID", "Subject", "In-Reply-To", "References", "List-Id", "Auto-Submitted"]),
       st.one_of(_text, _mailbox, st.tuples(_space, _address, _space).map(lambda t: f"{t[0]}<{t[1]}>{t[2]}")))
def test_plain_headers_are_read_as_the_email_policy_reads_them(name: str, value: str) -> None:
    value = value.lstrip(" \t")
    assert _decode_header(name, value) == _as_the_policy_reads(name, value)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["From", "To", "Cc", "Reply-To", "Sender"]), st.lists(st.one_of(_mailboxes, _text), min_size=1, max_size=2))
def test_addresses_are_read_as_the_email_policy_reads_them(name: str, values: list[str]) -> None:
    msg = Message()
    for value in values:
        msg[name] = value.lstrip(" \t")
    assert _addresses(headers_of(msg), name) == _addresses_as_the_policy_reads(name, [str(v) for v in msg.get_all(name)])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mailboxes, min_size=1, max_size=3))
def test_plain_address_lists_are_split_as_getaddresses_splits_them(values: list[str]) -> None:
    values = [_unfold(v) for v in values]
    assume(all(_PLAIN_ADDRESSES.match(v) for v in values))
    assert _split_plain(values) == getaddresses(values)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    _text, st.datetimes().map(lambda d: d.strftime("%a, %d %b %Y %H:%M:%S +0100")),
    st.builds("{} {} {} {}:{}:00 {}".format, st.integers(0, 40), st.sampled_from(["Jan", "Nov", "xx"]), st.integers(0, 3000),
              st.integers(-3, 30), st.integers(0, 70), st.sampled_from(["+0100", "-0000", "GMT", "EST", "+9999", "", "(CET)"])),
), min_size=1, max_size=2))
def test_dates_are_read_as_the_email_policy_reads_them(values: list[str]) -> None:
    msg = Message()
    for value in values:
        msg["Date"] = value.lstrip(" \t")
    assert _date(headers_of(msg)) == _date_as_the_policy_reads([str(v) for v in msg.get_all("Date")])
