"""The JSON API of the queue and tickets (PRODUCT.md §5): read models from `hub.views`,
writes through `hub.actions`. Errors: 400 bad input, 401, 403, 404, 409 state conflict, 422.

Handlers parse, call and render: the signed-in agent arrives as the `actor` dependency, and the
action decides what that actor may do and records it in the audit trail (who may act on a
ticket: its assignee, anyone while it is unowned, managers and admins always). The HTML pages
(`agent_ui.pages`) call the same actions.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from agent_ui.limits import MAX_ID, Id, QueryId
from agent_ui.replies import MAX_UPLOAD_BYTES, ReplyOperation, read_reply
from agent_ui.security import CurrentAgent
from hub import views
from hub.actions.bulk import MAX_TICKETS, do_bulk
from hub.actions.reopen import do_reopen
from hub.actions.seen import do_mark_seen, do_mark_unseen
from hub.actions.lifecycle import do_assign, do_rename_contact, do_resolve, do_take_next, do_unassign
from hub.actions.messages import do_add_note, do_reply
from hub.actions.reads import read_ticket
from hub.actors import Actor
from hub.channel_rules import known_channels
from hub.context import HubContext
from hub.drilldown import resolve_outside_sla
from hub.search import DATED, STATUS_WORDS, TicketFilter, topic_exists, topics_available
from hub.tickets import Status

Body = Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
STATUSES = {s.value for s in Status} | {"open"}
RowId = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]


class TextIn(msgspec.Struct, forbid_unknown_fields=True):
    body: Body


class AssignIn(msgspec.Struct, forbid_unknown_fields=True):
    agent_id: Id | None = None


class ResolveIn(msgspec.Struct, forbid_unknown_fields=True):
    send_survey: bool = True


class ContactPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | msgspec.UnsetType = msgspec.UNSET


class Created(msgspec.Struct):
    id: int


class NextOut(msgspec.Struct):
    ticket: views.TicketSummary | None


class ResolvedOut(msgspec.Struct):
    ticket_id: int
    survey_url: str | None


class AgentBrief(msgspec.Struct):
    id: int
    name: str
    presence: str
    load: int
    capacity: int


async def summary(ctx: HubContext, ticket_id: FromPath[int]) -> views.TicketSummary:
    async with ctx.sessionmaker() as session:
        return (await views.ticket_detail(session, ticket_id, ctx.clock.now())).ticket


def _check_filters(status: str | None, channel: str | None) -> None:
    if status and status not in STATUSES:
        raise ValidationException(f"unknown status {status!r}; one of {', '.join(sorted(STATUSES))}")
    if channel and channel not in known_channels():
        raise ValidationException(f"unknown channel {channel!r}; one of {', '.join(known_channels())}")


def row_id(name: str, value: str | None) -> int | None:
    """An optional id from the query string (400 unless it is a possible row id)."""
    if value is None or value == "":
        return None
    if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_ID:
        raise ValidationException(f"{name} must be an id (a positive whole number)")
    return int(value)


def _check_limit(limit: int, most: int) -> None:
    if not 1 <= limit <= most:
        raise ValidationException(f"limit must be between 1 and {most}")


@get("/api/v1/queue", tags=["queue"])
async def get_queue(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
    channel: FromQuery[str | None] = None, q: FromQuery[str | None] = None, topic: FromQuery[str | None] = None,
    limit: FromQuery[Annotated[int, msgspec.Meta(ge=1, le=500)]] = views.LANE_LIMIT,
) -> views.QueueOut:
    """The queue: waiting (assignable, by priority then longest wait), identifying, and mine.

    Each lane lists its first `limit` tickets and counts them all."""
    _check_filters(None, channel)
    _check_limit(limit, 500)
    async with ctx.reads() as session:
        return await views.queue(session, actor.agent_id, channel=channel, q=q, limit=limit,
                                 topic_id=row_id("topic", topic))


@post("/api/v1/queue/next", tags=["queue"], status_code=200)
async def take_next(actor: NamedDependency[Actor], ctx: NamedDependency[HubContext]) -> NextOut:
    """Take the next waiting ticket (never the same one as a colleague asking at the same moment)."""
    ticket_id = await do_take_next(ctx, actor)
    return NextOut(ticket=await summary(ctx, ticket_id) if ticket_id is not None else None)


FromDate = Annotated[str | None, QueryParameter(name="from", description="first office date, e.g. 2026-03-01")]


def _office_day(ctx: HubContext, value: str | None, name: str) -> datetime | None:
    """An office date (`2026-03-02`) as the UTC instant its day starts in the office's time zone."""
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationException(f"{name} must be a date such as 2026-03-02, got {value!r}") from None
    return datetime.combine(day, time(), tzinfo=ZoneInfo(ctx.settings.timezone)).astimezone(UTC)


def _flag(value: str | None, name: str) -> bool:
    if value in (None, "", "0", "false"):
        return False
    if value in ("1", "true"):
        return True
    raise ValidationException(f"{name} must be 1 or 0, got {value!r}")


def ticket_filter(
    ctx: HubContext, *, q: str | None = None, status: str | None = None, channel: str | None = None,
    assignee_id: int | None = None, topic: int | None = None, from_: str | None = None, to: str | None = None,
    before: int | None = None, dated: str | None = None, abandoned: str | None = None, outside_sla: str | None = None,
    kind: str | None = None, entry_point: int | str | None = None,
) -> TicketFilter:
    """Query parameters -> the ticket filter; 400 on anything malformed (shared by the API and the pages)."""
    q = (q or "").strip()[:100] or None
    status = status or None
    channel = channel or None
    if status and status not in STATUS_WORDS:
        raise ValidationException(f"unknown status {status!r}; one of {', '.join(sorted(STATUS_WORDS))}")
    _check_filters(None, channel)
    if topic is not None and not topics_available():
        raise ValidationException(f"unknown topic {topic}")
    start, end = _office_day(ctx, from_, "from"), _office_day(ctx, to, "to")
    if end is not None:
        end += timedelta(days=1)  # `to` is the last day included
    if start is not None and end is not None and start >= end:
        raise ValidationException("from must not be after to")
    kind = kind or None
    if kind not in (None, "consultation", "callback"):
        raise ValidationException(f"kind must be consultation or callback, got {kind!r}")
    dated = dated or "created"
    if dated not in DATED:
        raise ValidationException(f"dated must be one of {', '.join(DATED)}, got {dated!r}")
    entry_point_id = row_id("entry_point", entry_point) if isinstance(entry_point, str) else entry_point
    return TicketFilter(q=q, status=status, channel=channel, assignee_id=assignee_id, topic_id=topic,
                        entry_point_id=entry_point_id,
                        created_from=start, created_to=end, before=before, dated=dated,
                        abandoned=_flag(abandoned, "abandoned"), outside_sla=_flag(outside_sla, "outside_sla"), kind=kind)


@get("/api/v1/tickets", tags=["tickets"])
async def list_tickets(
    ctx: NamedDependency[HubContext],
    status: FromQuery[str | None] = None, channel: FromQuery[str | None] = None, q: FromQuery[str | None] = None,
    assignee_id: QueryId = None, topic: QueryId = None, from_: FromDate = None,
    to: FromQuery[str | None] = None, before: QueryId = None,
    limit: FromQuery[Annotated[int, msgspec.Meta(ge=1, le=200)]] = views.PAGE_LIMIT,
    dated: FromQuery[str | None] = None, abandoned: FromQuery[str | None] = None,
    outside_sla: FromQuery[str | None] = None, kind: FromQuery[str | None] = None, entry_point: QueryId = None,
) -> views.TicketPage:
    """Tickets, open or closed. `status`: a status, `open`, `closed` or `all` (the default).

    Without `q`: newest first; page with `before=<next_cursor>`. With `q`: every consultation
    whose reference (`OAC-2026-000123`, `2026-000123`, `123`), contact name (case and accents
    ignored), phone number (any format), email address, subject, or message and note text
    matches, best first, each with `matches` saying where (an excerpt and the spans found).
    `from`/`to` are office dates (inclusive) of the consultation's creation, or of the moment
    `dated` names (`created`, `resolved`, `closed`, `first_response`). The statistics' drill-downs
    add `abandoned=1` (closed because the citizen never said who they were) and `outside_sla=1`
    (first reply later than `HUB_SLA_FIRST_RESPONSE` in office time); `kind=consultation` leaves
    out the call-back tasks of missed calls, which the statistics count as calls; `entry_point`
    keeps the consultations that came through that WhatsApp entry point."""
    _check_limit(limit, 200)
    f = ticket_filter(ctx, q=q, status=status, channel=channel, assignee_id=assignee_id, topic=topic,
                      from_=from_, to=to, before=before, dated=dated, abandoned=abandoned, outside_sla=outside_sla,
                      kind=kind, entry_point=entry_point)
    async with ctx.reads() as session:
        if topic is not None and not await topic_exists(session, topic):
            raise ValidationException(f"unknown topic {topic}")
        f = await resolve_outside_sla(ctx, session, f)
        return await views.list_tickets(session, f, limit=limit)


@get("/api/v1/tickets/{ticket_id:int}", tags=["tickets"])
async def get_ticket(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], ticket_id: FromPath[int],
) -> views.TicketDetail:
    """One ticket with its contact (identities, consultations on every channel) and full timeline."""
    return await read_ticket(ctx, actor, ticket_id)


@post("/api/v1/tickets/{ticket_id:int}/messages", tags=["tickets"], status_code=201,
      request_max_body_size=MAX_UPLOAD_BYTES, operation_class=ReplyOperation)
async def post_message(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
    ticket_id: FromPath[int],
) -> Created:
    """Reply to the citizen on the ticket's channel (delivered in the background).

    JSON `{"body", "subject", "cc"}`, or `multipart/form-data` with `body` and `files` (WhatsApp
    media, email attachments; each channel's types and sizes, a refused file is a 422 naming it
    and nothing is sent). `subject` and `cc` (email only) change the subject and add copies.
    """
    reply = await read_reply(request)
    return Created(await do_reply(ctx, ticket_id, actor, reply.body, files=reply.files, subject=reply.subject,
                                  cc=reply.cc))


@post("/api/v1/tickets/{ticket_id:int}/notes", tags=["tickets"], status_code=201)
async def post_note(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], ticket_id: FromPath[int], data: JSONBody[TextIn],
) -> Created:
    """An internal note (never sent to the citizen)."""
    return Created(await do_add_note(ctx, ticket_id, actor, data.body))


@post("/api/v1/tickets/{ticket_id:int}/assign", tags=["tickets"], status_code=200)
async def assign(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
    ticket_id: FromPath[int],
) -> views.TicketSummary:
    """Assign (or transfer) to `agent_id`; an empty body assigns it to me."""
    raw = await request.body()
    try:
        data = msgspec.json.decode(raw, type=AssignIn) if raw.strip() else AssignIn()
    except msgspec.ValidationError as exc:
        raise ValidationException(f"invalid body: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ValidationException("the body is not valid JSON") from exc
    target = data.agent_id if data.agent_id is not None else actor.agent_id
    assert target is not None
    await do_assign(ctx, ticket_id, target, by_agent_id=actor)
    return await summary(ctx, ticket_id)


@post("/api/v1/tickets/{ticket_id:int}/unassign", tags=["tickets"], status_code=200)
async def unassign(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], ticket_id: FromPath[int],
) -> views.TicketSummary:
    """Hand the ticket back to the queue."""
    await do_unassign(ctx, ticket_id, actor)
    return await summary(ctx, ticket_id)


@post("/api/v1/tickets/{ticket_id:int}/resolve", tags=["tickets"], status_code=200)
async def resolve(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
    ticket_id: FromPath[int],
) -> ResolvedOut:
    """Resolve the consultation; the citizen gets the survey where the channel allows it."""
    raw = await request.body()
    try:
        data = msgspec.json.decode(raw, type=ResolveIn) if raw.strip() else ResolveIn()
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValidationException(f"invalid body: {exc}") from exc
    result = await do_resolve(ctx, ticket_id, actor, send_survey=data.send_survey)
    return ResolvedOut(result.ticket_id, result.survey_url)


@post("/api/v1/tickets/{ticket_id:int}/reopen", tags=["tickets"], status_code=200)
async def reopen(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], ticket_id: FromPath[int],
) -> views.TicketSummary:
    """A resolved consultation back to its agent (if available) or to the queue. 409 where the
    channel's rules forbid it (WhatsApp: the citizen's next message opens a new consultation)."""
    await do_reopen(ctx, ticket_id, actor)
    return await summary(ctx, ticket_id)


class BulkIn(msgspec.Struct, forbid_unknown_fields=True):
    ids: Annotated[list[Id], msgspec.Meta(min_length=1, max_length=MAX_TICKETS)]
    action: Literal["assign", "unassign", "resolve"]
    agent_id: Id | None = None
    send_survey: bool = True


class BulkResult(msgspec.Struct):
    id: int
    ok: bool
    status: str | None = None
    error: str | None = None  # not_found | forbidden | conflict | invalid
    message: str | None = None


class BulkOut(msgspec.Struct):
    results: list[BulkResult]
    done: int
    failed: int


@post("/api/v1/tickets/bulk", tags=["tickets"], status_code=200)
async def bulk(actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], data: JSONBody[BulkIn]) -> BulkOut:
    """One action on many tickets (`assign` needs `agent_id`); each ticket succeeds or fails on
    its own, and the answer says which, in the order given."""
    if data.action == "assign" and data.agent_id is None:
        raise ValidationException("assign needs an agent_id")
    outcomes = await do_bulk(ctx, actor, data.ids, data.action, data.agent_id, data.send_survey)
    results = [BulkResult(o.ticket_id, o.ok, o.status, o.error, o.message) for o in outcomes]
    return BulkOut(results=results, done=sum(r.ok for r in results), failed=sum(not r.ok for r in results))


@get("/api/v1/board", tags=["queue"])
async def get_board(ctx: NamedDependency[HubContext]) -> views.Board:
    """Every open consultation: waiting, identifying, and each agent's, with presence and load."""
    async with ctx.reads() as session:
        return await views.board(session)


class UnreadTicket(msgspec.Struct):
    ticket_id: int
    unread: int


class UnreadOut(msgspec.Struct):
    consultations: int  # how many of my open consultations have something new (the title's count)
    tickets: list[UnreadTicket]


async def my_unread(ctx: HubContext, agent_id: int) -> UnreadOut:
    async with ctx.reads() as session:
        counts = await views.unread_counts(session, agent_id)
    return UnreadOut(consultations=len(counts),
                     tickets=[UnreadTicket(t, n) for t, n in sorted(counts.items())])


@get("/api/v1/agents/me/unread", tags=["agents"])
async def get_unread(me: NamedDependency[CurrentAgent], ctx: NamedDependency[HubContext]) -> UnreadOut:
    """My open consultations with citizen messages I have not seen, and how many each. Kept on the
    server: the same after a reload and on every device."""
    return await my_unread(ctx, me.id)


@post("/api/v1/tickets/{ticket_id:int}/seen", tags=["tickets"], status_code=200)
async def mark_seen(me: NamedDependency[CurrentAgent], ctx: NamedDependency[HubContext],
                    ticket_id: FromPath[int]) -> UnreadOut:
    """I have seen what the citizen wrote so far (opening the ticket's page does it too)."""
    await do_mark_seen(ctx, me.id, ticket_id)
    return await my_unread(ctx, me.id)


@delete("/api/v1/tickets/{ticket_id:int}/seen", tags=["tickets"], status_code=200)
async def mark_unseen(me: NamedDependency[CurrentAgent], ctx: NamedDependency[HubContext],
                      ticket_id: FromPath[int]) -> UnreadOut:
    """Mark as unread: the citizen's latest message is new again for me."""
    await do_mark_unseen(ctx, me.id, ticket_id)
    return await my_unread(ctx, me.id)


@patch("/api/v1/contacts/{contact_id:int}", tags=["contacts"])
async def patch_contact(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], contact_id: FromPath[int],
    data: JSONBody[ContactPatch],
) -> views.ContactOut:
    """Correct the citizen's name."""
    if data.name is not msgspec.UNSET:
        await do_rename_contact(ctx, contact_id, data.name, actor)
    async with ctx.sessionmaker() as session:
        return await views.contact_panel(session, contact_id)


@get("/api/v1/agents", tags=["agents"])
async def list_agents(ctx: NamedDependency[HubContext]) -> list[AgentBrief]:
    """Active agents with presence and load (for transfers)."""
    async with ctx.sessionmaker() as session:
        return [AgentBrief(*row) for row in await views.available_agents(session)]


ROUTES = [get_queue, take_next, list_tickets, bulk, get_board, reopen, get_ticket, post_message, post_note, assign, unassign, resolve,
          patch_contact, list_agents, get_unread, mark_seen, mark_unseen]
