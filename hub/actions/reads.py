"""Reads the audit trail must show: an agent opening a ticket's timeline, a citizen's file
reaching an agent's machine. Each goes through here, which records it in the same transaction
as the read (a read that fails records nothing).

The contact export (`hub.actions.privacy.export_contact`) is the third audited read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlmodel import col, select

from hub import views
from hub.actions.audit import add_audit
from hub.actions.errors import NotFound
from hub.actions.unit import UnitOfWork
from hub.actors import Actor
from hub.context import HubContext
from hub.db.tables import Attachment, AuditEntry, Message

SHA256_HEX = frozenset("0123456789abcdef")


async def read_ticket(ctx: HubContext, actor: Actor, ticket_id: int, part: str | None = None) -> views.TicketDetail:
    """One ticket with its contact and whole timeline, as `actor` opens it (404 when missing).

    `part` names a piece of the ticket's page fetched on its own (`timeline`, `head`: the page's
    live refresh fetches them again on every notice). Such a read is one more entry only when
    this agent's last read of the ticket is older than `READ_COVERS`: a view is one read however
    often its page refreshes, and a part fetched without the page is still in the trail."""
    async with UnitOfWork(ctx) as uow:
        detail = await views.ticket_detail(uow.session, ticket_id, uow.now)
        if part is None or not await _read_lately(uow, actor, ticket_id):
            add_audit(uow, actor.agent_id, "ticket.read", "ticket", ticket_id, **({"part": part} if part else {}))
    return detail


READ_COVERS = timedelta(minutes=10)


async def _read_lately(uow: UnitOfWork, actor: Actor, ticket_id: int) -> bool:
    stmt = select(AuditEntry.id).where(
        col(AuditEntry.at) >= uow.now - READ_COVERS, AuditEntry.agent_id == actor.agent_id,
        AuditEntry.action == "ticket.read", AuditEntry.target_id == str(ticket_id),
    ).limit(1)
    return (await uow.session.exec(stmt)).first() is not None


@dataclass(frozen=True)
class AttachmentFile:
    """What a download needs: the web streams the bytes from `ctx.files` by `sha256`."""

    filename: str
    content_type: str
    sha256: str
    size: int


async def read_attachment(ctx: HubContext, actor: Actor, attachment_id: int) -> AttachmentFile:
    """A stored attachment, as `actor` downloads it (404 when not stored or missing from storage)."""
    async with ctx.sessionmaker() as session:
        row = await session.get(Attachment, attachment_id)
    digest = row.sha256 if row is not None else None
    if row is None or row.status != "stored" or not digest or len(digest) != 64 or not set(digest) <= SHA256_HEX:
        raise NotFound(f"attachment {attachment_id} is not available")
    # The store is asked outside the audit's transaction: the database store has connections of
    # its own, and on SQLite one of them would wait for this transaction's write lock for ever.
    size = await ctx.files.size(digest)
    if size is None:
        raise NotFound(f"attachment {attachment_id} is missing from storage")
    async with UnitOfWork(ctx) as uow:
        message = await uow.session.get(Message, row.message_id)
        # One entry per download: a citizen's file reached an agent's machine.
        add_audit(uow, actor.agent_id, "attachment.download", "attachment", attachment_id,
                  ticket=message.ticket_id if message is not None else None)
    return AttachmentFile(row.filename or "attachment", row.content_type or "", digest, size)
