"""Quick replies: `/api/v1/canned-responses` and the settings page's section. The reply box's
`/` picker (static/quick_replies.js) reads the list with one consultation's values filled in."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect

from agent_ui.errors import localised
from agent_ui.i18n import translate
from agent_ui.limits import QueryId
from agent_ui.web import flash
from hub.actions.errors import DomainError
from hub.actions.quick_replies import (
    QuickReply, do_create_quick_reply, do_delete_quick_reply, do_update_quick_reply, list_quick_replies,
)
from hub.actors import Actor
from hub.context import HubContext

Title = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
BodyText = Annotated[str, msgspec.Meta(min_length=1, max_length=5000)]
Shortcut = Annotated[str, msgspec.Meta(max_length=40)]
Language = Annotated[str, msgspec.Meta(min_length=2, max_length=8)]


class QuickReplyIn(msgspec.Struct, forbid_unknown_fields=True):
    title: Title
    body: BodyText
    language: Language = "ca"
    shortcut: Shortcut = ""
    shared: bool = False


class QuickReplyPatch(msgspec.Struct, forbid_unknown_fields=True):
    title: Title | msgspec.UnsetType = msgspec.UNSET
    body: BodyText | msgspec.UnsetType = msgspec.UNSET
    language: Language | msgspec.UnsetType = msgspec.UNSET
    shortcut: Shortcut | msgspec.UnsetType = msgspec.UNSET
    shared: bool | msgspec.UnsetType = msgspec.UNSET


def _v(value: Any) -> Any:
    return None if value is msgspec.UNSET else value


@get("/api/v1/canned-responses", tags=["quick replies"])
async def get_quick_replies(actor: NamedDependency[Actor], 
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], language: FromQuery[str | None] = None,
    q: FromQuery[str | None] = None, ticket_id: QueryId = None,
) -> list[QuickReply]:
    """The shared quick replies and my own. `ticket_id`: in the citizen's language unless
    `language` is given, each with `filled` (placeholders replaced with that consultation's values)."""
    return await list_quick_replies(ctx, actor, language=language or None, q=q, ticket_id=ticket_id)


@post("/api/v1/canned-responses", tags=["quick replies"], status_code=201)
async def create_quick_reply(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                             data: JSONBody[QuickReplyIn]) -> QuickReply:
    """A quick reply: my own, or `"shared": true` for everyone (managers)."""
    return await do_create_quick_reply(ctx, actor, title=data.title, body=data.body, language=data.language,
                                       shortcut=data.shortcut, shared=data.shared)


@patch("/api/v1/canned-responses/{reply_id:int}", tags=["quick replies"])
async def patch_quick_reply(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                            reply_id: FromPath[int], data: JSONBody[QuickReplyPatch]) -> QuickReply:
    """Change my quick reply, or a shared one (managers)."""
    return await do_update_quick_reply(
        ctx, actor, reply_id, title=_v(data.title), body=_v(data.body), language=_v(data.language),
        shortcut=_v(data.shortcut), shared=_v(data.shared))


@delete("/api/v1/canned-responses/{reply_id:int}", tags=["quick replies"], status_code=204)
async def delete_quick_reply(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                             reply_id: FromPath[int]) -> None:
    """Delete my quick reply, or a shared one (managers)."""
    await do_delete_quick_reply(ctx, actor, reply_id)


# Forms (settings page) -------------------------------------------------------------------------


@post("/settings/quick-replies", include_in_schema=False)
async def new_quick_reply_form(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> Redirect:
    form = await request.form()
    try:
        await do_create_quick_reply(
            ctx, actor, title=str(form.get("title", "")), body=str(form.get("body", "")),
            language=str(form.get("language", "ca")), shortcut=str(form.get("shortcut", "")),
            shared=bool(form.get("shared")))
        flash(request, translate(request, "Quick reply saved."), "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect("/settings#quick-replies-title", status_code=303)


@post("/settings/quick-replies/{reply_id:int}/delete", include_in_schema=False)
async def delete_quick_reply_form(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                                  reply_id: FromPath[int]) -> Redirect:
    try:
        await do_delete_quick_reply(ctx, actor, reply_id)
        flash(request, translate(request, "Quick reply deleted."), "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect("/settings#quick-replies-title", status_code=303)


ROUTES = [get_quick_replies, create_quick_reply, patch_quick_reply, delete_quick_reply, new_quick_reply_form,
          delete_quick_reply_form]
