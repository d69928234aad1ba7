"""The agents' desk beyond the queue: finding any consultation (`/search`) and the supervisor
board (`/board`: managers reassign one or many; agents see it read-only).

Pages parse their query into the same `TicketFilter` as the API (`agent_ui.api.ticket_filter`),
call the read models, and render; the URL carries every filter, so a search can be bookmarked.
Results are a fragment (`/search/results`) that `static/hub.js` re-fetches when tickets change.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from agent_ui.api import FromDate, ticket_filter
from agent_ui.i18n import request_language, translate
from agent_ui.limits import parse_id
from agent_ui.web import flash, page
from hub.actions.bulk import ACTIONS as BULK_ACTIONS
from hub.actions.bulk import do_bulk
from hub import views
from hub.channel_rules import known_channels
from hub.actors import Actor
from hub.context import HubContext
from hub.db.tables import EntryPoint
from hub.drilldown import resolve_outside_sla
from hub.search import pieces, topics_available
from hub.tickets import Status

SEARCH_LIMIT = 50


def _int(value: str | None) -> int | None:
    return parse_id(value or "")  # ASCII digits within a row id's range (`²` or 10^23: None)


async def _topics(session: Any, lang: str) -> list[tuple[int, str]]:
    """(id, name in the page's language) of the active topics, once the topics model exists."""
    import hub.db.tables as tables

    topic = getattr(tables, "Topic", None)
    if topic is None or not topics_available():
        return []
    from sqlmodel import select

    rows = (await session.exec(select(topic).where(topic.active == True).order_by(topic.position))).all()  # noqa: E712
    return [(t.id, (t.names or {}).get(lang) or (t.names or {}).get("ca") or t.key) for t in rows]


async def _search_context(
    ctx: HubContext, lang: str, q: str | None, status: str | None, channel: str | None, assignee_id: str | None,
    topic: str | None, from_: str | None, to: str | None, report: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    params = {"q": (q or "").strip()[:100], "status": status or "", "channel": channel or "",
              "assignee_id": assignee_id or "", "topic": topic or "", "from": from_ or "", "to": to or ""}
    # The statistics' drill-down filters (kept in the URL; shown as such on the page).
    report_params = {k: v for k, v in (report or {}).items() if v}
    params.update(report_params)
    error = None
    result = views.TicketPage(tickets=[], next_cursor=None)
    try:
        f = ticket_filter(ctx, q=params["q"], status=params["status"], channel=params["channel"],
                          assignee_id=_int(assignee_id), topic=_int(topic), from_=from_, to=to, **report_params)
    except ValidationException as exc:
        error, f = exc.detail, None
    async with ctx.sessionmaker() as session:
        if f is not None and (f.q or any(params[k] for k in ("status", "channel", "assignee_id", "topic", "from", "to"))
                              or report_params):
            f = await resolve_outside_sla(ctx, session, f)
            result = await views.list_tickets(session, f, limit=SEARCH_LIMIT)
        agents = await views.available_agents(session)
        topics = await _topics(session, lang)
        entry_point = None
        if f is not None and f.entry_point_id is not None:
            row = await session.get(EntryPoint, f.entry_point_id)
            entry_point = row.label if row is not None else str(f.entry_point_id)
    query = urlencode({k: v for k, v in params.items() if v})
    return {
        "params": params, "result": result, "error": error, "agents": agents,
        "matches": {m.ticket_id: m for m in result.matches}, "pieces": pieces,
        "statuses": ["all", "open", "closed", *[s.value for s in Status]], "channels": known_channels(),
        "topics": topics, "entry_point": entry_point, "results_url": "/search/results" + (f"?{query}" if query else ""),
        "searched": bool(query),
    }


@get("/search", include_in_schema=False)
async def search_page(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
    q: FromQuery[str | None] = None, status: FromQuery[str | None] = None, channel: FromQuery[str | None] = None,
    assignee_id: FromQuery[str | None] = None, topic: FromQuery[str | None] = None, from_: FromDate = None,
    to: FromQuery[str | None] = None, dated: FromQuery[str | None] = None, abandoned: FromQuery[str | None] = None,
    outside_sla: FromQuery[str | None] = None, kind: FromQuery[str | None] = None,
    entry_point: FromQuery[str | None] = None,
) -> Template:
    report = {"dated": dated, "abandoned": abandoned, "outside_sla": outside_sla, "kind": kind,
              "entry_point": entry_point}
    context = await _search_context(ctx, request_language(request), q, status, channel, assignee_id, topic, from_, to,
                                    report)
    return page("desk/search.html", request, nav="search", **context)


@get("/search/results", include_in_schema=False)
async def search_results(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
    q: FromQuery[str | None] = None, status: FromQuery[str | None] = None, channel: FromQuery[str | None] = None,
    assignee_id: FromQuery[str | None] = None, topic: FromQuery[str | None] = None, from_: FromDate = None,
    to: FromQuery[str | None] = None, dated: FromQuery[str | None] = None, abandoned: FromQuery[str | None] = None,
    outside_sla: FromQuery[str | None] = None, kind: FromQuery[str | None] = None,
    entry_point: FromQuery[str | None] = None,
) -> Template:
    report = {"dated": dated, "abandoned": abandoned, "outside_sla": outside_sla, "kind": kind,
              "entry_point": entry_point}
    context = await _search_context(ctx, request_language(request), q, status, channel, assignee_id, topic, from_, to,
                                    report)
    return page("desk/_results.html", request, **context)


# The supervisor board ----------------------------------------------------------------------


async def _board_context(ctx: HubContext, sort: str | None) -> dict[str, Any]:
    sort = sort if sort in views.BOARD_ORDERS else "waiting"
    async with ctx.reads() as session:
        board = await views.board(session, sort)
    from agent_ui.pages import desk_clocks

    return {"board": board, "sort": sort, "assignable": [a for a in board.agents if a.presence == "available"],
            "desk": await desk_clocks(ctx)}


@get("/board", include_in_schema=False)
async def board_page(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                     sort: FromQuery[str | None] = None) -> Template:
    """Managers: every open consultation by lane and by agent, reassign one or many.
    Agents: the same, read-only ("all open", beside their own lane in the queue)."""
    return page("desk/board.html", request, nav="board", **await _board_context(ctx, sort))


@get("/board/fragment", include_in_schema=False)
async def board_fragment(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                         sort: FromQuery[str | None] = None) -> Template:
    return page("desk/_board.html", request, **await _board_context(ctx, sort))


@post("/board/bulk", include_in_schema=False)
async def board_bulk(request: Request[Any, Any, Any], actor: NamedDependency[Actor],
                     ctx: NamedDependency[HubContext]) -> Redirect:
    """The board's form: the ticked tickets (or one row's), an action, maybe an agent."""
    form = await request.form()
    ids = [i for i in (parse_id(str(v)) for v in form.getall("ids")) if i is not None] if "ids" in form else []
    action = str(form.get("action") or "")
    target = _int(str(form.get("agent_id") or ""))
    if not ids:
        flash(request, translate(request, "Tick at least one consultation."), "error")
    elif action not in BULK_ACTIONS or (action == "assign" and target is None):
        flash(request, translate(request, "Choose what to do (and, to assign, to whom)."), "error")
    else:
        outcomes = await do_bulk(ctx, actor, ids, action, target)
        done = sum(o.ok for o in outcomes)
        flash(request, translate(request, "Done: %(done)s of %(total)s.", done=done, total=len(outcomes)),
              "success" if done == len(outcomes) else "info")
        for o in outcomes:
            if not o.ok:
                flash(request, translate(request, "Ticket %(id)s: %(reason)s", id=o.ticket_id, reason=o.message or ""),
                      "error")
    return Redirect("/board", status_code=303)


ROUTES = [search_page, search_results, board_page, board_fragment, board_bulk]
