"""Finding and creating contacts from the identities a channel reports."""

from __future__ import annotations

from sqlmodel import col, select

from hub.actions.unit import UnitOfWork
from hub.db.tables import Contact, Identity
from hub.inbound import IdentityIn


async def find_contact(uow: UnitOfWork, identities: list[IdentityIn]) -> Contact | None:
    for ident in identities:
        stmt = (
            select(Contact).join(Identity, col(Identity.contact_id) == col(Contact.id))
            .where(Identity.kind == ident.kind, Identity.value == ident.value)
        )
        contact = (await uow.session.exec(stmt)).first()
        if contact is not None:
            while contact.merged_into_id is not None:  # follow merges to the surviving contact
                merged = await uow.session.get(Contact, contact.merged_into_id)
                if merged is None:
                    break
                contact = merged
            return contact
    return None


async def find_or_create_contact(
    uow: UnitOfWork, identities: list[IdentityIn], display_hint: str = "", language: str | None = None
) -> Contact:
    contact = await find_contact(uow, identities)
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
    # Remember any identity we did not know yet (e.g. a WhatsApp user id next to the number).
    known = {
        (i.kind, i.value)
        for i in (await uow.session.exec(select(Identity).where(Identity.contact_id == contact.id))).all()
    }
    for ident in identities:
        if (ident.kind, ident.value) not in known:
            taken = (await uow.session.exec(
                select(Identity).where(Identity.kind == ident.kind, Identity.value == ident.value)
            )).first()
            if taken is None:
                uow.session.add(Identity(contact_id=contact.id, kind=ident.kind, value=ident.value, created_at=uow.now))
    return contact
