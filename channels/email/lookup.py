"""Read-only queries the mail channel needs: threading lookups and a thread's headers.

Nothing here writes: tickets and messages are written by `hub.actions` only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select

from channels.email.filters import TicketInfo
from hub.context import HubContext
from hub.db.tables import Identity, Message, Ticket
from hub.tickets import OPEN_STATUSES

_OPEN = {s.value for s in OPEN_STATUSES}
CHANNEL = "email"


class DbLookups:
    """`filters.Lookups` over the hub's database."""

    def __init__(self, ctx: HubContext, our_addresses: frozenset[str] = frozenset()) -> None:
        self.ctx = ctx
        self.our_addresses = our_addresses
        self.known: set[str] = set()  # provider ids imported by this process (saves a query)
        self.absent: set[str] = set()  # provider ids a batch lookup found missing

    async def prefetch(self, provider_ids: list[str]) -> None:
        """One query for a whole batch instead of one per mail."""
        ids = [i for i in dict.fromkeys(provider_ids) if i not in self.known]
        if not ids:
            return
        async with self.ctx.sessionmaker() as session:
            found = set((await session.exec(select(Message.provider_id).where(
                Message.channel == CHANNEL, col(Message.provider_id).in_(ids),
            ))).all())
        self.known.update(i for i in found if i)
        self.absent.update(set(ids) - found)  # two runs may be imported at once: keep the other's

    async def already_imported(self, provider_id: str) -> bool:
        if provider_id in self.known:
            return True
        if provider_id in self.absent:
            return False
        async with self.ctx.sessionmaker() as session:
            found = (await session.exec(select(Message.id).where(
                Message.channel == CHANNEL, Message.provider_id == provider_id,
            ).limit(1))).first()
        return found is not None

    async def tickets_of(self, message_ids: list[str]) -> dict[str, TicketInfo]:
        """Every Message-ID we received or sent, with the ticket it is on."""
        ids = list(dict.fromkeys(i for i in message_ids if i))[:100]
        if not ids:
            return {}
        async with self.ctx.sessionmaker() as session:
            rows = (await session.exec(
                select(Message.provider_id, Ticket.id, Ticket.reference, Ticket.status)
                .join(Ticket, col(Ticket.id) == col(Message.ticket_id))
                .where(Message.channel == CHANNEL, col(Message.provider_id).in_(ids))
            )).all()
        return {pid: TicketInfo(tid, ref or "", status in _OPEN) for pid, tid, ref, status in rows if pid}

    async def ticket_by_reference(self, reference: str) -> TicketInfo | None:
        async with self.ctx.sessionmaker() as session:
            row = (await session.exec(
                select(Ticket.id, Ticket.reference, Ticket.status).where(Ticket.reference == reference)
            )).first()
        if row is None or row[0] is None:
            return None
        return TicketInfo(row[0], row[1] or "", row[2] in _OPEN)

    async def participants(self, ticket_id: int) -> set[str]:
        """The contact's addresses and everyone already in From/To/Cc of the thread, minus us."""
        async with self.ctx.sessionmaker() as session:
            ticket = await session.get(Ticket, ticket_id)
            if ticket is None:
                return set()
            people = {
                v.lower() for v in (await session.exec(select(Identity.value).where(
                    Identity.contact_id == ticket.contact_id, Identity.kind == "email",
                ))).all()
            }
            metas = (await session.exec(select(Message.meta).where(
                Message.ticket_id == ticket_id, Message.channel == CHANNEL,
            ))).all()
        for meta in metas:
            for key in ("from", "reply_to"):
                if isinstance(meta.get(key), str):
                    people.add(meta[key].lower())
            for key in ("to", "cc"):
                people.update(a.lower() for a in meta.get(key) or [] if isinstance(a, str))
        return people - set(self.our_addresses)


@dataclass
class Thread:
    """What an outgoing mail needs to thread properly with the citizen's client."""

    to: str = ""
    cc: list[str] = field(default_factory=list)
    subject: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    has_inbound: bool = False
    quoted: Quoted | None = None  # the citizen's latest mail before the reply, to quote under it


@dataclass(frozen=True)
class Quoted:
    author: str
    at: datetime
    body: str


async def thread_of(ctx: HubContext, ticket_id: int, exclude_message_id: int | None = None) -> Thread:
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(
            select(Message).where(
                Message.ticket_id == ticket_id, Message.channel == CHANNEL,
                col(Message.direction).in_(["in", "out"]),
            ).order_by(col(Message.id))
        )).all()
    thread = Thread()
    for row in rows:
        if row.id == exclude_message_id:
            continue
        if row.direction == "in" and ((row.meta or {}).get("automatic") or row.kind == "quarantined"):
            continue  # an out-of-office or a bounce filed on the thread is not whom we answer
        if row.provider_id and not row.provider_id.startswith("sha256:"):
            thread.references.append(row.provider_id)
        if row.direction == "in":
            thread.has_inbound = True
            meta = row.meta or {}
            thread.to = meta.get("reply_to") or meta.get("from") or thread.to
            thread.subject = meta.get("subject") or thread.subject
            if row.provider_id and not row.provider_id.startswith("sha256:"):
                thread.in_reply_to = row.provider_id
            if exclude_message_id is None or (row.id or 0) < exclude_message_id:
                author = meta.get("from_name") or meta.get("from") or ""
                thread.quoted = Quoted(str(author), row.created_at, row.body or "")
    # Keep the first (thread root) and the most recent ids, as RFC 5322 suggests for long chains.
    if len(thread.references) > 20:
        thread.references = thread.references[:1] + thread.references[-19:]
    return thread
