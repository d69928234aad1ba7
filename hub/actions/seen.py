"""What each agent has seen of a consultation: the server-side unread count.

An agent has seen a consultation's messages up to the newest citizen message when its page was
shown to them (`do_mark_seen`); the citizen's messages after that one are unread for them
(`hub.views.unread_counts`). Kept per agent on the server, as Chatwoot's `agent_last_seen_at`,
so the count survives a reload and is the same on every device; but as a message id rather than
a time: a message stamped earlier than the moment the agent looked (a provider's time, a late
delivery) is still new. Only my open consultations count, so a ticket resolved or handed to a
colleague drops out of my count by itself (Zammad's agents complain of notifications left
"unseen" after a colleague closed the ticket).

`do_mark_unseen` is the "mark as unread" agents ask for (Chatwoot #5552): back to before the
citizen's latest message. Neither is audited: reading is audited where the page is shown.
"""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select

from hub import events
from hub.actions.errors import NotFound
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Message, Ticket, TicketSeen


async def _latest_inbound(uow: UnitOfWork, ticket_id: int, offset: int = 0) -> int:
    stmt = (select(Message.id).where(Message.ticket_id == ticket_id, Message.direction == "in")
            .order_by(col(Message.id).desc()).offset(offset).limit(1))
    return int((await uow.session.exec(stmt)).first() or 0)


async def _write(uow: UnitOfWork, agent_id: int, ticket_id: int, message_id: int, *, forward_only: bool) -> None:
    values = {"agent_id": agent_id, "ticket_id": ticket_id, "message_id": message_id, "seen_at": uow.now}
    postgres = uow.session.bind.dialect.name == "postgresql"
    stmt = (pg_insert if postgres else sqlite_insert)(TicketSeen).values(**values)
    # Two tabs marking at once keep the newer mark (never back to an older message by accident).
    newest = (func.greatest if postgres else func.max)(col(TicketSeen.message_id), stmt.excluded.message_id)
    stmt = stmt.on_conflict_do_update(
        index_elements=["agent_id", "ticket_id"],
        set_={"message_id": newest if forward_only else stmt.excluded.message_id, "seen_at": stmt.excluded.seen_at},
    )
    await uow.session.exec(stmt)  # type: ignore[call-overload]


async def do_mark_seen(ctx: HubContext, agent_id: int, ticket_id: int) -> int:
    """The agent has seen everything the citizen wrote so far; returns that message's id (0: none)."""
    async with UnitOfWork(ctx) as uow:
        if await uow.session.get(Ticket, ticket_id) is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        latest = await _latest_inbound(uow, ticket_id)
        await _write(uow, agent_id, ticket_id, latest, forward_only=True)
        uow.emit(events.TicketSeen(ticket_id, agent_id))
        return latest


async def do_mark_unseen(ctx: HubContext, agent_id: int, ticket_id: int) -> None:
    """The citizen's latest message is new again for this agent ("mark as unread")."""
    async with UnitOfWork(ctx) as uow:
        if await uow.session.get(Ticket, ticket_id) is None:
            raise NotFound(f"ticket {ticket_id} does not exist")
        before_latest = await _latest_inbound(uow, ticket_id, offset=1)
        await _write(uow, agent_id, ticket_id, before_latest, forward_only=False)
        uow.emit(events.TicketSeen(ticket_id, agent_id))
