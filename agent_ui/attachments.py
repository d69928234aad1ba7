"""Downloading a citizen's attachment, safely: always as a download, never rendered by the hub's origin.

Files come from citizens and are untrusted. They are served with `Content-Disposition:
attachment` (the browser saves instead of opening), `X-Content-Type-Options: nosniff`, a
`Content-Security-Policy: sandbox` (should a browser render it anyway, it runs in an opaque
origin with no script), and the declared type only when it is on a short list of inert types;
anything else (HTML, SVG, XML, scripts...) goes out as `application/octet-stream`.
Any logged-in agent may download (as any agent may open any ticket); `hub.actions.reads`
checks the file and records the download.

Images (JPEG, PNG, GIF, WebP) also have a thumbnail for the timeline, `/attachments/{id}/thumbnail`:
decoded and re-encoded by Pillow as a small PNG (at most 320 pixels a side, EXIF orientation
applied, nothing of the original file passes through: no metadata, no hidden payload), with a
pixel limit against decompression bombs. Made on each request and never stored (nothing to
erase with the file; the browser keeps it a day, privately). A file Pillow cannot read has no
thumbnail (404) and stays a download. Viewing one is not audited (a download is).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any
from urllib.parse import quote

from litestar import Response, get
from litestar.response import Stream
from litestar.di import NamedDependency
from litestar.params import FromPath

from hub.actions.attachments import clean_filename
from hub.actions.errors import NotFound
from hub.actions.reads import read_attachment
from hub.actors import Actor
from hub.context import HubContext
from hub.db.tables import Attachment
from hub.storage import FileMissing

INERT_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "application/pdf", "audio/ogg", "audio/mpeg",
    "audio/mp4", "audio/aac", "audio/amr", "video/mp4", "video/3gpp", "text/plain",
})
_SHA = re.compile(r"^[0-9a-f]{64}$")


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
    # Streamed a chunk at a time from wherever the file lives (`hub.storage`), never read whole.
    return Stream(ctx.files.chunks(file.sha256), media_type=media_type, headers={
        "content-length": str(file.size),
        "content-disposition": disposition(file.filename),
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox; default-src 'none'",
        "cache-control": "private, no-store",
    })


THUMBNAIL_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
THUMBNAIL_SIZE = 320
MAX_PIXELS = 40_000_000  # a 40-megapixel photo is fine; a decompression bomb is refused
THUMBNAIL_MAX_BYTES = 32 * 1024 * 1024


def make_thumbnail(data: bytes) -> bytes | None:
    """A PNG of at most THUMBNAIL_SIZE a side, or None if Pillow cannot read the image safely."""
    import io
    import warnings

    from PIL import Image, ImageOps

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_PIXELS:
                    return None
                image.draft("RGB", (THUMBNAIL_SIZE * 2, THUMBNAIL_SIZE * 2))  # JPEG: decode small
                small = ImageOps.exif_transpose(image)
                small.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
                if small.mode not in ("RGB", "RGBA", "L", "LA"):
                    small = small.convert("RGBA")
                out = io.BytesIO()
                small.save(out, format="PNG", optimize=True)
                return out.getvalue()
    except Exception:  # any undecodable, truncated or hostile file: no thumbnail, still a download
        return None


@get("/attachments/{attachment_id:int}/thumbnail", include_in_schema=False)
async def attachment_thumbnail(ctx: NamedDependency[HubContext], attachment_id: FromPath[int]) -> Response[Any]:
    import asyncio

    async with ctx.sessionmaker() as session:
        row = await session.get(Attachment, attachment_id)
    declared = (row.content_type or "").split(";", 1)[0].strip().lower() if row is not None else ""
    if row is None or row.status != "stored" or not row.sha256 or not _SHA.match(row.sha256) or declared not in THUMBNAIL_TYPES:
        raise NotFound(f"attachment {attachment_id} has no thumbnail")
    size = await ctx.files.size(row.sha256)
    if size is None:
        raise NotFound(f"attachment {attachment_id} is missing from storage")
    if size > THUMBNAIL_MAX_BYTES:
        raise NotFound(f"attachment {attachment_id} is too large for a thumbnail")
    try:
        data = await ctx.files.read(row.sha256)  # wherever it lives (`hub.storage`)
    except FileMissing:
        raise NotFound(f"attachment {attachment_id} is missing from storage") from None
    thumb = await asyncio.to_thread(make_thumbnail, data)
    if thumb is None:
        raise NotFound(f"attachment {attachment_id} has no thumbnail")
    return Response(thumb, media_type="image/png", headers={
        "x-content-type-options": "nosniff", "cache-control": "private, max-age=86400",
        "content-security-policy": "sandbox; default-src 'none'",
    })


ROUTES = [download_attachment, attachment_thumbnail]
