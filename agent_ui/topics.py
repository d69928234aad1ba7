"""Topics: the managers' list (`/api/v1/topics`, the settings page's section) and a
consultation's topics (`PUT /api/v1/tickets/{id}/topics`, the ticket page's form).

Controllers parse, call the action (which checks permission and audits) and render.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect

from agent_ui.errors import localised
from agent_ui.api import RowId
from agent_ui.i18n import translate
from agent_ui.limits import parse_id
from agent_ui.security import MANAGERS, requires_role
from agent_ui.web import flash
from hub.actions.errors import DomainError
from hub.actions.topics import (
    TopicOut, do_create_topic, do_set_ticket_topics, do_set_topic_required, do_update_topic, list_topics,
)
from hub.actors import Actor
from hub.context import HubContext

Name = Annotated[str, msgspec.Meta(max_length=120)]
Position = Annotated[int, msgspec.Meta(ge=0, le=10_000)]


class TopicCreate(msgspec.Struct, forbid_unknown_fields=True):
    names: dict[str, Name]
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=60)] | None = None
    position: Position | None = None


class TopicPatch(msgspec.Struct, forbid_unknown_fields=True):
    names: dict[str, Name] | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET
    position: Position | msgspec.UnsetType = msgspec.UNSET


class TicketTopicsIn(msgspec.Struct, forbid_unknown_fields=True):
    topics: Annotated[list[RowId], msgspec.Meta(max_length=20)]


class TicketTopicsOut(msgspec.Struct):
    ticket_id: int
    topics: list[TopicOut]


def _unset(value: Any) -> Any:
    return None if value is msgspec.UNSET else value


@get("/api/v1/topics", tags=["topics"])
async def get_topics(ctx: NamedDependency[HubContext], active: FromQuery[bool | None] = None) -> list[TopicOut]:
    """What consultations are about, in the order managers chose (`active=true`: only those in use)."""
    topics = await list_topics(ctx)
    return [t for t in topics if active is None or t.active == active]


@post("/api/v1/topics", guards=[requires_role(*MANAGERS)], tags=["topics"], status_code=201)
async def create_topic(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                       data: JSONBody[TopicCreate]) -> TopicOut:
    """A new topic (managers): `{"names": {"ca": ..., "es": ..., "en": ...}}`, Catalan required."""
    return await do_create_topic(ctx, actor, dict(data.names), key=data.key, position=data.position)


@patch("/api/v1/topics/{topic_id:int}", guards=[requires_role(*MANAGERS)], tags=["topics"])
async def patch_topic(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], topic_id: FromPath[int],
                      data: JSONBody[TopicPatch]) -> TopicOut:
    """Rename, reorder, or switch a topic off (`"active": false`) or on again (managers)."""
    names = _unset(data.names)
    return await do_update_topic(ctx, actor, topic_id, names=dict(names) if names is not None else None,
                                 active=_unset(data.active), position=_unset(data.position))


@put("/api/v1/tickets/{ticket_id:int}/topics", tags=["tickets"])
async def put_ticket_topics(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                            ticket_id: FromPath[int], data: JSONBody[TicketTopicsIn]) -> TicketTopicsOut:
    """The consultation's topics become exactly these (its assignee, or anyone while unowned; managers)."""
    ids = await do_set_ticket_topics(ctx, actor, ticket_id, data.topics)
    by_id = {t.id: t for t in await list_topics(ctx)}
    return TicketTopicsOut(ticket_id, [by_id[i] for i in ids if i in by_id])


# Forms --------------------------------------------------------------------------------------


async def _form(request: Request[Any, Any, Any]) -> Any:
    return await request.form()


@post("/tickets/{ticket_id:int}/topics", include_in_schema=False)
async def ticket_topics_form(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                             ticket_id: FromPath[int]) -> Redirect:
    form = await _form(request)
    ids = [i for i in (parse_id(str(v)) for v in form.getall("topic", [])) if i is not None]
    try:
        await do_set_ticket_topics(ctx, actor, ticket_id, ids)
        flash(request, translate(request, "Topics saved."), "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect(f"/tickets/{ticket_id}", status_code=303)


@post("/settings/topics", guards=[requires_role(*MANAGERS)], include_in_schema=False)
async def new_topic_form(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> Redirect:
    form = await _form(request)
    names = {lang: str(form.get(f"name_{lang}", "")) for lang in ("ca", "es", "en")}
    try:
        await do_create_topic(ctx, actor, names)
        flash(request, translate(request, "Topic added."), "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect("/settings#topics-title", status_code=303)


@post("/settings/topics/{topic_id:int}", guards=[requires_role(*MANAGERS)], include_in_schema=False)
async def edit_topic_form(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                          topic_id: FromPath[int]) -> Redirect:
    form = await _form(request)
    names = {lang: str(form.get(f"name_{lang}", "")) for lang in ("ca", "es", "en")}
    try:
        await do_update_topic(ctx, actor, topic_id, names=names, active=bool(form.get("active")))
        flash(request, translate(request, "Topic saved."), "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect("/settings#topics-title", status_code=303)


@post("/settings/topics/required", guards=[requires_role(*MANAGERS)], include_in_schema=False)
async def topic_required_form(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> Redirect:
    form = await _form(request)
    await do_set_topic_required(ctx, actor, bool(form.get("required")))
    flash(request, translate(request, "Topic options saved."), "success")
    return Redirect("/settings#topics-title", status_code=303)


ROUTES = [get_topics, create_topic, patch_topic, put_ticket_topics, ticket_topics_form, new_topic_form,
          edit_topic_form, topic_required_form]
