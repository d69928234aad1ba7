"""The office's own texts: `/api/v1/texts` and the page `/settings/texts` (managers), with a live
preview filled with sample values (static/texts.js) and "restore default"."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody
from litestar.response import Redirect, Template

from agent_ui.errors import localised
from agent_ui.i18n import translate
from agent_ui.security import MANAGERS, requires_role
from agent_ui.web import flash, page
from hub.actions.errors import DomainError
from hub.actions.texts import SAMPLES, TextOut, do_set_text, list_texts
from hub.actors import Actor
from hub.context import HubContext

GUARD = [requires_role(*MANAGERS)]


class TextIn(msgspec.Struct, forbid_unknown_fields=True):
    language: Annotated[str, msgspec.Meta(min_length=2, max_length=8)]
    body: Annotated[str, msgspec.Meta(max_length=1500)] | None  # null: restore the default


@get("/api/v1/texts", guards=GUARD, tags=["texts"])
async def get_texts(ctx: NamedDependency[HubContext]) -> list[TextOut]:
    """Every automatic text in every language: what citizens receive now, the default, and the
    placeholders it may use (managers)."""
    return await list_texts(ctx)


@put("/api/v1/texts/{key:str}", guards=GUARD, tags=["texts"])
async def put_text(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], key: FromPath[str],
                   data: JSONBody[TextIn]) -> TextOut:
    """Change an automatic text (`"body": null` restores the default); placeholders are checked."""
    return await do_set_text(ctx, actor, key, data.language, data.body)


@get("/settings/texts", guards=GUARD, include_in_schema=False)
async def texts_page(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> Template:
    texts = await list_texts(ctx)
    keys = list(dict.fromkeys(t.key for t in texts))
    return page("settings/texts.html", request, nav="settings", texts=texts, keys=keys, samples=SAMPLES)


@post("/settings/texts/{key:str}/{language:str}", guards=GUARD, include_in_schema=False)
async def text_form(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], key: FromPath[str],
                    language: FromPath[str]) -> Redirect:
    form = await request.form()
    restore = bool(form.get("restore"))
    try:
        await do_set_text(ctx, actor, key, language, None if restore else str(form.get("body", "")))
        flash(request, translate(request, "Default text restored.") if restore else translate(request, "Text saved."),
              "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect(f"/settings/texts#text-{key.replace('.', '-')}-{language}", status_code=303)


ROUTES = [get_texts, put_text, texts_page, text_form]
