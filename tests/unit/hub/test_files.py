"""What files a reply may carry: the type comes from the bytes where the format has a
signature, whatever the name claims; each channel's sizes and types (pure, no I/O)."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from hub.channel_rules import EMAIL_FILES, MB, WHATSAPP_FILES
from hub.files import FileRefused, OutgoingFile, check_files, content_type_of

SIGNED = {
    b"%PDF-1.7\n": "application/pdf", b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff\xe0": "image/jpeg",
    b"GIF89a": "image/gif", b"OggS\x00": "audio/ogg", b"MZ\x90\x00": "application/x-executable",
    b"\x7fELF": "application/x-executable",
}
NAMES = st.text(min_size=0, max_size=30) | st.sampled_from(
    ["a.pdf", "foto.JPG", "x.png", "setup.exe", "doc.docx", "pagina.html", ".pdf", "noext", "a.tar.gz"])


@given(name=NAMES, data=st.binary(max_size=64), declared=st.text(max_size=40))
def test_any_file_gets_a_type_and_never_an_error(name: str, data: bytes, declared: str) -> None:
    assert isinstance(content_type_of(name, data, declared), str)


@given(name=NAMES, head=st.sampled_from(sorted(SIGNED)), tail=st.binary(max_size=64))
def test_the_bytes_decide_over_the_name_for_signed_formats(name: str, head: bytes, tail: bytes) -> None:
    assert content_type_of(name, head + tail) == SIGNED[head]


@given(name=NAMES, tail=st.binary(max_size=64))
def test_a_program_is_refused_on_every_channel_whatever_its_name(name: str, tail: bytes) -> None:
    for rules in (EMAIL_FILES, WHATSAPP_FILES):
        with pytest.raises(FileRefused):
            check_files(rules, [OutgoingFile(name or "x", b"MZ\x90\x00" + tail)], "test")


def test_a_name_claiming_a_signed_format_without_its_signature_is_not_that_format() -> None:
    assert content_type_of("volant.pdf", b"just text") == "application/octet-stream"
    assert content_type_of("informe.docx", b"PK\x03\x04...") == (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document")  # ZIP-based: by name


def test_whatsapp_limits_images_to_5_mb_and_other_media_to_16_mb() -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * MB)
    pdf = b"%PDF-1.7\n" + b"\x00" * (5 * MB)
    with pytest.raises(FileRefused, match="larger than 5 MB"):
        check_files(WHATSAPP_FILES, [OutgoingFile("foto.png", png)], "whatsapp")
    [checked] = check_files(WHATSAPP_FILES, [OutgoingFile("doc.pdf", pdf)], "whatsapp")
    assert checked.content_type == "application/pdf" and checked.size == len(pdf)
    with pytest.raises(FileRefused, match="larger than 16 MB"):
        check_files(WHATSAPP_FILES, [OutgoingFile("doc.pdf", pdf + b"\x00" * (11 * MB + 1))], "whatsapp")
    with pytest.raises(FileRefused, match="At most 5 files"):
        check_files(WHATSAPP_FILES, [OutgoingFile(f"{i}.pdf", b"%PDF-1.7\n") for i in range(6)], "whatsapp")


def test_email_limits_the_total_and_a_channel_without_files_refuses_any() -> None:
    half = b"%PDF-1.7\n" + b"\x00" * (8 * MB)
    with pytest.raises(FileRefused, match="add up to more than 15 MB"):
        check_files(EMAIL_FILES, [OutgoingFile("a.pdf", half), OutgoingFile("b.pdf", half)], "email")
    with pytest.raises(FileRefused, match="phone replies cannot carry files"):
        check_files(None, [OutgoingFile("a.pdf", b"%PDF-1.7\n")], "phone")
    assert check_files(None, [], "phone") == []
