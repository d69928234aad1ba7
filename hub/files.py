"""Files agents attach to replies: what a channel accepts, and where the bytes are kept.

A file is checked against its channel's `FileRules` (`hub.channel_rules`) before anything is
written: its type (read from the bytes where the format has a signature, otherwise from the
name, never only from what the browser declared), its size, the size of images, the total.
A refusal says which file and why (`FileRefused`, translatable), and changes nothing.

Accepted files are kept like citizens' files, by checksum, where `HUB_ATTACHMENTS` says
(`hub.storage`): before the transaction that records the reply commits (flushed to this host's
disk, or written in that very transaction in the database), so the outbox row's attachment exists
for every attempt, after any crash. On a disk, a file whose transaction then fails stays
unreferenced, as a fetched medium whose settling failed does; the erasure's clean-up removes
unreferenced files it is given.
"""

from __future__ import annotations

import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from hub.actions.errors import Refused
from hub.channel_rules import FileRules

# Extensions the stdlib may not know on every system.
_EXTRA_TYPES = {
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".odt": "application/vnd.oasis.opendocument.text",
    ".ods": "application/vnd.oasis.opendocument.spreadsheet",
    ".odp": "application/vnd.oasis.opendocument.presentation",
    ".vcf": "text/vcard",
    ".amr": "audio/amr",
    ".opus": "audio/ogg",
    ".ogg": "audio/ogg",
    ".3gp": "video/3gpp",
    ".aac": "audio/aac",
    ".m4a": "audio/mp4",
    ".mp3": "audio/mpeg",
    ".webp": "image/webp",
    ".csv": "text/csv",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".mp4": "video/mp4",
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
    ".rtf": "application/rtf",
    ".zip": "application/zip",
}


class FileRefused(Refused):
    """A file the channel does not take (the sentence names it and says why)."""


@dataclass(frozen=True)
class OutgoingFile:
    """A file as an agent uploaded it."""

    filename: str
    data: bytes
    declared_type: str = ""


@dataclass(frozen=True)
class CheckedFile:
    filename: str
    content_type: str
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def sniff(data: bytes) -> str | None:
    """The type a file's first bytes prove, for the formats that have a signature."""
    head = data[:16]
    if head.startswith(b"MZ") or head.startswith(b"\x7fELF"):  # programs first: nothing else may claim them
        return "application/x-executable"
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if head.startswith(b"OggS"):
        return "audio/ogg"
    if head.startswith(b"#!AMR"):
        return "audio/amr"
    if data[4:8] == b"ftyp":
        brand = data[8:11]
        return "video/3gpp" if brand.startswith(b"3g") else ("audio/mp4" if brand == b"M4A" else "video/mp4")
    return None


def type_by_name(filename: str) -> str | None:
    suffix = Path(filename).suffix.lower()
    return _EXTRA_TYPES.get(suffix) or mimetypes.guess_type(filename)[0]


def content_type_of(filename: str, data: bytes, declared: str = "") -> str:
    """What the file is: its signature if it has one; else its name's type; else what was declared.

    A name that claims a format with a signature (`.pdf`, `.png`...) must match the bytes, so a
    program renamed `form.pdf` is not sent as a PDF.
    """
    sniffed = sniff(data)
    if sniffed is not None:
        return sniffed
    named = type_by_name(filename)
    if named in _SIGNED_TYPES:
        return "application/octet-stream"  # claims a format that has a signature, without it
    if named is not None:
        return named
    return (declared or "application/octet-stream").split(";", 1)[0].strip().lower()


_SIGNED_TYPES = frozenset({"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp", "audio/ogg", "audio/amr"})


def _mb(n: int) -> str:
    value = n / (1024 * 1024)
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def check_files(rules: FileRules | None, files: list[OutgoingFile], channel: str) -> list[CheckedFile]:
    """The files as the channel will carry them, or `FileRefused` naming the first problem."""
    if not files:
        return []
    if rules is None:
        raise FileRefused("%(channel)s replies cannot carry files.", channel=channel)
    if len(files) > rules.max_files:
        raise FileRefused("At most %(count)s files per reply.", count=rules.max_files)
    checked: list[CheckedFile] = []
    total = 0
    for f in files:
        name = f.filename or "file"
        if not f.data:
            raise FileRefused("%(name)s is empty.", name=name)
        ctype = content_type_of(name, f.data, f.declared_type)
        if ctype not in rules.types:
            raise FileRefused("%(name)s: this type of file (%(type)s) cannot be sent here.", name=name, type=ctype)
        limit = rules.max_image_bytes if ctype.startswith("image/") and rules.max_image_bytes else rules.max_file_bytes
        if len(f.data) > limit:
            raise FileRefused("%(name)s is larger than %(limit)s MB.", name=name, limit=_mb(limit))
        total += len(f.data)
        checked.append(CheckedFile(name, ctype, f.data, hashlib.sha256(f.data).hexdigest()))
    if total > rules.max_total_bytes:
        raise FileRefused("The files add up to more than %(limit)s MB.", limit=_mb(rules.max_total_bytes))
    return checked
