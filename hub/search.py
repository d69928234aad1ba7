"""Finding any consultation, open or closed, and filtering ticket lists.

One filter struct (`TicketFilter`) and one function that turns it into conditions on `tickets`
(`conditions`): every ticket list (the API's, the search page's, the reports' drill-downs) builds
its query there, so a new filter is one field and one `if`.

What an agent types in the search box is read as each thing it can be, and every reading that
fits is searched (`find`):
- a reference (`OAC-2026-000123`, `2026-000123`, or the bare number `123`);
- an email address or a phone number in any format (the contact's identities);
- part of a contact's name, ignoring case and accents;
- words of the subject and of the messages and notes (full-text: PostgreSQL `simple`
  configuration over `hub_unaccent`, stored with each row as `messages.body_search` and
  `tickets.subject_search` (migrations core_0004, core_0006); SQLite FTS5 with diacritics removed).
Each reading is one bounded query that uses an index; the hits are ranked by what matched
(reference, then address or number, name, subject, message), then by the latest activity.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import String, bindparam, false, func, literal_column, or_, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.db.tables import Contact, Identity, Message, Ticket, TicketEntryPoint
from hub.tickets import CLOSED_STATUSES, OPEN_STATUSES, Status

STATUS_WORDS = {s.value for s in Status} | {"open", "closed", "all"}
NAME_MATCHES = 500  # contacts kept from a name search
BRANCH_LIMIT = 200  # tickets kept from each reading before ranking
MESSAGE_MATCHES = 2000  # latest matching messages looked at
MAX_QUERY = 100

# Score of each reading: what matched says more than how recent it is.
SCORES = {"reference": 100, "identity": 90, "name": 70, "subject": 50, "message": 30, "note": 30}


@dataclass(frozen=True)
class TicketFilter:
    """What a ticket list may be narrowed by. Add a field here and its `if` in `conditions`."""

    q: str | None = None
    status: str | None = None  # a status, or "open", "closed", "all" (None: all)
    channel: str | None = None
    assignee_id: int | None = None
    topic_id: int | None = None
    entry_point_id: int | None = None  # came through this WhatsApp entry point
    created_from: datetime | None = None  # inclusive
    created_to: datetime | None = None  # exclusive
    before: int | None = None  # keyset cursor on the id (unranked lists)
    # The statistics' drill-downs (agent_ui/stats.py): the consultations behind a count.
    dated: str = "created"  # the moment `created_from`/`created_to` bound: one of DATED
    abandoned: bool = False  # closed unidentified (WhatsApp: the citizen never said who they were)
    outside_sla: bool = False  # first reply later than the SLA in office time (ids from hub.drilldown)
    ids: tuple[int, ...] | None = None  # only these tickets
    kind: str | None = None  # "consultation" (what the statistics count) or "callback" (a missed call's task)


# Which moment a date range bounds: a count in the statistics is dated by the event that
# completes it (docs/metrics.md), so its drill-down bounds the same moment.
DATED = {"created": Ticket.created_at, "resolved": Ticket.resolved_at, "closed": Ticket.closed_at,
         "first_response": Ticket.first_response_at}


def conditions(f: TicketFilter) -> list[Any]:
    """The filter as conditions on `tickets` (everything but the search words)."""
    where: list[Any] = []
    if f.status in ("open", "closed"):
        statuses = OPEN_STATUSES if f.status == "open" else CLOSED_STATUSES
        where.append(col(Ticket.status).in_([s.value for s in statuses]))
    elif f.status and f.status != "all":
        where.append(Ticket.status == f.status)
    if f.channel:
        where.append(Ticket.channel == f.channel)
    if f.assignee_id is not None:
        where.append(Ticket.assignee_id == f.assignee_id)
    if f.topic_id is not None:
        where.append(_topic_condition(f.topic_id))
    if f.entry_point_id is not None:
        where.append(col(Ticket.id).in_(select(TicketEntryPoint.ticket_id).where(
            TicketEntryPoint.entry_point_id == f.entry_point_id)))
    moment = col(DATED[f.dated])
    if f.created_from is not None:
        where.append(moment >= f.created_from)
    if f.created_to is not None:
        where.append(moment < f.created_to)
    if f.kind:
        where.append(Ticket.kind == f.kind)
    if f.abandoned:
        where += [Ticket.kind == "consultation", Ticket.status == Status.CLOSED_UNIDENTIFIED.value]
    if f.ids is not None:
        where.append(col(Ticket.id).in_(f.ids) if f.ids else false())
    if f.before is not None:
        where.append(col(Ticket.id) < f.before)
    return where


def topics_available() -> bool:
    import hub.db.tables as tables

    return hasattr(tables, "TicketTopic")


async def topic_exists(session: AsyncSession, topic_id: int) -> bool:
    import hub.db.tables as tables

    topic = getattr(tables, "Topic", None)
    return topic is not None and await session.get(topic, topic_id) is not None


def _topic_condition(topic_id: int) -> Any:
    import hub.db.tables as tables

    link = getattr(tables, "TicketTopic", None)
    if link is None:  # the topics model is not there yet: no ticket has a topic
        return false()
    return col(Ticket.id).in_(select(link.ticket_id).where(link.topic_id == topic_id))


# Reading the search text -------------------------------------------------------------------

_REFERENCE = re.compile(r"^(?:[A-Za-z][A-Za-z0-9]*-)?(\d{4})-0*(\d{1,12})$")
_NUMBER = re.compile(r"^#?0*(\d{1,9})$")
_PHONE_CHARS = set("+0123456789 ()-.")
_WORD = re.compile(r"\w+", re.UNICODE)


def fold(value: str) -> str:
    """Lower case without accents, one character for one (so offsets still point at the text)."""
    out = []
    for ch in value:
        base = unicodedata.normalize("NFD", ch)
        stripped = "".join(c for c in base if not unicodedata.combining(c)).lower()
        out.append(stripped if len(stripped) == 1 else ch.lower()[:1] or ch)
    return "".join(out)


def words(q: str) -> list[str]:
    found = [w for w in _WORD.findall(fold(q)) if w.strip("_")]
    longer = [w for w in found if len(w) > 1]
    return (longer or found)[:8]


def reference_number(q: str) -> int | None:
    """The ticket id a typed reference points at: `OAC-2026-000123`, `2026-000123`, `000123`, `123`."""
    m = _REFERENCE.match(q)
    if m:
        return int(m.group(2))
    m = _NUMBER.match(q)
    return int(m.group(1)) if m else None


def phone_numbers(q: str) -> set[str]:
    digits = "".join(ch for ch in q if ch.isdigit())
    if len(digits) < 6 or not set(q) <= _PHONE_CHARS:
        return set()
    from hub.phones import try_normalise

    return {n for n in (try_normalise(q), "+" + digits) if n}


def email_address(q: str) -> str | None:
    return q.lower() if "@" in q and " " not in q else None


# Readings as queries -----------------------------------------------------------------------


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _fts5_query(terms: list[str]) -> str:
    return " ".join(f'"{t}"*' for t in terms)


def _ts_query(terms: list[str], prefix: bool = True) -> str:
    return " & ".join(f"{t}:*" if prefix else t for t in terms)


# PostgreSQL: each searchable text's stored vector, `to_tsvector('simple', hub_unaccent(text))`
# written with the row (migration core_0006) and GIN-indexed: a match never recomputes it.
SEARCH_VECTORS = {"body": "messages.body_search", "subject": "tickets.subject_search"}


def _ts_match(column: Any, terms: list[str], prefix: bool = True) -> Any:
    """`<the column's stored vector> @@ <the query>` (`Message.body` or `Ticket.subject`)."""
    vector = literal_column(SEARCH_VECTORS[column.key])
    tsq = bindparam("tsq", _ts_query(terms, prefix), type_=String)
    query = func.to_tsquery(literal_column("'simple'::regconfig"), func.hub_unaccent(tsq))
    return vector.op("@@")(query)


def _fts5_rowids(table: str, terms: list[str]) -> Any:
    """Row ids of `table` whose FTS5 index matches every term (as prefixes): a subquery."""
    stmt = text(f"SELECT rowid FROM {table}_fts WHERE {table}_fts MATCH :m").bindparams(m=_fts5_query(terms))
    return select(stmt.columns(rowid=Ticket.id.type).subquery().c.rowid)  # type: ignore[attr-defined]


def contains_pattern(text: str) -> str:
    """A LIKE pattern (with `escape="\\"`) for `text` anywhere: its own % and _ match only themselves."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def contact_ids_by_name(session: AsyncSession, q: str) -> list[int]:
    """Contacts whose name (or unverified profile name) contains the text, ignoring case and accents."""
    q = q.strip()[:MAX_QUERY]
    if not q:
        return []
    if _is_postgres(session):
        pattern = contains_pattern(fold(q))
        stmt = select(Contact.id).where(or_(
            func.hub_unaccent(Contact.name).like(pattern, escape="\\"),
            func.hub_unaccent(Contact.display_hint).like(pattern, escape="\\"),
        )).limit(NAME_MATCHES)
        return [i for i in (await session.exec(stmt)).all() if i is not None]
    terms = words(q)
    if not terms:
        return []
    stmt = select(Contact.id).where(col(Contact.id).in_(_fts5_rowids("contacts", terms))).limit(NAME_MATCHES)
    return [i for i in (await session.exec(stmt)).all() if i is not None]


@dataclass
class Hit:
    ticket_id: int
    score: int
    matched: str  # reference | identity | name | subject | message | note
    message_id: int | None = None
    order: Any = None


@dataclass
class Found:
    hits: list[Hit]
    terms: list[str] = field(default_factory=list)


async def _ticket_ids(session: AsyncSession, where: list[Any], extra: Any, limit: int) -> list[int]:
    stmt = select(Ticket.id).where(*where, extra).order_by(col(Ticket.id).desc()).limit(limit)
    return [i for i in (await session.exec(stmt)).all() if i is not None]


async def _subject_ids(session: AsyncSession, where: list[Any], terms: list[str], limit: int) -> list[int]:
    if not _is_postgres(session):
        return await _ticket_ids(session, where, col(Ticket.id).in_(_fts5_rowids("tickets", terms)), limit)
    def through_index(match: Any) -> Any:
        # `id + 0` is not the primary key's order: the planner cannot walk it, it uses the text index
        return select(Ticket.id).where(*where, match).order_by((col(Ticket.id) + 0).desc()).limit(limit)

    whole = _ts_match(Ticket.subject, terms, prefix=False)
    if all(term.isdigit() for term in terms):
        # A number (a phone, a case file) is rare in subjects, but the statistics cannot say so
        # when subjects share one word ("Consulta 1234"): walking the newest tickets for it
        # read the whole table (250 ms at 1 M tickets), the index answers in 1 ms.
        found = [i for i in (await session.exec(through_index(whole))).all() if i is not None]
    else:
        found = await _ticket_ids(session, where, whole, limit)
    if found:
        return found  # whole words first, then prefixes (see _message_hits)
    return [i for i in (await session.exec(through_index(_ts_match(Ticket.subject, terms)))).all() if i is not None]


async def _message_hits(session: AsyncSession, where: list[Any], terms: list[str], limit: int) -> list[tuple[int, int, str]]:
    """(ticket id, latest matching message id, direction) of the tickets whose messages or notes match.

    Only the latest MESSAGE_MATCHES matching messages are looked at: a word found in every
    other message (a greeting) is then a walk down the newest messages, not a sort of millions.

    PostgreSQL: whole words first. Its statistics know how common a whole word is, so it
    chooses well between walking the newest messages (a common word) and the full-text index (a
    rare one); for prefixes it cannot tell, and walking for a rare one reads the whole table.
    Only when whole words find nothing are they taken as prefixes ("empadron" finds
    "empadronament"), through the index.
    """
    if not _is_postgres(session):
        return await _recent_matches(session, where, col(Message.id).in_(_fts5_rowids("messages", terms)), limit)
    found = await _recent_matches(session, where, _ts_match(Message.body, terms, prefix=False), limit)
    if found:
        return found
    return await _recent_matches(session, where, _ts_match(Message.body, terms), limit, by_index=True)


async def _recent_matches(session: AsyncSession, where: list[Any], matched: Any, limit: int,
                          by_index: bool = False) -> list[tuple[int, int, str]]:
    recent = select(Message.id, Message.ticket_id, Message.direction).where(matched)
    if where:
        recent = recent.join(Ticket, col(Ticket.id) == col(Message.ticket_id)).where(*where)
    # `id + 0` is not the primary key's order: the planner cannot walk it, it uses the text index
    order = (col(Message.id) + 0).desc() if by_index else col(Message.id).desc()
    rows = (await session.exec(recent.order_by(order).limit(MESSAGE_MATCHES))).all()
    latest: dict[int, tuple[int, str]] = {}
    for message_id, ticket_id, direction in rows:  # newest first: keep each ticket's latest match
        if ticket_id not in latest:
            latest[ticket_id] = (message_id, direction)
            if len(latest) >= limit:
                break
    return [(ticket_id, message_id, direction) for ticket_id, (message_id, direction) in latest.items()]


async def find(session: AsyncSession, f: TicketFilter, limit: int) -> Found:
    """The tickets the search text points at, best first (at most `limit`)."""
    q = (f.q or "").strip()[:MAX_QUERY]
    where = conditions(replace(f, before=None))
    best: dict[int, Hit] = {}

    def add(ticket_id: int, matched: str, message_id: int | None = None) -> None:
        hit = best.get(ticket_id)
        score = SCORES[matched]
        if hit is None:
            best[ticket_id] = Hit(ticket_id, score, matched, message_id)
        else:
            if score > hit.score:
                hit.matched, hit.message_id = matched, message_id or hit.message_id
            hit.score = max(hit.score, score) + 1  # matched in more than one way

    number = reference_number(q)
    if number is not None:
        for i in await _ticket_ids(session, where, col(Ticket.id) == number, 1):
            add(i, "reference")
    elif re.match(r"^[A-Za-z][A-Za-z0-9]*-", q):
        for i in await _ticket_ids(session, where, Ticket.reference == q.upper(), 1):
            add(i, "reference")
    address = email_address(q)
    numbers = phone_numbers(q)
    if address or numbers:
        ident = select(Identity.contact_id).where(
            Identity.kind == "email", Identity.value == address) if address else select(Identity.contact_id).where(
            Identity.kind == "phone", col(Identity.value).in_(numbers))
        for i in await _ticket_ids(session, where, col(Ticket.contact_id).in_(ident), BRANCH_LIMIT):
            add(i, "identity")
    terms = words(q)
    if not address and not numbers and terms and not (number is not None and q.isdigit() and len(q) <= 3):
        names = await contact_ids_by_name(session, q)
        if names:
            for i in await _ticket_ids(session, where, col(Ticket.contact_id).in_(names), BRANCH_LIMIT):
                add(i, "name")
    if terms and not address and not _REFERENCE.match(q):
        for i in await _subject_ids(session, where, terms, BRANCH_LIMIT):
            add(i, "subject")
        for ticket_id, message_id, direction in await _message_hits(session, where, terms, BRANCH_LIMIT):
            add(ticket_id, "note" if direction == "note" else "message", message_id)
    if not best:
        return Found([], terms)
    activity = dict((await session.exec(
        select(Ticket.id, func.coalesce(Ticket.last_activity_at, Ticket.created_at)).where(col(Ticket.id).in_(list(best)))
    )).all())
    hits = sorted(best.values(), key=lambda h: (h.score, activity.get(h.ticket_id), h.ticket_id), reverse=True)
    return Found(hits[:limit], terms)


# Highlighting ------------------------------------------------------------------------------


def highlight(value: str, terms: list[str], width: int = 160) -> tuple[str, list[tuple[int, int]]]:
    """A piece of `value` around the first match, and the spans (start, end) of every term in it.

    Plain text and offsets, never markup: the page escapes the text and marks the spans.
    """
    folded = fold(value)
    spans: list[tuple[int, int]] = []
    for term in terms:
        start = 0
        while term and (pos := folded.find(term, start)) >= 0:
            end = pos + len(term)
            while end < len(folded) and folded[end].isalnum():  # prefix match: mark the whole word
                end += 1
            spans.append((pos, end))
            start = end
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    if len(value) <= width:
        return value, merged
    first = merged[0][0] if merged else 0
    begin = max(0, min(first - width // 3, len(value) - width))
    piece = value[begin:begin + width]
    shift = [(s - begin, min(e - begin, width)) for s, e in merged if s >= begin and s < begin + width]
    prefix = "…" if begin > 0 else ""
    suffix = "…" if begin + width < len(value) else ""
    return prefix + piece + suffix, [(s + len(prefix), e + len(prefix)) for s, e in shift]


def pieces(value: str, spans: list[tuple[int, int]]) -> list[tuple[str, bool]]:
    """The text cut at the spans: (text, matched) pairs for a template to escape and mark."""
    out: list[tuple[str, bool]] = []
    at = 0
    for s, e in spans:
        if s > at:
            out.append((value[at:s], False))
        out.append((value[s:e], True))
        at = e
    if at < len(value):
        out.append((value[at:], False))
    return out
