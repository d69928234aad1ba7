"""The office's calendar in the UI and API: weekly hours and one-off closures (admins change
them in Settings), the current state for everyone, and an iCalendar feed of closures.

The feed (`/calendar/{token}/closures.ics`) is for the staff's calendar apps, which cannot log
in: its address carries a token derived from `HUB_SECRET_KEY` (shown to logged-in staff on the
settings page; changing the secret key changes the address). It lists public holidays, local
days and closures for the past 60 days and the next 400, nothing personal.
"""

from __future__ import annotations

import hmac
from datetime import date, datetime, timedelta
from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect

from agent_ui.i18n import translate
from agent_ui.security import derive, requires_role
from agent_ui.web import flash
from hub.actions.errors import Invalid, NotFound
from hub.actions.office import do_add_closure, do_remove_closure, do_set_office_hours, office_calendar
from hub.actors import Actor
from hub.calendar import OfficeCalendar
from hub.context import HubContext

FEED_DAYS_BEFORE, FEED_DAYS_AFTER = 60, 400


class ClosureOut(msgspec.Struct):
    first: date
    last: date
    reason: str


class OfficeHours(msgspec.Struct):
    hours: str  # HUB_OFFICE_HOURS syntax
    timezone: str
    holidays: str  # HUB_HOLIDAYS (environment only)
    open_now: bool
    next_opening: datetime | None
    closes_at: datetime | None
    closures: list[ClosureOut]
    sla_first_response_s: float


class OfficeHoursUpdate(msgspec.Struct, forbid_unknown_fields=True):
    hours: Annotated[str, msgspec.Meta(max_length=500)]  # empty: back to HUB_OFFICE_HOURS


class ClosureIn(msgspec.Struct, forbid_unknown_fields=True):
    first: date
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    last: date | None = None


class HoursForm(msgspec.Struct):
    hours: str = ""


class ClosureForm(msgspec.Struct):
    first: str = ""
    last: str = ""
    reason: str = ""


def feed_token(ctx: HubContext) -> str:
    return derive(ctx.settings.secret_key, "closures-feed")[:32]


def describe(ctx: HubContext, calendar: OfficeCalendar) -> OfficeHours:
    now = ctx.clock.now()
    return OfficeHours(
        hours=calendar.hours.format(), timezone=calendar.timezone, holidays=ctx.settings.holidays,
        open_now=calendar.is_open(now), next_opening=calendar.next_opening(now), closes_at=calendar.next_closing(now),
        closures=[ClosureOut(c.first, c.last, c.reason) for c in calendar.closures],
        sla_first_response_s=ctx.settings.sla_first_response.total_seconds(),
    )


@get("/api/v1/office-hours", tags=["office hours"])
async def get_office_hours(ctx: NamedDependency[HubContext]) -> OfficeHours:
    """The calendar in force: weekly hours, closures, whether the office is open and when it opens."""
    return describe(ctx, await office_calendar(ctx))


@put("/api/v1/office-hours", guards=[requires_role("admin")], tags=["office hours"])
async def put_office_hours(actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                           data: JSONBody[OfficeHoursUpdate]) -> OfficeHours:
    """Weekly hours in the `HUB_OFFICE_HOURS` syntax; an empty string goes back to the environment's."""
    await do_set_office_hours(ctx, actor, data.hours)
    return describe(ctx, await office_calendar(ctx))


@post("/api/v1/office-hours/closures", guards=[requires_role("admin")], tags=["office hours"], status_code=201)
async def post_closure(actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                       data: JSONBody[ClosureIn]) -> OfficeHours:
    """Close the office on a date or a range of dates (inclusive), with a reason."""
    await do_add_closure(ctx, actor, data.first, data.last, data.reason)
    return describe(ctx, await office_calendar(ctx))


@delete("/api/v1/office-hours/closures/{first:date}/{last:date}", guards=[requires_role("admin")],
        tags=["office hours"], status_code=204)
async def delete_closure(actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                         first: FromPath[date], last: FromPath[date]) -> None:
    if not await do_remove_closure(ctx, actor, first, last):
        raise NotFound("no such closure")


# Settings page forms -------------------------------------------------------------------------


@post("/settings/office-hours", guards=[requires_role("admin")], include_in_schema=False)
async def hours_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                     data: URLEncodedBody[HoursForm]) -> Redirect:
    try:
        await do_set_office_hours(ctx, actor, data.hours)
        flash(request, translate(request, "Office hours saved."), "success")
    except Invalid:
        flash(request, translate(
            request, "Write the hours like mon-thu 08:30-14:30,16:00-18:00; fri 08:30-14:30 (or always)."), "error")
    return Redirect("/settings#office-title", status_code=303)


@post("/settings/closures", guards=[requires_role("admin")], include_in_schema=False)
async def closure_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                       data: URLEncodedBody[ClosureForm]) -> Redirect:
    try:
        first = date.fromisoformat(data.first.strip())
        last = date.fromisoformat(data.last.strip()) if data.last.strip() else None
        await do_add_closure(ctx, actor, first, last, data.reason)
        flash(request, translate(request, "Closure added."), "success")
    except (ValueError, Invalid):
        flash(request, translate(request, "A closure needs a first day, an optional last day not before it, and a reason."),
              "error")
    return Redirect("/settings#office-title", status_code=303)


@post("/settings/closures/remove", guards=[requires_role("admin")], include_in_schema=False)
async def closure_remove_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                              data: URLEncodedBody[ClosureForm]) -> Redirect:
    try:
        await do_remove_closure(ctx, actor, date.fromisoformat(data.first), date.fromisoformat(data.last))
        flash(request, translate(request, "Closure removed."), "success")
    except ValueError:
        flash(request, translate(request, "Unknown closure."), "error")
    return Redirect("/settings#office-title", status_code=303)


# The iCalendar feed --------------------------------------------------------------------------


@get("/calendar/{token:str}/closures.ics", exclude_from_auth=True, include_in_schema=False)
async def closures_feed(ctx: NamedDependency[HubContext], token: FromPath[str]) -> Response[bytes]:
    if not hmac.compare_digest(token.encode(), feed_token(ctx).encode()):
        raise NotFound("no such calendar")
    calendar = await office_calendar(ctx)
    today = calendar.local_date(ctx.clock.now())
    return Response(
        closures_ics(calendar, today - timedelta(days=FEED_DAYS_BEFORE), today + timedelta(days=FEED_DAYS_AFTER),
                     ctx.settings.office_name, ctx.clock.now()),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'inline; filename="closures.ics"', "Cache-Control": "private, max-age=300"},
    )


def closures_ics(calendar: OfficeCalendar, first: date, last: date, office: str, now: datetime) -> bytes:
    """Every day the office is closed in [first, last] that it would otherwise open: one
    all-day event per holiday or local day, one per closure (its whole range)."""
    import icalendar

    cal = icalendar.Calendar()
    cal.add("prodid", "-//contact-hub//office closures//EN")
    cal.add("version", "2.0")
    cal.add("x-wr-calname", f"{office}: closures")
    for closure in calendar.closures:
        if closure.last < first or closure.first > last:
            continue
        cal.add_component(_event(f"closure-{closure.first}-{closure.last}", closure.first, closure.last,
                                 closure.reason, now))
    for off in calendar.days_off(first, last):
        if off.kind == "closure":
            continue
        cal.add_component(_event(f"{off.kind}-{off.day}", off.day, off.day, off.reason or "Local holiday", now))
    return cal.to_ical()


def _event(uid: str, first: date, last: date, summary: str, now: datetime) -> Any:
    import icalendar

    event = icalendar.Event()
    event.add("uid", f"{uid}@contact-hub")
    event.add("dtstamp", now)
    event.add("dtstart", first)
    event.add("dtend", last + timedelta(days=1))  # all-day events end the day after (RFC 5545)
    event.add("summary", summary)
    event.add("transp", "TRANSPARENT")
    return event


ROUTES = [get_office_hours, put_office_hours, post_closure, delete_closure, hours_form, closure_form,
          closure_remove_form, closures_feed]
