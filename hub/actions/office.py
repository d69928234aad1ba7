"""The office's calendar as the hub uses it: environment defaults, admins' changes, closing time.

The environment (`HUB_OFFICE_HOURS`, `HUB_HOLIDAYS`, `HUB_TIMEZONE`) gives the defaults; an
admin's weekly hours and one-off closures are run-time options (`options` table) and win.
`calendar_in(uow)` reads them once per transaction. `do_follow_the_calendar` is the
scheduler's part: at closing, agents who are available but hold no ticket switch to away (an
agent busy on a ticket stays as they are); at opening, the queue is drained.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlmodel import col, select

from hub import events
from hub.actions.audit import add_audit
from hub.actions.errors import Invalid
from hub.actions.permissions import Who, acting, check_admin
from hub.actions.routing import set_presence
from hub.actions.unit import UnitOfWork
from hub.calendar import CalendarError, Closure, OfficeCalendar, parse_holidays, parse_office_hours
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Agent, Option, Ticket
from hub.texts import describe_opening
from hub.tickets import OWNED_STATUSES

HOURS_OPTION = "calendar.office_hours"
CLOSURES_OPTION = "calendar.closures"
STATE_OPTION = "calendar.last_state"  # "open" or "closed", as the scheduler last saw it
_REASON_MAX = 200


def build_calendar(settings: Settings, hours: str | None, closures: Any) -> OfficeCalendar:
    closed = tuple(
        Closure(date.fromisoformat(c["first"]), date.fromisoformat(c["last"]), str(c.get("reason") or ""))
        for c in (closures or [])
    )
    return OfficeCalendar(
        parse_office_hours(hours or settings.office_hours), settings.timezone,
        parse_holidays(settings.holidays), closed, settings.language,
    )


async def _options(session: Any) -> tuple[str | None, Any]:
    rows = {r.key: r.value for r in (await session.exec(
        select(Option).where(col(Option.key).in_([HOURS_OPTION, CLOSURES_OPTION]))
    )).all()}
    return rows.get(HOURS_OPTION), rows.get(CLOSURES_OPTION)


async def calendar_in(uow: UnitOfWork) -> OfficeCalendar:
    """The calendar in force, read once per transaction."""
    calendar = uow.cache.get("calendar")
    if calendar is None:
        calendar = uow.cache["calendar"] = build_calendar(uow.ctx.settings, *await _options(uow.session))
    return calendar


async def opening_in(uow: UnitOfWork, language: str) -> str:
    """When the office opens next, in words (`describe_opening`), once per transaction and
    language: a batch of mails arriving after hours tells each citizen the same opening."""
    calendar = await calendar_in(uow)
    openings: dict[str, str] = uow.cache.setdefault("openings", {})
    if language not in openings:
        openings[language] = describe_opening(calendar.next_opening(uow.now), uow.now, calendar.timezone, language)
    return openings[language]


async def office_calendar(ctx: HubContext) -> OfficeCalendar:
    async with ctx.sessionmaker() as session:
        return build_calendar(ctx.settings, *await _options(session))


async def _set_option(uow: UnitOfWork, key: str, value: Any) -> None:
    row = await uow.session.get(Option, key, with_for_update=True)
    if row is None:
        row = Option(key=key, value=value, updated_at=uow.now)
    else:
        row.value, row.updated_at = value, uow.now
    uow.session.add(row)
    uow.cache.pop("calendar", None)
    uow.cache.pop("openings", None)


async def do_set_office_hours(ctx: HubContext, actor_id: Who, text: str) -> str:
    """Replace the weekly hours (`HUB_OFFICE_HOURS` syntax; empty goes back to the environment's).
    Admins only (`actor_id`: an actor or an agent id; None is the system), like the closures."""
    text = text.strip()
    if text:
        try:
            text = parse_office_hours(text, "office hours").format()
        except CalendarError as exc:
            raise Invalid(str(exc)) from None
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, actor_id)
        check_admin(actor)
        await _set_option(uow, HOURS_OPTION, text or None)
        add_audit(uow, actor.agent_id, "calendar.hours", "calendar", None, hours=text or "default")
        uow.emit(events.CalendarChanged())
    return text or ctx.settings.office_hours


async def do_add_closure(ctx: HubContext, actor_id: Who, first: date, last: date | None, reason: str) -> Closure:
    """Close the office from `first` to `last` (inclusive; one day when `last` is None)."""
    reason = " ".join(reason.split())[:_REASON_MAX]
    if not reason:
        raise Invalid("a closure needs a reason")
    try:
        closure = Closure(first, last or first, reason)
    except CalendarError as exc:
        raise Invalid(str(exc)) from None
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, actor_id)
        check_admin(actor)
        row = await uow.session.get(Option, CLOSURES_OPTION, with_for_update=True)
        closures = list(row.value or []) if row is not None else []
        entry = {"first": closure.first.isoformat(), "last": closure.last.isoformat(), "reason": closure.reason}
        if entry not in closures:
            closures.append(entry)
        closures.sort(key=lambda c: (c["first"], c["last"]))
        await _set_option(uow, CLOSURES_OPTION, closures)
        add_audit(uow, actor.agent_id, "calendar.closure.add", "calendar", entry["first"], last=entry["last"])
        uow.emit(events.CalendarChanged())
    return closure


async def do_remove_closure(ctx: HubContext, actor_id: Who, first: date, last: date) -> bool:
    async with UnitOfWork(ctx) as uow:
        actor = await acting(uow.session, actor_id)
        check_admin(actor)
        row = await uow.session.get(Option, CLOSURES_OPTION, with_for_update=True)
        closures = list(row.value or []) if row is not None else []
        kept = [c for c in closures if (c["first"], c["last"]) != (first.isoformat(), last.isoformat())]
        if len(kept) == len(closures):
            return False
        await _set_option(uow, CLOSURES_OPTION, kept)
        add_audit(uow, actor.agent_id, "calendar.closure.remove", "calendar", first.isoformat(), last=last.isoformat())
        uow.emit(events.CalendarChanged())
    return True


async def do_follow_the_calendar(ctx: HubContext) -> str | None:
    """At a change between open and closed, act on it once. Returns "opened", "closed" or None.

    Closing: available agents holding no open ticket switch to away (so nothing is pushed to
    someone who forgot to go offline). Opening: the caller drains the queue.
    """
    async with UnitOfWork(ctx) as uow:
        calendar = await calendar_in(uow)
        now_open = "open" if calendar.is_open(uow.now) else "closed"
        row = await uow.session.get(Option, STATE_OPTION, with_for_update=True)
        before = row.value if row is not None else None
        if before == now_open:
            return None
        await _set_option(uow, STATE_OPTION, now_open)
        if before is None:
            return None  # first sight: remember, do not act on a change we did not see
        if now_open == "open":
            return "opened"
        busy = select(Ticket.assignee_id).where(
            col(Ticket.status).in_([s.value for s in OWNED_STATUSES]), col(Ticket.assignee_id).is_not(None),
        )
        idle = (await uow.session.exec(select(Agent).where(
            Agent.active == True, Agent.presence == "available", col(Agent.id).not_in(busy),  # noqa: E712
        ).with_for_update())).all()
        for agent in idle:
            set_presence(uow, agent, "away", None, reason="office closed")
        return "closed"
