"""Agents' files on WhatsApp: Twilio fetches each one from a signed, expiring public URL.

Twilio sends a WhatsApp medium by fetching `MediaUrl` itself (a `HEAD` and a `GET`, from its
own servers, without credentials), so the hub serves the file at
`HUB_PUBLIC_URL/media/<token>` with no login. The token names one attachment, its checksum and
an expiry, and is signed (HMAC-SHA256, a key derived from `HUB_SECRET_KEY`): it serves exactly
that file, only until it expires (`HUB_WHATSAPP_MEDIA_URL_TTL`, counted from the send attempt
that made it; every attempt makes a new one), and never again once the file is erased. A wrong,
changed or expired token and a file that is gone all answer 404 alike, so tokens cannot be
probed. The file goes out with the type it was checked as when the agent attached it (Twilio
compares the served type with the file), `inline` with its name, `nosniff`, a sandbox CSP and
`no-store`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime
from typing import Any

from litestar import Request, Response, route
from litestar.response import Stream
from litestar.di import NamedDependency
from litestar.params import FromPath

from channels.whatsapp.config import WhatsAppSettings
from hub.config import Settings, require_secret_key
from hub.context import HubContext
from hub.db.tables import Attachment

MEDIA_PATH = "/media"


def _key(settings: Settings) -> bytes:
    return hmac.new(require_secret_key(settings), b"whatsapp-outbound-media", hashlib.sha256).digest()


def _mac(settings: Settings, attachment_id: int, sha256: str, expires: int) -> str:
    tag = hmac.new(_key(settings), f"{attachment_id}.{sha256}.{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(tag[:24]).decode().rstrip("=")


def media_token(settings: Settings, twilio: WhatsAppSettings, attachment_id: int, sha256: str, now: datetime) -> str:
    expires = int(now.timestamp() + twilio.whatsapp_media_url_ttl.total_seconds())
    return f"{attachment_id}.{expires}.{_mac(settings, attachment_id, sha256, expires)}"


def media_url(settings: Settings, twilio: WhatsAppSettings, attachment_id: int, sha256: str, now: datetime) -> str:
    return f"{settings.public_url}{MEDIA_PATH}/{media_token(settings, twilio, attachment_id, sha256, now)}"


def parse_token(token: str) -> tuple[int, int, str] | None:
    parts = token.split(".")
    if len(parts) != 3 or not parts[0].isascii() or not parts[0].isdigit() or not parts[1].isascii() or not parts[1].isdigit():
        return None
    if len(parts[0]) > 18 or len(parts[1]) > 12:
        return None
    return int(parts[0]), int(parts[1]), parts[2]


def _not_found() -> Response[bytes]:
    return Response(b"not found", status_code=404, media_type="text/plain",
                    headers={"cache-control": "no-store", "x-content-type-options": "nosniff"})


def _inline(filename: str) -> str:
    from urllib.parse import quote

    from hub.actions.attachments import clean_filename

    name = clean_filename(filename).replace("\\", "/").rsplit("/", 1)[-1][:150] or "file"
    plain = "".join(c if c.isascii() and (c.isalnum() or c in "._- ") else "_" for c in name).strip(" .") or "file"
    return f"inline; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


@route(f"{MEDIA_PATH}/{{token:str}}", http_method=["GET", "HEAD"], exclude_from_auth=True,
       include_in_schema=False)
async def outbound_media(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                         token: FromPath[str]) -> Response[Any]:
    parsed = parse_token(token)
    if parsed is None:
        return _not_found()
    attachment_id, expires, mac = parsed
    async with ctx.sessionmaker() as session:
        row = await session.get(Attachment, attachment_id)
    if row is None or row.status != "stored" or not row.sha256 or row.storage_key != row.sha256:
        return _not_found()
    if not hmac.compare_digest(mac, _mac(ctx.settings, attachment_id, row.sha256, expires)):
        return _not_found()
    if ctx.clock.now().timestamp() > expires:
        return _not_found()
    try:
        size = await ctx.files.size(row.sha256)  # kept by checksum (`hub.storage`): the file that was signed
    except ValueError:
        size = None
    if size is None:
        return _not_found()
    headers = {
        "content-length": str(size),
        "content-disposition": _inline(row.filename or "file"),
        "x-content-type-options": "nosniff",
        "content-security-policy": "sandbox; default-src 'none'",
        "cache-control": "private, no-store",
    }
    if request.method == "HEAD":
        return Response(b"", media_type=row.content_type, headers=headers)
    # Streamed piece by piece from wherever the file lives (this host's disk or the database).
    return Stream(ctx.files.chunks(row.sha256), media_type=row.content_type, headers=headers)
