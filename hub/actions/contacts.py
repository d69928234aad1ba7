"""Finding and creating contacts from the identities a channel reports."""

from __future__ import annotations

from sqlalchemy import and_, or_
from sqlmodel import select

from hub.actions.unit import UnitOfWork
from hub.db.tables import Contact, Identity
from hub.inbound import IdentityIn


async def _matching_identities(uow: UnitOfWork, identities: list[IdentityIn]) -> list[Identity]:
    if not identities:
        return []
    wanted = or_(*(and_(Identity.kind == i.kind, Identity.value == i.value) for i in identities))
    return list((await uow.session.exec(select(Identity).where(wanted))).all())


async def _follow_merges(uow: UnitOfWork, contact: Contact) -> Contact:
    while contact.merged_into_id is not None:  # a merged contact lives on in the survivor
        merged = await uow.session.get(Contact, contact.merged_into_id)
        if merged is None:
            break
        contact = merged
    return contact


async def find_contact(uow: UnitOfWork, identities: list[IdentityIn]) -> Contact | None:
    """The contact owning the first of `identities` that is known (in the order given)."""
    found = {(i.kind, i.value): i for i in await _matching_identities(uow, identities)}
    for ident in identities:
        row = found.get((ident.kind, ident.value))
        if row is not None:
            contact = await uow.session.get(Contact, row.contact_id)
            if contact is not None:
                return await _follow_merges(uow, contact)
    return None


async def find_or_create_contact(
    uow: UnitOfWork, identities: list[IdentityIn], display_hint: str = "", language: str | None = None
) -> Contact:
    """One query finds every known identity; unknown ones are attached to the contact."""
    found = {(i.kind, i.value): i for i in await _matching_identities(uow, identities)}
    contact: Contact | None = None
    for ident in identities:
        row = found.get((ident.kind, ident.value))
        if row is not None:
            contact = await uow.session.get(Contact, row.contact_id)
            if contact is not None:
                contact = await _follow_merges(uow, contact)
                break
    if contact is None:
        contact = Contact(
            display_hint=display_hint[:200], language=language or uow.ctx.settings.language,
            created_at=uow.now, updated_at=uow.now,
        )
        uow.session.add(contact)
        await uow.session.flush()
    elif display_hint and contact.display_hint != display_hint[:200]:
        contact.display_hint = display_hint[:200]
        contact.updated_at = uow.now
        uow.session.add(contact)
    # Remember identities we did not know yet (e.g. a WhatsApp user id next to the number).
    # One owned by another contact stays with it: merging is an agent's decision.
    for ident in dict.fromkeys(identities):
        if (ident.kind, ident.value) not in found:
            uow.session.add(Identity(contact_id=contact.id, kind=ident.kind, value=ident.value, created_at=uow.now))
    return contact
