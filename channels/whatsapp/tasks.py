"""WhatsApp background work: fetching the media citizens send (a dramatiq actor).

Imported through `CHANNEL.tasks` by `entrypoints.bootstrap` after the broker is set up, in
every process; `enqueue_media` is the channel's after-commit reaction to `AttachmentPending`
(`CHANNEL.reactions`).
One job per attachment. Twilio media URLs need the account's Basic auth and redirect to a CDN; each hop is checked by `channels.whatsapp.media` (no fetch inside the
hub's network, credentials only to the configured API origin). Files are checked against the
allowed types and the size limit while streaming into a staged file, and kept by checksum
where `HUB_ATTACHMENTS` says (`hub.storage`: this host's disk, or the database).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import dramatiq

from channels.whatsapp.config import WhatsAppSettings, load_whatsapp_settings
from channels.whatsapp.media import MAX_REDIRECTS, MediaRejected, plan_hop
from hub.actions.attachments import PendingAttachment, do_settle_attachment, pending_attachment, pending_attachments
from hub.context import HubContext
from hub.events import AttachmentPending
from runtime import state

if TYPE_CHECKING:
    import httpx  # imported where a fetch runs: the web process only enqueues (5 MB less)

log = logging.getLogger(__name__)

EXTENSIONS = {
    "image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp", "image/gif": ".gif",
    "audio/ogg": ".ogg", "audio/mpeg": ".mp3", "audio/amr": ".amr", "audio/aac": ".aac", "audio/mp4": ".m4a",
    "video/mp4": ".mp4", "video/3gpp": ".3gp", "application/pdf": ".pdf", "text/plain": ".txt",
    "text/vcard": ".vcf", "text/x-vcard": ".vcf",
}


_settings: WhatsAppSettings | None = None


def configure(settings: WhatsAppSettings) -> None:
    """The channel's settings this process's jobs use (`CHANNEL.tasks`, from the composition root)."""
    global _settings
    _settings = settings


def channel_settings() -> WhatsAppSettings:
    global _settings
    if _settings is None:
        _settings = load_whatsapp_settings()
    return _settings


def allowed_types(settings: WhatsAppSettings) -> set[str]:
    return {t.strip().lower() for t in settings.whatsapp_media_types.split(",") if t.strip()}


@dataclass
class Staged:
    """A downloaded file waiting under a temporary name in the store's staging folder."""

    path: Path
    sha256: str
    size: int
    content_type: str


async def _open(item_url: str, settings: WhatsAppSettings, client: httpx.AsyncClient) -> httpx.Response:
    """The response for the media, each hop checked (`channels.whatsapp.media`) before connecting."""
    url = item_url
    for _ in range(MAX_REDIRECTS + 1):
        hop = await plan_hop(url, settings, redirect=url != item_url)
        auth = (settings.twilio_account_sid, settings.twilio_auth_token) if hop.credentials else None
        headers = {"host": hop.host} if hop.host else {}
        extensions = {"sni_hostname": hop.host} if hop.host else {}
        request = client.build_request("GET", hop.url, headers=headers, extensions=extensions)
        response = await client.send(request, auth=auth, stream=True, follow_redirects=False)
        if response.is_redirect and "location" in response.headers:
            await response.aclose()
            url = urljoin(url, response.headers["location"])
            continue
        return response
    raise MediaRejected("the media URL redirects too many times")


async def download(item: PendingAttachment, settings: WhatsAppSettings, client: httpx.AsyncClient, folder: Path) -> Staged:
    """Stream one file into `folder` (the store's staging folder) under a temporary name."""
    limit = settings.whatsapp_media_max_bytes
    allowed = allowed_types(settings)
    declared = item.content_type.split(";")[0].strip().lower()
    if declared not in allowed:
        raise MediaRejected(f"file type {declared} is not accepted")
    response = await _open(item.source_url, settings, client)
    try:
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
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    finally:
        await response.aclose()
    return Staged(Path(tmp), digest.hexdigest(), size, served)


async def fetch_attachment(ctx: HubContext, attachment_id: int, client: httpx.AsyncClient | None = None) -> str:
    """Fetch one pending attachment; its outcome ('stored', 'rejected', or 'skipped' when another
    job settled it). Transient failures raise (the actor retries). The file gets its final name
    only inside the transaction that records it, so no file is left that no record points to."""
    item = await pending_attachment(ctx, attachment_id)
    if item is None:
        return "skipped"
    if client is None:
        import httpx

        async with httpx.AsyncClient(timeout=30.0) as own:
            return await fetch_attachment(ctx, attachment_id, own)
    try:
        staged = await download(item, channel_settings(), client, ctx.files.staging_dir())
    except MediaRejected as exc:
        settled = await do_settle_attachment(ctx, item.id, "rejected", reason=str(exc))
        return "rejected" if settled else "skipped"
    name = f"{item.filename or 'media'}{EXTENSIONS.get(staged.content_type, '')}"
    try:
        settled = await do_settle_attachment(
            ctx, item.id, "stored", storage_key=staged.sha256, sha256=staged.sha256, size=staged.size,
            content_type=staged.content_type, filename=name, staged=staged.path,
        )
    finally:
        staged.path.unlink(missing_ok=True)  # gone already when kept
    return "stored" if settled else "skipped"


async def fetch_message_media(ctx: HubContext, message_id: int) -> dict[str, int]:
    """Fetch every pending attachment of a message, each once."""
    counts = {"stored": 0, "rejected": 0}
    items = await pending_attachments(ctx, message_id)
    if not items:
        return counts
    import httpx

    async with httpx.AsyncClient(timeout=30.0) as client:
        for item in items:
            outcome = await fetch_attachment(ctx, item.id, client)
            if outcome in counts:
                counts[outcome] += 1
    return counts


def _on_exhausted_reason(retries: int) -> str:
    return f"the media could not be downloaded after {retries} attempts"


@dramatiq.actor(queue_name="media", max_retries=6, min_backoff=1_000, max_backoff=120_000, time_limit=300_000)
async def fetch_media_attachment(attachment_id: int) -> None:
    from dramatiq.middleware import CurrentMessage

    ctx = state.context()
    try:
        await fetch_attachment(ctx, attachment_id)
    except Exception:
        current = CurrentMessage.get_current_message()
        retries = current.options.get("retries", 0) if current else 0
        if retries >= 6:  # the last attempt: tell the agent instead of failing silently
            await do_settle_attachment(ctx, attachment_id, "failed", reason=_on_exhausted_reason(retries))
            return
        raise


@dramatiq.actor(queue_name="media", max_retries=6, min_backoff=1_000, max_backoff=120_000, time_limit=300_000)
async def fetch_media(message_id: int) -> None:
    """Kept for messages enqueued by an older version (one job per message)."""
    ctx = state.context()
    for item in await pending_attachments(ctx, message_id):
        fetch_media_attachment.send(item.id)


def enqueue_media(pending: Sequence[AttachmentPending]) -> None:
    for event in pending:
        fetch_media_attachment.send(event.attachment_id)  # each job fetches only its file
