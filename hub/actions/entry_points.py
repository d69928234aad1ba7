"""Entry points: managers keep the WhatsApp click-to-chat links of the city's web pages, posters
and counters; a consultation whose first message starts with one's prefill is recorded as
coming through it and gets its topic (matching rules: hub/entry_points.py).

Writers check the actor's permission and audit inside their own transaction. Entry points are
switched off, never deleted: statistics of past consultations keep their label.
"""

from __future__ import annotations

from typing import Any

import msgspec
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from hub.actions.audit import add_audit
from hub.actions.errors import NotFound, Refused, RefusedConflict
from hub.actions.topics import Actor, require_manager, set_topics
from hub.actions.unit import UnitOfWork
from hub.context import HubContext
from hub.db.tables import EntryPoint, Ticket, TicketEntryPoint, Topic
from hub.entry_points import LABEL_MAX, PREFILL_MAX, Candidate, match, prefill_key, wa_me_link, whatsapp_digits

EVENT = "entry_point"  # the timeline's "came through <label>"


class EntryPointOut(msgspec.Struct):
    id: int
    label: str
    prefill: str
    topic_id: int | None
    active: bool
    link: str | None  # the wa.me link; None while the office's WhatsApp number is not configured


def office_number(ctx: HubContext) -> str:
    """The digits citizens write to: HUB_WHATSAPP_NUMBER, else the WhatsApp sender's address."""
    return whatsapp_digits(ctx.settings.click_to_chat_number or ctx.facts("whatsapp").address)


def entry_point_out(ctx: HubContext, row: EntryPoint) -> EntryPointOut:
    number = office_number(ctx)
    return EntryPointOut(id=row.id or 0, label=row.label, prefill=row.prefill, topic_id=row.topic_id,
                         active=row.active, link=wa_me_link(number, row.prefill) if number else None)


def _clean_label(label: str) -> str:
    text = " ".join(label.split())
    if not text:
        raise Refused("An entry point needs a label.")
    if len(text) > LABEL_MAX:
        raise Refused("A label has at most %(count)s characters.", count=LABEL_MAX)
    return text


def _clean_prefill(prefill: str) -> tuple[str, str]:
    """The prefill as the link will type it, and its matching key. One line; a trailing space
    is kept (one), so the citizen's cursor lands after it, ready to type."""
    if "\n" in prefill.strip() or "\r" in prefill.strip():
        raise Refused("A prefilled message is one line.")
    text = prefill.strip()
    if text and prefill.rstrip("\r\n") != prefill.rstrip():
        text += " "
    if len(text) > PREFILL_MAX:
        raise Refused("A prefilled message has at most %(count)s characters.", count=PREFILL_MAX)
    key = prefill_key(text)
    if sum(ch.isalnum() for ch in key) < 3:
        raise Refused("A prefilled message needs at least three letters or digits that tell it apart.")
    return text, key


async def _check_topic(uow: UnitOfWork, topic_id: int | None) -> None:
    if topic_id is None:
        return
    topic = await uow.session.get(Topic, topic_id)
    if topic is None or not topic.active:
        raise Refused("Unknown or switched-off topic: %(topic)s.", topic=topic_id)


async def _check_key_free(uow: UnitOfWork, key: str, entry_point_id: int | None = None) -> None:
    stmt = select(EntryPoint.id, EntryPoint.label).where(EntryPoint.prefill_key == key)
    for other_id, label in (await uow.session.exec(stmt)).all():
        if other_id != entry_point_id:
            raise RefusedConflict("The entry point “%(label)s” has the same prefilled message; each needs its own.",
                                  label=label)


# Reading -----------------------------------------------------------------------------------


async def list_entry_points(ctx: HubContext, include_inactive: bool = True) -> list[EntryPointOut]:
    stmt = select(EntryPoint).order_by(col(EntryPoint.id))
    if not include_inactive:
        stmt = stmt.where(EntryPoint.active == True)  # noqa: E712
    async with ctx.sessionmaker() as session:
        return [entry_point_out(ctx, row) for row in (await session.exec(stmt)).all()]


async def get_entry_point(ctx: HubContext, entry_point_id: int) -> EntryPointOut:
    async with ctx.sessionmaker() as session:
        row = await session.get(EntryPoint, entry_point_id)
    if row is None:
        raise NotFound(f"entry point {entry_point_id} does not exist")
    return entry_point_out(ctx, row)


async def entry_point_of(session: Any, ticket_id: int) -> tuple[int, str] | None:
    """The entry point (id, label) a consultation came through, if any."""
    row = (await session.exec(
        select(EntryPoint.id, EntryPoint.label).join(TicketEntryPoint, col(TicketEntryPoint.entry_point_id) == col(EntryPoint.id))
        .where(TicketEntryPoint.ticket_id == ticket_id)
    )).first()
    return (row[0], row[1]) if row is not None else None


async def consultations_per_entry_point(ctx: HubContext) -> dict[int, int]:
    """How many consultations came through each entry point, ever (the settings page's count)."""
    stmt = select(TicketEntryPoint.entry_point_id, func.count()).group_by(col(TicketEntryPoint.entry_point_id))
    async with ctx.sessionmaker() as session:
        return {int(i): int(n) for i, n in (await session.exec(stmt)).all()}


# Writing -----------------------------------------------------------------------------------


async def do_create_entry_point(ctx: HubContext, actor: Actor, label: str, prefill: str,
                                topic_id: int | None) -> EntryPointOut:
    require_manager(actor)
    clean_label = _clean_label(label)
    text, key = _clean_prefill(prefill)
    try:
        async with UnitOfWork(ctx) as uow:
            await _check_topic(uow, topic_id)
            await _check_key_free(uow, key)
            row = EntryPoint(label=clean_label, prefill=text, prefill_key=key, topic_id=topic_id, active=True,
                             created_at=uow.now, updated_at=uow.now)
            await uow.assign_id(row)
            add_audit(uow, actor.id, "entry_point.create", "entry_point", row.id, label=clean_label, prefill=text,
                      topic_id=topic_id)
            return entry_point_out(ctx, row)
    except IntegrityError as exc:  # a colleague created the same prefill at the same moment
        raise RefusedConflict("Another entry point has the same prefilled message; each needs its own.") from exc


async def do_update_entry_point(ctx: HubContext, actor: Actor, entry_point_id: int, *, label: str | None = None,
                                prefill: str | None = None, topic_id: int | None | msgspec.UnsetType = msgspec.UNSET,
                                active: bool | None = None) -> EntryPointOut:
    """Change what is given (`topic_id=None` takes the topic away). Consultations that came
    through it before keep their entry point and topic."""
    require_manager(actor)
    try:
        async with UnitOfWork(ctx) as uow:
            row = await uow.session.get(EntryPoint, entry_point_id, with_for_update=True)
            if row is None:
                raise NotFound(f"entry point {entry_point_id} does not exist")
            before = {"label": row.label, "prefill": row.prefill, "topic_id": row.topic_id, "active": row.active}
            if label is not None:
                row.label = _clean_label(label)
            if prefill is not None:
                row.prefill, row.prefill_key = _clean_prefill(prefill)
                await _check_key_free(uow, row.prefill_key, entry_point_id)
            if not isinstance(topic_id, msgspec.UnsetType) and topic_id != row.topic_id:
                await _check_topic(uow, topic_id)
                row.topic_id = topic_id
            if active is not None:
                row.active = active
            row.updated_at = uow.now
            uow.session.add(row)
            after = {"label": row.label, "prefill": row.prefill, "topic_id": row.topic_id, "active": row.active}
            changed = [k for k in before if before[k] != after[k]]
            add_audit(uow, actor.id, "entry_point.update", "entry_point", entry_point_id, changed=",".join(changed),
                      **{f"{when}_{k}": values[k] for k in changed for when, values in (("before", before),
                                                                                        ("after", after))})
            return entry_point_out(ctx, row)
    except IntegrityError as exc:
        raise RefusedConflict("Another entry point has the same prefilled message; each needs its own.") from exc


async def attribute_first_message(uow: UnitOfWork, ticket: Ticket, body: str) -> int | None:
    """Inside the receive transaction, for a new consultation on a channel with entry points:
    when its first message starts with an active entry point's prefill, record the entry point
    (an event on the timeline) and set its topic. Returns the entry point's id.

    The active entry points are read once per transaction (a batch shares them); matching is
    done in memory, so a message costs one small query, and none when the office has none."""
    candidates: list[Candidate] | None = uow.cache.get("entry_points")
    if candidates is None:
        rows = (await uow.session.exec(
            select(EntryPoint.id, EntryPoint.prefill_key, EntryPoint.topic_id).where(EntryPoint.active == True)  # noqa: E712
        )).all()
        candidates = uow.cache["entry_points"] = [Candidate(i, k, t) for i, k, t in rows]
    if not candidates or not body:
        return None
    found = match(body, candidates)
    if found is None:
        return None
    assert ticket.id is not None
    uow.session.add(TicketEntryPoint(ticket_id=ticket.id, entry_point_id=found.id, created_at=uow.now))
    uow.add_event(ticket.id, EVENT, uow.now, ticket.channel, None, {"entry_point_id": found.id})
    if found.topic_id is not None:
        topic = await uow.session.get(Topic, found.topic_id)
        if topic is not None and topic.active:  # a topic switched off since is not set any more
            await set_topics(uow, ticket, [found.topic_id], None)
    return found.id
