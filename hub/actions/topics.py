"""Topics: what consultations are about (the padró, paying bills, ...). Managers keep the list;
agents set one or more on a consultation; optionally a consultation needs one to be resolved.

Every writer checks the actor's permission and writes its audit entry inside its own
transaction. Topics are switched off, never deleted: past consultations keep their topic.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

import msgspec
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, delete, select

from hub import events
from hub.actions.audit import add_audit
from hub.actions.errors import Conflict, Forbidden, Invalid, NotFound
from hub.actions.unit import UnitOfWork
from hub.actors import Actor
from hub.config import LANGUAGES
from hub.context import HubContext
from hub.db.tables import Option, Ticket, TicketTopic, Topic
from hub.texts import normalise_language

REQUIRED_OPTION = "topics.required_to_resolve"
SEEDED_OPTION = "topics.seeded"
NAME_MAX = 120

MANAGERS = ("manager", "admin")


def is_manager(actor: Actor) -> bool:
    return actor.role in MANAGERS


def require_manager(actor: Actor) -> None:
    if not is_manager(actor):
        raise Forbidden("only managers and administrators may do this")


# The seed's procedures (PRODUCT.md §1; /work/shared/seed): the list a new office starts with.
SEED: tuple[tuple[str, dict[str, str]], ...] = (
    ("padro", {"ca": "Padró d'habitants", "es": "Padrón de habitantes", "en": "Census registration (padró)"}),
    ("rebuts", {"ca": "Pagament de rebuts", "es": "Pago de recibos", "en": "Paying bills"}),
    ("instancies", {"ca": "Instàncies i documents", "es": "Instancias y documentos",
                    "en": "Filing applications (instàncies)"}),
    ("expedients", {"ca": "Consulta d'expedients", "es": "Consulta de expedientes", "en": "Checking a case file"}),
    ("carpeta-ciutadana", {"ca": "Carpeta Ciutadana", "es": "Carpeta Ciudadana", "en": "Carpeta Ciutadana"}),
    ("ovt", {"ca": "Oficina Virtual Tributària", "es": "Oficina Virtual Tributaria",
             "en": "Oficina Virtual Tributària (taxes)"}),
)


class TopicOut(msgspec.Struct):
    id: int
    key: str
    names: dict[str, str]
    active: bool
    position: int


def topic_out(row: Topic) -> TopicOut:
    return TopicOut(id=row.id or 0, key=row.key, names=dict(row.names), active=row.active, position=row.position)


def topic_name(names: dict[str, Any], language: str) -> str:
    """The topic's name in `language`, else Catalan, else any."""
    return str(names.get(language) or names.get("ca") or next(iter(names.values()), ""))


def _slug(text: str) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")[:60] or "topic"


def check_names(names: dict[str, str]) -> dict[str, str]:
    """Names per language: known languages only, trimmed, not empty, Catalan required."""
    clean: dict[str, str] = {}
    for language, name in names.items():
        if language not in LANGUAGES:
            raise Invalid(f"unknown language {language!r}; one of {', '.join(LANGUAGES)}")
        text = " ".join(str(name).split())
        if len(text) > NAME_MAX:
            raise Invalid(f"a topic name has at most {NAME_MAX} characters")
        if text:
            clean[language] = text
    if "ca" not in clean:
        raise Invalid("a topic needs at least its Catalan name ('ca')")
    return clean


# Reading -----------------------------------------------------------------------------------


async def list_topics(ctx: HubContext, include_inactive: bool = True) -> list[TopicOut]:
    stmt = select(Topic).order_by(col(Topic.position), col(Topic.id))
    if not include_inactive:
        stmt = stmt.where(Topic.active == True)  # noqa: E712
    async with ctx.sessionmaker() as session:
        return [topic_out(t) for t in (await session.exec(stmt)).all()]


async def topics_of(session: Any, ticket_ids: Iterable[int]) -> dict[int, list[TopicOut]]:
    """Each ticket's topics, one query for all of them."""
    ids = list(ticket_ids)
    if not ids:
        return {}
    stmt = (
        select(TicketTopic.ticket_id, Topic).join(Topic, col(Topic.id) == col(TicketTopic.topic_id))
        .where(col(TicketTopic.ticket_id).in_(ids)).order_by(col(Topic.position), col(Topic.id))
    )
    out: dict[int, list[TopicOut]] = {}
    for ticket_id, topic in (await session.exec(stmt)).all():
        out.setdefault(ticket_id, []).append(topic_out(topic))
    return out


async def topic_required(uow: UnitOfWork) -> bool:
    row = await uow.session.get(Option, REQUIRED_OPTION)
    return bool(row is not None and row.value)


async def topic_required_setting(ctx: HubContext) -> bool:
    async with ctx.sessionmaker() as session:
        row = await session.get(Option, REQUIRED_OPTION)
    return bool(row is not None and row.value)


async def check_topic_before_resolving(uow: UnitOfWork, ticket: Ticket) -> None:
    """Inside `do_resolve`: when the office requires it, an agent resolves only with a topic."""
    if not await topic_required(uow):
        return
    found = (await uow.session.exec(
        select(TicketTopic.topic_id).where(TicketTopic.ticket_id == ticket.id).limit(1)
    )).first()
    if found is None:
        raise Conflict("choose at least one topic before resolving this consultation")


# Writing -----------------------------------------------------------------------------------


async def do_create_topic(ctx: HubContext, actor: Actor, names: dict[str, str], key: str | None = None,
                          position: int | None = None) -> TopicOut:
    require_manager(actor)
    clean = check_names(names)
    slug = _slug(key or clean["ca"])
    try:
        async with UnitOfWork(ctx) as uow:
            if (await uow.session.exec(select(Topic.id).where(Topic.key == slug))).first() is not None:
                raise Conflict(f"a topic with the key {slug!r} exists already")
            if position is None:
                last = (await uow.session.exec(select(Topic.position).order_by(col(Topic.position).desc()))).first()
                position = (last or 0) + 1
            row = Topic(key=slug, names=clean, active=True, position=position, created_at=uow.now, updated_at=uow.now)
            await uow.assign_id(row)
            add_audit(uow, actor.id, "topic.create", "topic", row.id, key=slug)
            uow.emit(events.TopicsChanged())
            return topic_out(row)
    except IntegrityError as exc:  # a colleague created the same key at the same moment
        raise Conflict(f"a topic with the key {slug!r} exists already") from exc


async def do_update_topic(ctx: HubContext, actor: Actor, topic_id: int, *, names: dict[str, str] | None = None,
                          active: bool | None = None, position: int | None = None) -> TopicOut:
    require_manager(actor)
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(Topic, topic_id, with_for_update=True)
        if row is None:
            raise NotFound(f"topic {topic_id} does not exist")
        before = {"names": dict(row.names), "active": row.active, "position": row.position}
        if names is not None:
            row.names = check_names({**row.names, **names})
        if active is not None:
            row.active = active
        if position is not None:
            row.position = position
        row.updated_at = uow.now
        uow.session.add(row)
        changed = sorted(k for k in before if before[k] != getattr(row, k))
        add_audit(uow, actor.id, "topic.update", "topic", topic_id, changed=",".join(changed))
        uow.emit(events.TopicsChanged())
        return topic_out(row)


def may_act_on(actor: Actor, ticket: Ticket) -> bool:
    """Its assignee, anyone while it is unowned, managers and admins always (as for replies)."""
    return is_manager(actor) or ticket.assignee_id in (None, actor.id)


async def set_topics(uow: UnitOfWork, ticket: Ticket, topic_ids: Sequence[int], agent_id: int | None) -> list[int]:
    """Replace a ticket's topics inside the caller's transaction; returns the sorted ids."""
    wanted = sorted(set(topic_ids))
    if wanted:
        found = set((await uow.session.exec(
            select(Topic.id).where(col(Topic.id).in_(wanted), Topic.active == True)  # noqa: E712
        )).all())
        missing = [i for i in wanted if i not in found]
        if missing:
            raise Invalid(f"unknown or switched-off topics: {', '.join(map(str, missing))}")
    current = set((await uow.session.exec(
        select(TicketTopic.topic_id).where(TicketTopic.ticket_id == ticket.id)
    )).all())
    if current == set(wanted):
        return wanted
    removed = current - set(wanted)
    if removed:
        await uow.session.exec(delete(TicketTopic).where(  # type: ignore[call-overload]
            col(TicketTopic.ticket_id) == ticket.id, col(TicketTopic.topic_id).in_(removed)))
    for topic_id in wanted:
        if topic_id not in current:
            uow.session.add(TicketTopic(ticket_id=ticket.id or 0, topic_id=topic_id, agent_id=agent_id,
                                        created_at=uow.now))
    assert ticket.id is not None
    uow.add_event(ticket.id, "topics_changed", uow.now, ticket.channel, agent_id, {"topics": wanted})
    uow.emit(events.TicketChanged(ticket.id))
    return wanted


async def do_set_ticket_topics(ctx: HubContext, actor: Actor, ticket_id: int, topic_ids: Sequence[int]) -> list[int]:
    """The consultation's topics become exactly `topic_ids` (an empty list clears them)."""
    if len(set(topic_ids)) > 20:
        raise Invalid("at most 20 topics per consultation")
    async with UnitOfWork(ctx) as uow:
        ticket = await uow.ticket_for_update(ticket_id)
        if not may_act_on(actor, ticket):
            raise Forbidden("this ticket belongs to a colleague")
        wanted = await set_topics(uow, ticket, topic_ids, actor.id)
        add_audit(uow, actor.id, "ticket.topics", "ticket", ticket_id, topics=",".join(map(str, wanted)))
        return wanted


async def do_set_topic_required(ctx: HubContext, actor: Actor, required: bool) -> None:
    require_manager(actor)
    async with UnitOfWork(ctx) as uow:
        row = await uow.session.get(Option, REQUIRED_OPTION, with_for_update=True)
        before = bool(row is not None and row.value)
        if row is None:
            row = Option(key=REQUIRED_OPTION, value=required, updated_at=uow.now)
        else:
            row.value, row.updated_at = required, uow.now
        uow.session.add(row)
        add_audit(uow, actor.id, "option.set", "option", REQUIRED_OPTION, before=before, after=required)


async def do_seed_topics(ctx: HubContext) -> bool:
    """Give a new office the seed's topics, once (a marker option remembers it was done, so a
    manager's changes are never undone and several starting instances seed only once)."""
    async with ctx.sessionmaker() as session:
        if await session.get(Option, SEEDED_OPTION) is not None:
            return False
    try:
        async with UnitOfWork(ctx) as uow:
            uow.session.add(Option(key=SEEDED_OPTION, value=True, updated_at=uow.now))
            await uow.session.flush()  # the marker's primary key decides who seeds
            existing = set((await uow.session.exec(select(Topic.key))).all())
            for position, (key, names) in enumerate(SEED, start=1):
                if key not in existing:
                    uow.session.add(Topic(key=key, names=dict(names), active=True, position=position,
                                          created_at=uow.now, updated_at=uow.now))
    except IntegrityError:
        return False  # another instance seeded at the same moment
    return True


def names_for_language(topics: Iterable[TopicOut], language: str) -> dict[int, str]:
    return {t.id: topic_name(t.names, normalise_language(language, "ca")) for t in topics}
