"""Downloading a citizen's attachment, safely: always as a download, never rendered by the hub's origin.

Files come from citizens and are untrusted. They are served with `Content-Disposition:
attachment` (the browser saves instead of opening), `X-Content-Type-Options: nosniff`, a
`Content-Security-Policy: sandbox` (should a browser render it anyway, it runs in an opaque
origin with no script), and the declared type only when it is on a short list of inert types;
anything else (HTML, SVG, XML, scripts...) goes out as `application/octet-stream`.
Any logged-in agent may download (as any agent may open any ticket); `hub.actions.reads`
reads the file and records the download.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from hub.actions.attachments import clean_filename
from hub.actions.reads import read_attachment
from hub.actors import Actor
from hub.context import HubContext

INERT_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "audio/ogg", "audio/mpeg",
    "audio/mp4", "audio/aac", "audio/amr", "video/mp4", "video/3gpp", "text/plain",
})


def safe_filename(name: str, fallback: str = "attachment") -> str:
    """An ASCII file name with no path, quotes or control characters (the UTF-8 one goes in filename*)."""
    name = clean_filename(name).replace("\\", "/").rsplit("/", 1)[-1]
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"[^A-Za-z0-9._ -]", "_", ascii_name).strip(" .")[:150]
    return ascii_name or fallback


def disposition(name: str) -> str:
    plain = safe_filename(name)
    utf8 = quote(clean_filename(name).replace("\\", "/").rsplit("/", 1)[-1][:150] or plain, safe="")
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{utf8}"


@get("/attachments/{attachment_id:int}", include_in_schema=False)
async def download_attachment(actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                              attachment_id: FromPath[int]) -> Response[Any]:
    file = await read_attachment(ctx, actor, attachment_id)
    declared = file.content_type.split(";", 1)[0].strip().lower()
    media_type = declared if declared in INERT_TYPES else "application/octet-stream"
    return Response(file.data, media_type=media_type, headers={
        "content-disposition": disposition(file.filename),
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox; default-src 'none'",
        "cache-control": "private, no-store",
    })


ROUTES = [download_attachment]
