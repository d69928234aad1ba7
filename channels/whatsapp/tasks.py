"""WhatsApp background work: fetching the media citizens send (a dramatiq actor).

Imported through `CHANNEL.tasks` by `entrypoints.bootstrap` after the broker is set up, in
every process; `enqueue_media` is the channel's after-commit reaction (`CHANNEL.subscribers`). Twilio media URLs need the account's Basic auth; they redirect to a
CDN, and httpx drops the credentials when a redirect leaves the original host. Files are checked
against the allowed types and the size limit while streaming, and stored content-addressed
under `<data_dir>/attachments/<sha256>`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import dramatiq
import httpx

from hub.actions.attachments import PendingAttachment, do_settle_attachment, pending_attachments
from hub.bus import Published
from hub.config import Settings
from hub.context import HubContext
from runtime import state

log = logging.getLogger(__name__)

EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
    "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/amr": ".amr", "audio/aac": ".aac", "audio/mp4": ".m4a",
    "video/mp4": ".mp4", "video/3gpp": ".3gp", "application/pdf": ".pdf", "text/plain": ".txt",
    "text/vcard": ".vcf", "text/x-vcard": ".vcf",
}


class MediaRejected(Exception):
    pass


def allowed_types(settings: Settings) -> set[str]:
    return {t.strip().lower() for t in settings.whatsapp_media_types.split(",") if t.strip()}


def _credentials_for(url: str, settings: Settings) -> tuple[str, str] | None:
    # Twilio's credentials only ever go to Twilio (or to the configured API, a fake in tests).
    host = (urlsplit(url).hostname or "").lower()
    api_host = (urlsplit(settings.twilio_api_url).hostname or "").lower()
    if not settings.twilio_configured:
        return None
    if host == api_host or host == "twilio.com" or host.endswith(".twilio.com"):
        return (settings.twilio_account_sid, settings.twilio_auth_token)
    return None


async def download(item: PendingAttachment, settings: Settings, client: httpx.AsyncClient) -> tuple[str, int, str]:
    """Stream one file into storage; returns (sha256, size, content type)."""
    limit = settings.whatsapp_media_max_bytes
    allowed = allowed_types(settings)
    declared = item.content_type.split(";")[0].strip().lower()
    if declared not in allowed:
        raise MediaRejected(f"file type {declared} is not accepted")
    folder = settings.data_dir / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    auth = _credentials_for(item.source_url, settings)
    async with client.stream("GET", item.source_url, auth=auth) as response:
        if response.status_code in (401, 403, 404, 410):
            raise MediaRejected(f"the media is no longer available (HTTP {response.status_code})")
        response.raise_for_status()
        served = response.headers.get("content-type", declared).split(";")[0].strip().lower()
        if served not in allowed:
            raise MediaRejected(f"file type {served} is not accepted")
        length = response.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            raise MediaRejected(f"the file is larger than {limit // (1024 * 1024)} MB")
        digest, size = hashlib.sha256(), 0
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".part-")
        try:
            with os.fdopen(fd, "wb") as fh:
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    if size > limit:
                        raise MediaRejected(f"the file is larger than {limit // (1024 * 1024)} MB")
                    digest.update(chunk)
                    fh.write(chunk)
            final = folder / digest.hexdigest()
            if final.exists():
                os.unlink(tmp)
            else:
                os.replace(tmp, final)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest.hexdigest(), size, served


async def fetch_message_media(ctx: HubContext, message_id: int) -> dict[str, int]:
    """Fetch every pending attachment of a message; transient failures raise (the actor retries)."""
    counts = {"stored": 0, "rejected": 0}
    items = await pending_attachments(ctx, message_id)
    if not items:
        return counts
    async with httpx.AsyncClient(timeout=30.0, follow_redirects=True) as client:
        for item in items:
            try:
                sha, size, content_type = await download(item, ctx.settings, client)
            except MediaRejected as exc:
                await do_settle_attachment(ctx, item.id, "rejected", reason=str(exc))
                counts["rejected"] += 1
                continue
            name = f"{item.filename or 'media'}{EXTENSIONS.get(content_type, '')}"
            await do_settle_attachment(
                ctx, item.id, "stored", storage_key=sha, sha256=sha, size=size,
                content_type=content_type, filename=name,
            )
            counts["stored"] += 1
    return counts


def _on_exhausted_reason(retries: int) -> str:
    return f"the media could not be downloaded after {retries} attempts"


@dramatiq.actor(queue_name="media", max_retries=6, min_backoff=1_000, max_backoff=120_000, time_limit=300_000)
async def fetch_media(message_id: int) -> None:
    from dramatiq.middleware import CurrentMessage

    ctx = state.context()
    try:
        await fetch_message_media(ctx, message_id)
    except Exception:
        current = CurrentMessage.get_current_message()
        retries = current.options.get("retries", 0) if current else 0
        if retries >= 6:  # the last attempt: tell the agent instead of failing silently
            for item in await pending_attachments(ctx, message_id):
                await do_settle_attachment(ctx, item.id, "failed", reason=_on_exhausted_reason(retries))
            return
        raise


def enqueue_media(notices: list[Published]) -> None:
    for notice in notices:
        if notice.kind == "attachment_pending" and notice.ticket_id is not None:
            fetch_media.send(notice.data["message_id"])
