"""Finding and creating contacts from the identities a channel reports."""

from __future__ import annotations

from sqlalchemy import and_, or_
from sqlmodel import col, select

from hub.actions.unit import UnitOfWork
from hub.db.lists import among
from hub.db.tables import Contact, Identity, new_row
from hub.inbound import IdentityIn


async def _matching_identities(uow: UnitOfWork, identities: list[IdentityIn]) -> list[Identity]:
    if not identities:
        return []
    known: dict[tuple[str, str], Identity | None] | None = uow.cache.get("identities")
    if known is not None and all((i.kind, i.value) in known for i in identities):
        return [row for i in identities if (row := known[(i.kind, i.value)]) is not None]
    wanted = or_(*(and_(Identity.kind == i.kind, Identity.value == i.value) for i in identities))
    return list((await uow.session.exec(select(Identity).where(wanted))).all())


async def prefetch_identities(uow: UnitOfWork, identities: list[IdentityIn]) -> None:
    """Load, in two queries, every identity of a batch and its contact into this transaction.

    `find_or_create_contact` then answers from memory, and records the identities it creates,
    so a batch of items from many citizens costs two reads instead of two per item.
    """
    wanted = list(dict.fromkeys(identities))
    known: dict[tuple[str, str], Identity | None] = uow.cache.setdefault("identities", {})
    dialect = uow.ctx.engine.dialect.name
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        by_kind: dict[str, list[str]] = {}
        for ident in chunk:
            by_kind.setdefault(ident.kind, []).append(ident.value)
        # One condition per kind (a few kinds at most), so the statement is the same whatever
        # the number of identities (`hub.db.lists`); the (kind, value) index serves each.
        condition = or_(*(and_(Identity.kind == kind, among(dialect, col(Identity.value), values))
                          for kind, values in sorted(by_kind.items())))
        rows = (await uow.session.exec(select(Identity).where(condition))).all()
        known.update({(i.kind, i.value): None for i in chunk})
        known.update({(row.kind, row.value): row for row in rows})
    contact_ids = {row.contact_id for row in known.values() if row is not None}
    if contact_ids:  # into the session's identity map: `session.get` then needs no query
        list((await uow.session.exec(select(Contact).where(among(dialect, col(Contact.id), sorted(contact_ids))))).all())


async def _contact(uow: UnitOfWork, contact_id: int) -> Contact | None:
    # A contact created earlier in this transaction is pending: `session.get` would flush to find it.
    new = uow.cache.get("new_contacts", {}).get(contact_id)
    return new if new is not None else await uow.session.get(Contact, contact_id)


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
            contact = await _contact(uow, row.contact_id)
            if contact is not None:
                contact = await _follow_merges(uow, contact)
                break
    if contact is None:
        contact = new_row(
            Contact, display_hint=display_hint[:200], language=language or uow.ctx.settings.language,
            created_at=uow.now, updated_at=uow.now,
        )
        await uow.add_new(contact)  # written with the batch's other new contacts, one statement
        uow.cache.setdefault("new_contacts", {})[contact.id] = contact
    elif display_hint and contact.display_hint != display_hint[:200]:
        contact.display_hint = display_hint[:200]
        contact.updated_at = uow.now
        uow.keep(contact)
    # Remember identities we did not know yet (e.g. a WhatsApp user id next to the number).
    # One owned by another contact stays with it: merging is an agent's decision.
    known = uow.cache.get("identities")
    for ident in dict.fromkeys(identities):
        if (ident.kind, ident.value) not in found:
            row = new_row(Identity, contact_id=contact.id, kind=ident.kind, value=ident.value, created_at=uow.now)
            await uow.add_new(row)
            if known is not None:
                known[(ident.kind, ident.value)] = row
    return contact
