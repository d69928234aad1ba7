"""Reading an agent's reply from a request: JSON (`{"body", "subject", "cc"}`) or
`multipart/form-data` (`body`, `subject`, `cc`, and any number of `files`), for the API and the
ticket page alike; and what the reply box tells agents about files before they upload.

Size and type limits are the channel's (`hub.channel_rules.FileRules`), checked by the action
(`hub.files`): a refused file is a 422 that names the file and the reason, and nothing is
stored. The request itself may be at most `MAX_UPLOAD_BYTES` (413 beyond).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import msgspec
from litestar import Request
from litestar.datastructures import UploadFile
from litestar.exceptions import ValidationException
from litestar.openapi.spec import OpenAPIMediaType as MediaType, OpenAPIType, Operation, RequestBody, Schema

from hub.channel_rules import MB, FileRules, rules_for
from hub.files import OutgoingFile

def N_(message: str) -> str:  # noqa: N802 - marks a string for the catalogue, translated later
    return message


# `hub.files.FileRefused` and copy (`hub.actions.messages.clean_cc`) sentences, marked for the UI's catalogue (agent_ui.errors translates them).
FILE_PROBLEMS = [
    N_("%(channel)s replies cannot carry files."),
    N_("At most %(count)s files per reply."),
    N_("%(name)s is empty."),
    N_("%(name)s: this type of file (%(type)s) cannot be sent here."),
    N_("%(name)s is larger than %(limit)s MB."),
    N_("The files add up to more than %(limit)s MB."),
    N_("%(address)s is not an email address."),
    N_("A reply needs some text or a file."),
    N_("At most %(count)s addresses in copy."),
]

# The largest channel total (WhatsApp: 32 MB in up to five messages) plus room for the form.
MAX_UPLOAD_BYTES = 33 * MB
MAX_BODY_CHARS = 20_000


class ReplyIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_BODY_CHARS)]
    subject: Annotated[str, msgspec.Meta(max_length=250)] | None = None
    cc: Annotated[list[Annotated[str, msgspec.Meta(max_length=254)]], msgspec.Meta(max_length=10)] | None = None


@dataclass
class Reply:
    body: str = ""
    subject: str | None = None
    cc: list[str] | str | None = None
    files: list[OutgoingFile] = field(default_factory=list)


def _text(value: Any, name: str, limit: int) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationException(f"{name} must be text")
    if len(value) > limit or "\x00" in value:
        raise ValidationException(f"{name} is too long or holds a NUL character")
    return value


async def read_reply(request: Request[Any, Any, Any]) -> Reply:
    media_type = request.content_type[0]
    if media_type == "application/json":
        try:
            data = msgspec.json.decode(await request.body(), type=ReplyIn)
        except msgspec.ValidationError as exc:
            raise ValidationException(f"invalid reply: {exc}") from None
        except msgspec.DecodeError:
            raise ValidationException("the body is not valid JSON") from None
        return Reply(data.body, data.subject, data.cc)
    if media_type not in ("multipart/form-data", "application/x-www-form-urlencoded"):
        raise ValidationException("send the reply as JSON or as multipart/form-data")
    form = await request.form()
    files: list[OutgoingFile] = []
    for item in form.getall("files") if "files" in form else []:
        if isinstance(item, str) and not item:
            continue  # an empty file input
        if not isinstance(item, UploadFile):
            raise ValidationException("files must be uploaded files")
        data = await item.read()
        if not data and not item.filename:
            continue  # a file input left empty sends a nameless, empty part
        files.append(OutgoingFile(item.filename or "file", data, item.content_type or ""))
    subject = _text(form.get("subject"), "subject", 250)
    return Reply(
        body=_text(form.get("body"), "body", MAX_BODY_CHARS),
        subject=subject if "subject" in form else None,
        cc=_text(form.get("cc"), "cc", 3000) or None,
        files=files,
    )


@dataclass
class ReplyOperation(Operation):
    """OpenAPI for the reply: JSON, or multipart with files."""

    def __post_init__(self) -> None:
        text = Schema(type=OpenAPIType.STRING)
        self.request_body = RequestBody(required=True, content={
            "application/json": MediaType(schema=Schema(
                type=OpenAPIType.OBJECT, required=["body"], additional_properties=False, properties={
                    "body": Schema(type=OpenAPIType.STRING, min_length=1, max_length=MAX_BODY_CHARS),
                    "subject": Schema(type=OpenAPIType.STRING, max_length=250,
                                      description="email only: the subject (the reference tag is kept)"),
                    "cc": Schema(type=OpenAPIType.ARRAY, max_items=10, items=Schema(type=OpenAPIType.STRING, max_length=254),
                                 description="email only: addresses in copy"),
                })),
            "multipart/form-data": MediaType(schema=Schema(
                type=OpenAPIType.OBJECT, properties={
                    "body": text, "subject": text,
                    "cc": Schema(type=OpenAPIType.STRING, description="email only: addresses separated by commas"),
                    "files": Schema(type=OpenAPIType.ARRAY, items=Schema(type=OpenAPIType.STRING, format="binary")),  # type: ignore[arg-type]
                })),
        })


# Each accepted type: its name as agents know it (a name, not a sentence: the same in every
# language) and the extensions for the file picker's `accept` (browsers match those more reliably).
FILE_TYPES: dict[str, tuple[str, str]] = {
    "application/pdf": ("PDF", ".pdf"), "image/jpeg": ("JPEG", ".jpg,.jpeg"), "image/png": ("PNG", ".png"),
    "image/gif": ("GIF", ".gif"), "image/webp": ("WebP", ".webp"), "text/plain": ("TXT", ".txt"),
    "text/csv": ("CSV", ".csv"), "text/calendar": ("iCalendar", ".ics"), "text/vcard": ("vCard", ".vcf"),
    "application/rtf": ("RTF", ".rtf"), "application/msword": ("Word", ".doc"),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ("Word", ".docx"),
    "application/vnd.ms-excel": ("Excel", ".xls"),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("Excel", ".xlsx"),
    "application/vnd.ms-powerpoint": ("PowerPoint", ".ppt"),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ("PowerPoint", ".pptx"),
    "application/vnd.oasis.opendocument.text": ("ODT", ".odt"),
    "application/vnd.oasis.opendocument.spreadsheet": ("ODS", ".ods"),
    "application/vnd.oasis.opendocument.presentation": ("ODP", ".odp"), "application/zip": ("ZIP", ".zip"),
    "audio/mpeg": ("MP3", ".mp3"), "audio/ogg": ("OGG", ".ogg,.opus"), "audio/amr": ("AMR", ".amr"),
    "audio/aac": ("AAC", ".aac"), "audio/mp4": ("M4A", ".m4a"), "video/mp4": ("MP4", ".mp4"),
    "video/3gpp": ("3GP", ".3gp"),
}


def _label(content_type: str) -> str:
    return FILE_TYPES[content_type][0] if content_type in FILE_TYPES else content_type


@dataclass(frozen=True)
class FileHint:
    """What the reply box shows before upload and what its script checks."""

    accept: str  # for <input accept>: extensions
    labels: str  # "PDF, JPEG, PNG, Word..."
    types: list[str]
    max_file_bytes: int
    max_image_bytes: int | None
    max_total_bytes: int
    max_files: int
    per_message: int | None


def file_hint(channel: str) -> FileHint | None:
    rules: FileRules | None = rules_for(channel).files
    if rules is None:
        return None
    types = sorted(rules.types)
    accept = ",".join(dict.fromkeys(e for t in types for e in FILE_TYPES.get(t, ("", ""))[1].split(",") if e))
    labels = ", ".join(dict.fromkeys(_label(t) for t in sorted(types, key=_label)))
    return FileHint(accept, labels, types, rules.max_file_bytes, rules.max_image_bytes, rules.max_total_bytes,
                    rules.max_files, rules.per_message)


def megabytes(n: int | None) -> str:
    if not n:
        return ""
    value = n / MB
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"
