"""Merging two contacts an agent knows are one citizen (an email address and a phone number).

Everything of the merged contact moves to the survivor: identities, tickets, messages, calls.
The merged contact stays as an empty row with `merged_into_id` set, so an old link or a stale
lookup still finds its way (`find_contact` follows `merged_into_id`); contacts merged into it
before are pointed straight at the survivor. Nothing is deleted, and the agent's action is in
the audit trail.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import update
from sqlmodel import col, select

from hub import events
from hub.actions.audit import add_audit
from hub.actions.errors import Conflict, NotFound
from hub.actions.permissions import Who, acting
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import Call, Contact, Identity, Message, Ticket


@dataclass(frozen=True)
class Merged:
    survivor_id: int
    merged_id: int
    identities: int
    tickets: int
    messages: int
    calls: int


# Tables whose rows belong to a contact, moved by a merge. A table with a `contact_id` added
# later belongs here too (tests/integration/hub/test_calls_merge.py checks that none is forgotten).
OWNED_BY_CONTACT = (Identity, Ticket, Message, Call)


async def do_merge_contacts(ctx: HubContext, contact_id: int, into_id: int, agent_id: Who) -> Merged:
    """Move everything of `contact_id` to `into_id` and mark it merged (by any agent, or the
    system: `agent_id` is an actor, an agent id or None)."""
    if contact_id == into_id:
        raise Conflict("a contact cannot be merged into itself")
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, agent_id)
        # Lock both rows in id order, so two merges of the same pair cannot deadlock.
        rows = {
            c.id: c for c in (await uow.session.exec(
                select(Contact).where(col(Contact.id).in_([contact_id, into_id])).order_by(col(Contact.id))
                .with_for_update()
            )).all()
        }
        merged, survivor = rows.get(contact_id), rows.get(into_id)
        if merged is None:
            raise NotFound(f"contact {contact_id} does not exist")
        if survivor is None:
            raise NotFound(f"contact {into_id} does not exist")
        if merged.merged_into_id is not None:
            raise Conflict(f"contact {contact_id} was merged already (into {merged.merged_into_id})")
        if survivor.merged_into_id is not None:
            raise Conflict(f"contact {into_id} was merged into {survivor.merged_into_id}: merge into that one")
        if merged.erased_at is not None or survivor.erased_at is not None:
            raise Conflict("an erased contact cannot be merged")

        moved: dict[str, int] = {}
        for table in OWNED_BY_CONTACT:
            result = await uow.session.exec(  # type: ignore[call-overload]
                update(table).where(col(table.contact_id) == contact_id)  # type: ignore[attr-defined]
                .values(contact_id=into_id).execution_options(synchronize_session=False)
            )
            moved[table.__tablename__] = result.rowcount  # type: ignore[attr-defined]
        await uow.session.exec(  # type: ignore[call-overload]
            update(Contact).where(col(Contact.merged_into_id) == contact_id)
            .values(merged_into_id=into_id).execution_options(synchronize_session=False)
        )
        # The survivor keeps its own details and learns what only the other knew.
        survivor.name = survivor.name or merged.name
        survivor.display_hint = survivor.display_hint or merged.display_hint
        survivor.updated_at = uow.now
        merged.merged_into_id = into_id
        merged.updated_at = uow.now
        uow.session.add_all([survivor, merged])
        add_audit(uow, actor.agent_id, "contact.merge", "contact", into_id, merged_id=contact_id, **moved)
        uow.emit(events.ContactChanged(into_id, merged_id=contact_id))
        return Merged(
            into_id, contact_id, moved["identities"], moved["tickets"], moved["messages"], moved["calls"],
        )


__all__ = ["Merged", "OWNED_BY_CONTACT", "do_merge_contacts"]
