"""Calls in the web UI and the JSON API: log a call, look a caller up, the calls list, the
ringing banner, and merging two contacts that are one citizen.

Pages: `GET /calls` (call-backs to do, calls to file, recent calls, who is ringing),
`GET /calls/new` + `POST /calls` (the log-a-call form; `?number=` looks the caller up, also
without JavaScript), fragments `GET /calls/lookup?number=` and `GET /calls/ringing`,
`GET/POST /contacts/merge`.
API: `POST /api/v1/calls`, `GET /api/v1/calls`, `GET /api/v1/calls/lookup?number=`,
`POST /api/v1/contacts/{id}/merge {"into": id}`. Writes go through `hub.actions.calls` and
`hub.actions.merge`.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template
from sqlmodel import col, select

from agent_ui.errors import localised
from agent_ui.i18n import translate
from agent_ui.limits import Id, QueryId, parse_id
from agent_ui.web import back, flash, page
from hub.actions.calls import CallEntry, CallerLookup, do_log_call, list_calls, lookup_caller
from hub.actions.contacts import find_contact
from hub.actions.errors import DomainError, Invalid, NotFound
from hub.actions.merge import do_merge_contacts
from hub.actions.unit import UnitOfWork
from hub.actions.office import office_calendar
from hub.actors import Actor
from hub.context import HubContext
from hub.db.tables import Call, Contact, Identity, Ticket
from hub.inbound import IdentityIn
from hub.phones import display

Number = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
Topic = Annotated[str, msgspec.Meta(max_length=200)]
Notes = Annotated[str, msgspec.Meta(max_length=20_000)]
Seconds = Annotated[int, msgspec.Meta(ge=0, le=12 * 3600)]
RINGING_WITHIN = timedelta(minutes=10)


# API shapes --------------------------------------------------------------------------------


class CallIn(msgspec.Struct, forbid_unknown_fields=True):
    """A call to log. No `ticket_id`: an answered call opens a phone ticket resolved on the call
    (or left in the queue with `follow_up`), an unanswered inbound one a call-back task.
    `call_id` files a call Twilio logged already (topic, notes, ticket)."""

    number: Number | None = None
    direction: Literal["inbound", "outbound"] = "inbound"
    outcome: Literal["answered", "missed", "voicemail", "busy"] = "answered"
    started_at: datetime | None = None
    duration_s: Seconds = 0
    topic: Topic = ""
    notes: Notes = ""
    agent_id: Id | None = None
    ticket_id: Id | None = None
    follow_up: bool = False
    resolve: bool = False
    call_id: Id | None = None


class LoggedCallOut(msgspec.Struct):
    call_id: int
    ticket_id: int | None
    contact_id: int | None
    new_ticket: bool
    called_back_ticket_ids: list[int]


class CallOut(msgspec.Struct):
    id: int
    number: str
    direction: str
    state: str
    outcome: str | None
    started_at: datetime
    answered_at: datetime | None
    ended_at: datetime | None
    duration_s: int | None
    wait_s: int | None
    topic: str
    notes: str
    agent_id: int | None
    ticket_id: int | None
    contact_id: int | None
    done: bool
    provider_id: str | None


class TicketBrief(msgspec.Struct):
    id: int
    reference: str | None
    channel: str
    kind: str
    status: str
    subject: str
    created_at: datetime


class ContactBrief(msgspec.Struct):
    id: int
    name: str
    display_hint: str
    identities: list[dict[str, str]]


class LookupOut(msgspec.Struct):
    number: str
    contact: ContactBrief | None
    open_tickets: list[TicketBrief]
    recent_tickets: list[TicketBrief]
    recent_calls: list[CallOut]


class MergeIn(msgspec.Struct, forbid_unknown_fields=True):
    into: Id


class MergedOut(msgspec.Struct):
    survivor_id: int
    merged_id: int
    identities: int
    tickets: int
    messages: int
    calls: int


def call_out(call: Call) -> CallOut:
    return msgspec.convert(call, CallOut, from_attributes=True)


def ticket_brief(ticket: Ticket) -> TicketBrief:
    return msgspec.convert(ticket, TicketBrief, from_attributes=True)


def _entry(data: CallIn, actor: Actor) -> CallEntry:
    if data.call_id is None and not data.number:
        raise Invalid("a call needs the citizen's number (or call_id to file a logged call)")
    return CallEntry(
        number=data.number or "", direction=data.direction, outcome=data.outcome, started_at=data.started_at,
        duration_s=data.duration_s, topic=data.topic, notes=data.notes, agent_id=data.agent_id or actor.agent_id,
        ticket_id=data.ticket_id, follow_up=data.follow_up, resolve=data.resolve, call_id=data.call_id,
    )


async def _lookup_out(ctx: HubContext, found: CallerLookup) -> LookupOut:
    contact = None
    if found.contact is not None and found.contact.id is not None:
        async with ctx.sessionmaker() as session:
            idents = (await session.exec(select(Identity).where(Identity.contact_id == found.contact.id)
                                         .order_by(col(Identity.id)))).all()
        contact = ContactBrief(found.contact.id, found.contact.name, found.contact.display_hint,
                               [{"kind": i.kind, "value": i.value} for i in idents])
    return LookupOut(
        found.number, contact, [ticket_brief(t) for t in found.open_tickets],
        [ticket_brief(t) for t in found.recent_tickets], [call_out(c) for c in found.recent_calls],
    )


# API -----------------------------------------------------------------------------------------


@post("/api/v1/calls", tags=["calls"], status_code=201)
async def api_log_call(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], data: JSONBody[CallIn],
) -> LoggedCallOut:
    """Log a call (number normalised to E.164 in the office's region, `anonymous` accepted);
    managers may log one on a colleague's behalf (`agent_id`)."""
    logged = await do_log_call(ctx, _entry(data, actor), by=actor)
    return LoggedCallOut(logged.call_id, logged.ticket_id, logged.contact_id, logged.new_ticket,
                         list(logged.called_back_ticket_ids))


@get("/api/v1/calls", tags=["calls"])
async def api_list_calls(
    ctx: NamedDependency[HubContext], pending: FromQuery[bool] = False, unfiled: FromQuery[bool] = False,
    before: QueryId = None, limit: FromQuery[Annotated[int, msgspec.Meta(ge=1, le=500)]] = 50,
) -> list[CallOut]:
    """Calls, newest first. `pending`: missed calls not called back; `unfiled`: on no ticket."""
    calls = await list_calls(ctx, limit=limit, before_id=before, pending_call_backs=pending, unfiled=unfiled)
    return [call_out(c) for c in calls]


@get("/api/v1/calls/lookup", tags=["calls"])
async def api_lookup(ctx: NamedDependency[HubContext], number: FromQuery[Number]) -> LookupOut:
    """Who is calling: the contact of a number, open and recent tickets on every channel, calls."""
    return await _lookup_out(ctx, await lookup_caller(ctx, number))


@post("/api/v1/contacts/{contact_id:int}/merge", tags=["contacts"], status_code=200)
async def api_merge(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], contact_id: FromPath[int],
    data: JSONBody[MergeIn],
) -> MergedOut:
    """Merge this contact into `into`: identities, tickets, messages and calls move; nothing is lost."""
    merged = await do_merge_contacts(ctx, contact_id, data.into, actor)
    return MergedOut(merged.survivor_id, merged.merged_id, merged.identities, merged.tickets, merged.messages,
                     merged.calls)


# Pages ---------------------------------------------------------------------------------------


class CallForm(msgspec.Struct):
    number: str = ""
    direction: str = "inbound"
    outcome: str = "answered"
    started_at: str = ""  # <input type="datetime-local">, the office's time zone
    duration: str = ""  # "mm:ss", "h:mm:ss" or minutes
    topic: str = ""
    notes: str = ""
    ticket: str = "new"  # new | follow_up | <ticket id>
    resolve: str = ""
    call_id: str = ""


_DURATION = re.compile(r"^(?:(\d+):)?(\d+):(\d{1,2})$")


def parse_duration(text: str) -> int:
    """`4:30` (minutes:seconds), `1:04:30`, or a number of minutes (`5`, `2.5`)."""
    text = text.strip().replace(",", ".")
    if not text:
        return 0
    match = _DURATION.match(text)
    if match:
        hours, minutes, seconds = (int(g or 0) for g in match.groups())
        if seconds >= 60:
            raise Invalid("seconds go from 0 to 59")
        return hours * 3600 + minutes * 60 + seconds
    try:
        minutes_f = float(text)
    except ValueError:
        raise Invalid("write the duration as minutes:seconds, e.g. 4:30") from None
    if minutes_f < 0:
        raise Invalid("duration must be between 0 seconds and 12 hours")
    return round(minutes_f * 60)


def _on_field(exc: Invalid, field: str) -> Invalid:
    """Which field of the call form an error is about (the page ties the message to it)."""
    exc.field = field  # type: ignore[attr-defined]
    return exc


def _form_entry(form: CallForm, actor: Actor, tz: str) -> CallEntry:
    started = None
    if form.started_at.strip():
        try:
            started = datetime.fromisoformat(form.started_at.strip()).replace(tzinfo=ZoneInfo(tz))
        except ValueError:
            raise _on_field(Invalid("the start is not a date and time"), "started_at") from None
    ticket_id = parse_id(form.ticket)
    try:
        duration_s = parse_duration(form.duration) if form.outcome == "answered" else 0
    except Invalid as exc:
        raise _on_field(exc, "duration") from None
    return CallEntry(
        number=form.number, direction=form.direction, outcome=form.outcome, started_at=started,
        duration_s=duration_s,
        topic=form.topic, notes=form.notes, agent_id=actor.agent_id, ticket_id=ticket_id,
        follow_up=form.ticket == "follow_up", resolve=ticket_id is not None and form.resolve == "on",
        call_id=parse_id(form.call_id),
    )


async def _names(ctx: HubContext, contact_ids: set[int]) -> dict[int, str]:
    if not contact_ids:
        return {}
    async with ctx.sessionmaker() as session:
        rows = (await session.exec(select(Contact).where(col(Contact.id).in_(contact_ids)))).all()
    return {c.id: c.name or c.display_hint for c in rows if c.id is not None}


@get("/calls", include_in_schema=False)
async def calls_page(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> Template:
    pending = await list_calls(ctx, pending_call_backs=True, limit=100)
    unfiled = await list_calls(ctx, unfiled=True, limit=50)
    recent = await list_calls(ctx, limit=50)
    names = await _names(ctx, {c.contact_id for c in pending + unfiled + recent if c.contact_id})
    region = ctx.settings.phone_region
    calendar = await office_calendar(ctx)

    def outside_hours(call: Any) -> bool:  # an unanswered inbound call while the office was closed
        return call.direction == "inbound" and call.outcome not in (None, "answered") and not calendar.is_open(call.started_at)

    return page("calls/list.html", request, nav="calls", pending=pending, unfiled=unfiled, recent=recent,
                names=names, callers=await _ringing(ctx), show=lambda n: display(n, region),
                outside_hours=outside_hours)


@get("/calls/new", include_in_schema=False)
async def new_call_page(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], number: FromQuery[str] = "",
    call_id: QueryId = None,
) -> Template:
    call = None
    if call_id is not None:
        async with ctx.sessionmaker() as session:
            call = await session.get(Call, call_id)
        if call is not None and not number:
            number = call.number
    found, error = await _try_lookup(ctx, number)
    return page("calls/new.html", request, nav="calls", number=number, call=call, found=found, error=error,
                show=lambda n: display(n, ctx.settings.phone_region))


async def _try_lookup(ctx: HubContext, number: str) -> tuple[CallerLookup | None, str]:
    if not number.strip():
        return None, ""
    try:
        return await lookup_caller(ctx, number), ""
    except Invalid as exc:
        return None, str(exc)


@get("/calls/lookup", include_in_schema=False)
async def lookup_fragment(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], number: FromQuery[str] = "",
) -> Template:
    found, error = await _try_lookup(ctx, number)
    return page("calls/_lookup.html", request, found=found, error=error,
                show=lambda n: display(n, ctx.settings.phone_region))


@post("/calls", include_in_schema=False)
async def log_call_form(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
    data: URLEncodedBody[CallForm],
) -> Redirect | Template:
    try:
        logged = await do_log_call(ctx, _form_entry(data, actor, ctx.settings.timezone), by=actor)
    except DomainError as exc:
        # The form again, as typed, with the message beside the field it is about (422).
        field = getattr(exc, "field", None) or ("number" if isinstance(exc, Invalid) and not data.call_id else None)
        call = None
        call_id = parse_id(data.call_id)
        if call_id is not None:
            async with ctx.sessionmaker() as session:
                call = await session.get(Call, call_id)
        return page("calls/new.html", request, status_code=422, nav="calls", number=data.number, call=call,
                    found=None, error="", form=data, form_error=localised(request, exc), error_field=field,
                    show=lambda n: display(n, ctx.settings.phone_region))
    if logged.called_back_ticket_ids:
        flash(request, translate(request, "Call logged. The call-back is done."), "success")
    elif logged.ticket_id is None:
        flash(request, translate(request, "Call logged."), "success")
    else:
        flash(request, translate(request, "Call logged on ticket %(id)s.") % {"id": logged.ticket_id}, "success")
    return Redirect("/calls", status_code=303)


@get("/calls/ringing", include_in_schema=False)
async def ringing_fragment(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], banner: FromQuery[bool] = False,
) -> Template:
    """Calls ringing now, with who is calling and their open consultations. `banner=1` renders
    nothing while no call rings, for a live region on every page:
    `<div data-live-src="/calls/ringing?banner=1" data-live-events="call_ringing call_changed"></div>`."""
    return page("calls/_ringing.html", request, callers=await _ringing(ctx), banner=banner,
                show=lambda n: display(n, ctx.settings.phone_region))


async def _ringing(ctx: HubContext) -> list[tuple[Call, CallerLookup | None]]:
    since = ctx.clock.now() - RINGING_WITHIN
    async with ctx.sessionmaker() as session:
        calls = list((await session.exec(
            select(Call).where(Call.state == "ringing", col(Call.started_at) >= since)
            .order_by(col(Call.started_at).desc()).limit(5)
        )).all())
    callers = []
    for call in calls:
        found = await lookup_caller(ctx, call.number) if call.number != "anonymous" else None
        callers.append((call, found))
    return callers


class MergeForm(msgspec.Struct):
    merge: str = ""
    into: str = ""
    confirm: str = ""


async def _contact_by_identity(ctx: HubContext, text: str) -> Contact:
    """`#12` (a contact number), an email address or a phone number -> the contact."""
    text = text.strip()
    async with UnitOfWork(ctx) as uow:
        if text.startswith("#"):
            number = parse_id(text[1:])
            contact = await uow.session.get(Contact, number) if number is not None else None
        elif "@" in text:
            contact = await find_contact(uow, [IdentityIn("email", text.lower())])
        else:
            from hub.actions.calls import check_number

            contact = await find_contact(uow, [IdentityIn("phone", check_number(ctx, text))])
    if contact is None:
        raise NotFound(f"no contact is known as {text!r}")
    return contact


@get("/contacts/merge", include_in_schema=False)
async def merge_page(request: Request[Any, Any, Any], merge: FromQuery[str] = "", into: FromQuery[str] = "") -> Template:
    return page("calls/merge.html", request, nav="calls", merge=merge, into=into)


@post("/contacts/merge", include_in_schema=False)
async def merge_form(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
    data: URLEncodedBody[MergeForm],
) -> Redirect | Template:
    field = "merge"
    try:
        source = await _contact_by_identity(ctx, data.merge)
        field = "into"
        target = await _contact_by_identity(ctx, data.into)
        field = "confirm"
        if data.confirm != "on":
            raise Invalid(translate(request, "Tick the box to confirm that both are the same person."))
        assert source.id is not None and target.id is not None
        field = ""
        merged = await do_merge_contacts(ctx, source.id, target.id, actor)
    except DomainError as exc:
        # The form again as typed, the message under the field it is about (422).
        return page("calls/merge.html", request, status_code=422, nav="calls", merge=data.merge, into=data.into,
                    form_error=localised(request, exc), error_field=field)
    flash(request, translate(request, "Contacts merged: %(tickets)s tickets and %(calls)s calls moved.") % {
        "tickets": merged.tickets, "calls": merged.calls}, "success")
    return Redirect("/calls", status_code=303)


ROUTES = [
    api_log_call, api_list_calls, api_lookup, api_merge,
    calls_page, new_call_page, lookup_fragment, log_call_form, ringing_fragment, merge_page, merge_form,
]
