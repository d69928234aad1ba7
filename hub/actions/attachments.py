"""Attachments that arrive by reference (e.g. Twilio media URLs) and are fetched later.

A channel's worker downloads the file and reports the outcome here; the row keeps what agents
see: stored (with its storage key and checksum), rejected (type or size, with the reason) or
failed (the download never worked).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select

from hub import events
from hub.actions.errors import Invalid
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Attachment, Message

OUTCOMES = ("stored", "rejected", "failed")


def clean_filename(name: str) -> str:
    """A citizen's file name without control or format characters: no bidirectional overrides
    (`invoice\u202egpj.exe` shows as `invoiceexe.jpg`), no zero-width tricks, no line breaks."""
    import unicodedata

    return "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf")).strip()[:300]


@dataclass(frozen=True)
class PendingAttachment:
    id: int
    message_id: int
    ticket_id: int
    source_url: str
    content_type: str
    filename: str


async def pending_attachments(ctx: HubContext, message_id: int) -> list[PendingAttachment]:
    async with ctx.sessionmaker() as session:
        stmt = (
            select(Attachment, Message.ticket_id).join(Message, Message.id == Attachment.message_id)
            .where(Attachment.message_id == message_id, Attachment.status == "pending")
            .order_by(Attachment.id)
        )
        return [
            PendingAttachment(a.id or 0, a.message_id, ticket_id, a.source_url or "", a.content_type, a.filename)
            for a, ticket_id in (await session.exec(stmt)).all()
        ]


async def pending_attachment(ctx: HubContext, attachment_id: int) -> PendingAttachment | None:
    async with ctx.sessionmaker() as session:
        stmt = (
            select(Attachment, Message.ticket_id).join(Message, Message.id == Attachment.message_id)
            .where(Attachment.id == attachment_id, Attachment.status == "pending")
        )
        row = (await session.exec(stmt)).first()
    if row is None:
        return None
    a, ticket_id = row
    return PendingAttachment(a.id or 0, a.message_id, ticket_id, a.source_url or "", a.content_type, a.filename)


async def do_settle_attachment(
    ctx: HubContext, attachment_id: int, status: str, *, storage_key: str | None = None,
    sha256: str | None = None, size: int | None = None, content_type: str | None = None,
    filename: str | None = None, reason: str | None = None, staged: Path | None = None,
) -> bool:
    """Record the outcome of fetching a pending attachment; False if it was settled already.

    `staged` is the downloaded file (in `ctx.files.staging_dir()`); it is kept under `sha256`
    only once the row is locked and still pending, inside the transaction (an erasure waits for
    it, then deletes the file with the row's data), so racing jobs never leave a file that no
    record points to. The caller removes a staged file that was not kept.
    """
    if status not in OUTCOMES:
        raise Invalid(f"an attachment ends {', '.join(OUTCOMES)}, not {status}")
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(Attachment, attachment_id, with_for_update=True)
        if row is None or row.status != "pending":
            return False
        row.status = status
        row.reason = (reason or None) and reason[:300]
        if status == "stored":
            if staged is not None and sha256:
                await ctx.files.keep(uow.session, sha256, staged)
            row.storage_key, row.sha256, row.size = storage_key, sha256, size
            row.source_url = None  # fetched: the provider's URL is no longer needed
        if content_type:
            row.content_type = content_type[:200]
        if filename:
            row.filename = clean_filename(filename)
        uow.session.add(row)
        message = await uow.session.get(Message, row.message_id)
        uow.emit(events.AttachmentChanged(message.ticket_id if message else None, row.message_id, attachment_id))
        return True
