"""The agents' pages: the queue (three lanes, filters, search) and one ticket (contact panel,
timeline, reply box, actions). Forms post here and redirect back (they work without script);
`static/hub.js` keeps the lanes and the timeline live.

Like the JSON API (`agent_ui.api`), a form handler parses, calls the action with the signed-in
`actor` and renders: permission and audit are the action's.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from agent_ui.errors import localised
from agent_ui.replies import MAX_UPLOAD_BYTES, file_hint, megabytes, read_reply
from agent_ui.i18n import translate
from agent_ui.limits import parse_id
from agent_ui.web import back, flash, page
from hub import views
from hub.actions.errors import DomainError, Forbidden
from hub.actions.lifecycle import do_assign, do_rename_contact, do_resolve, do_take_next, do_unassign
from hub.actions.messages import do_add_note, do_reply
from hub.actions.office import office_calendar
from hub.actions.reads import read_ticket
from hub.actions.reopen import do_reopen
from hub.actions.seen import do_mark_seen
from hub.actions.topics import list_topics
from hub.actors import Actor
from hub.channel_rules import known_channels, rules_for
from hub.context import HubContext
from hub.sla import DeskClocks


class QueueFilter(msgspec.Struct):
    channel: str | None = None
    q: str | None = None
    topic: int | None = None


class TextForm(msgspec.Struct):
    body: str = ""


class AssignForm(msgspec.Struct):
    agent_id: str = ""


class ResolveForm(msgspec.Struct):
    send_survey: str = ""
    then: str = ""  # "next": resolve and take the next waiting consultation


class NameForm(msgspec.Struct):
    name: str = ""
    ticket_id: str = ""


def _clean(channel: str | None, q: str | None) -> tuple[str | None, str | None]:
    return (channel if channel in known_channels() else None), ((q or "").strip()[:100] or None)


def _topic_id(topic: str | None) -> int | None:
    return parse_id(topic) if topic else None


def _lanes_url(channel: str | None, q: str | None, topic: int | None = None, sort: str | None = None) -> str:
    from urllib.parse import urlencode

    params = {k: v for k, v in (("channel", channel), ("q", q), ("topic", topic), ("sort", sort)) if v}
    return "/queue/lanes" + (f"?{urlencode(params)}" if params else "")


@get("/", include_in_schema=False)
async def queue_page(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
    channel: FromQuery[str | None] = None, q: FromQuery[str | None] = None, topic: FromQuery[str | None] = None,
    sort: FromQuery[str | None] = None,
) -> Template:
    channel, q = _clean(channel, q)
    topic_id = _topic_id(topic)
    sort = sort if sort in views.MINE_ORDERS and sort != "activity" else None
    async with ctx.reads() as session:
        lanes = await views.queue(session, actor.agent_id, channel=channel, q=q, topic_id=topic_id,
                                  mine_sort=sort or "activity")
    return page("queue/index.html", request, nav="queue", lanes=lanes, channel=channel, q=q or "",
                channels=known_channels(), lanes_url=_lanes_url(channel, q, topic_id, sort), topic_id=topic_id, sort=sort,
                topics=await list_topics(ctx, include_inactive=False), desk=await desk_clocks(ctx))


@get("/queue/lanes", include_in_schema=False)
async def queue_lanes(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
    channel: FromQuery[str | None] = None, q: FromQuery[str | None] = None, topic: FromQuery[str | None] = None,
    sort: FromQuery[str | None] = None,
) -> Template:
    channel, q = _clean(channel, q)
    topic_id = _topic_id(topic)
    sort = sort if sort in views.MINE_ORDERS and sort != "activity" else None
    async with ctx.reads() as session:
        lanes = await views.queue(session, actor.agent_id, channel=channel, q=q, topic_id=topic_id,
                                  mine_sort=sort or "activity")
    return page("queue/_lanes.html", request, lanes=lanes, desk=await desk_clocks(ctx))


@post("/queue/next", include_in_schema=False)
async def take_next_form(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                         actor: NamedDependency[Actor]) -> Redirect:
    ticket_id = await do_take_next(ctx, actor)
    if ticket_id is None:
        flash(request, translate(request, "Nobody is waiting."), "info")
        return Redirect("/", status_code=303)
    return Redirect(f"/tickets/{ticket_id}", status_code=303)


async def desk_clocks(ctx: HubContext) -> DeskClocks:
    """The office calendar and the first-response target, for the queue's and board's clocks."""
    return DeskClocks(await office_calendar(ctx), ctx.clock.now(), ctx.settings.sla_first_response.total_seconds())


@get("/tickets/{ticket_id:int}", include_in_schema=False)
async def ticket_page(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                      ticket_id: FromPath[int]) -> Template:
    detail = await read_ticket(ctx, actor, ticket_id)
    assert actor.agent_id is not None
    await do_mark_seen(ctx, actor.agent_id, ticket_id)  # what the citizen wrote is on screen now
    async with ctx.sessionmaker() as session:
        agents = await views.transfer_targets(session)
    return page("ticket/show.html", request, nav="queue", d=detail, t=detail.ticket, agents=agents,
                all_topics=await list_topics(ctx, include_inactive=False),
                reply_template=ctx.facts(detail.ticket.channel).held_reply_notice,
                can_reopen=rules_for(detail.ticket.channel).reopen,
                files=file_hint(detail.ticket.channel), mb=megabytes,
                mail_options=rules_for(detail.ticket.channel).mail_options)


@get("/tickets/{ticket_id:int}/timeline", include_in_schema=False)
async def ticket_timeline(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                          ticket_id: FromPath[int]) -> Template:
    detail = await read_ticket(ctx, actor, ticket_id, part="timeline")
    return page("ticket/_timeline.html", request, d=detail, t=detail.ticket)


@get("/tickets/{ticket_id:int}/head", include_in_schema=False)
async def ticket_head(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                      ticket_id: FromPath[int]) -> Template:
    detail = await read_ticket(ctx, actor, ticket_id, part="head")
    async with ctx.sessionmaker() as session:
        agents = await views.transfer_targets(session)
    return page("ticket/_head.html", request, d=detail, t=detail.ticket, agents=agents,
                can_reopen=rules_for(detail.ticket.channel).reopen)


async def _act(request: Request[Any, Any, Any], ticket_id: int, done: str, action: Any, clears: str = "") -> Redirect:
    """Run a form's action: success and domain errors become flash messages on the ticket page.
    The text typed is kept by the page (a draft per ticket) until a success says `clears` it."""
    try:
        await action()
        if done:
            flash(request, done, "success", clears=clears)
    except Forbidden:
        flash(request, translate(request, "This ticket belongs to a colleague."), "error")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect(f"/tickets/{ticket_id}", status_code=303)


@post("/tickets/{ticket_id:int}/reply", include_in_schema=False, request_max_body_size=MAX_UPLOAD_BYTES)
async def reply_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                     ticket_id: FromPath[int]) -> Redirect:
    """The reply box: text, and for email a subject and copies; files (multipart), which the
    page's script checks before upload and the action checks again."""
    reply = await read_reply(request)
    return await _act(request, ticket_id, translate(request, "Reply queued for sending."),
                      lambda: do_reply(ctx, ticket_id, actor, reply.body, files=reply.files, subject=reply.subject,
                                       cc=reply.cc), clears=f"reply-{ticket_id}")


@post("/tickets/{ticket_id:int}/note", include_in_schema=False)
async def note_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                    ticket_id: FromPath[int], data: URLEncodedBody[TextForm]) -> Redirect:
    return await _act(request, ticket_id, translate(request, "Note added."),
                      lambda: do_add_note(ctx, ticket_id, actor, data.body), clears=f"note-{ticket_id}")


@post("/tickets/{ticket_id:int}/assign", include_in_schema=False)
async def assign_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                      ticket_id: FromPath[int], data: URLEncodedBody[AssignForm]) -> Redirect:
    target = parse_id(data.agent_id) if data.agent_id.strip() else actor.agent_id
    if target is None:
        raise ValidationException("agent_id must be an agent id")
    done = translate(request, "Ticket assigned to you.") if target == actor.agent_id else translate(request, "Ticket transferred.")
    return await _act(request, ticket_id, done, lambda: do_assign(ctx, ticket_id, target, by_agent_id=actor))


@post("/tickets/{ticket_id:int}/unassign", include_in_schema=False)
async def unassign_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                        ticket_id: FromPath[int]) -> Redirect:
    return await _act(request, ticket_id, translate(request, "Ticket handed back to the queue."),
                      lambda: do_unassign(ctx, ticket_id, actor))


@post("/tickets/{ticket_id:int}/resolve", include_in_schema=False)
async def resolve_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                       ticket_id: FromPath[int], data: URLEncodedBody[ResolveForm]) -> Redirect:
    resolved = False

    async def action() -> None:
        nonlocal resolved
        await do_resolve(ctx, ticket_id, actor, send_survey=bool(data.send_survey))
        resolved = True

    done = await _act(request, ticket_id, translate(request, "Ticket resolved."), action)
    if data.then == "next" and resolved:
        return await take_next_form.fn(request, ctx, actor)  # "Resolve and take next": one click
    return done


@post("/tickets/{ticket_id:int}/reopen", include_in_schema=False)
async def reopen_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                      ticket_id: FromPath[int]) -> Redirect:
    return await _act(request, ticket_id, translate(request, "Consultation reopened."),
                      lambda: do_reopen(ctx, ticket_id, actor))


@post("/contacts/{contact_id:int}/name", include_in_schema=False)
async def rename_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                      contact_id: FromPath[int], data: URLEncodedBody[NameForm]) -> Redirect:
    try:
        await do_rename_contact(ctx, contact_id, data.name, actor)
        flash(request, translate(request, "Name saved."), "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    target = f"/tickets/{data.ticket_id}" if parse_id(data.ticket_id) else None
    return back(request, target)


ROUTES = [queue_page, queue_lanes, take_next_form, ticket_page, ticket_timeline, ticket_head, reply_form, note_form,
          assign_form, unassign_form, resolve_form, reopen_form, rename_form]
