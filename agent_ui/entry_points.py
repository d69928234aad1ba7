"""WhatsApp entry points for the city's web pages: `/api/v1/entry-points` (managers keep them),
each one's QR code (`qr.svg`, `qr.png`) and HTML banner snippet, and the page
`/settings/entry-points`.

The snippet is what the city's web team pastes into a procedure's page: a plain link (no
script, no request to the hub, so the hub's availability never matters to the city's site),
that says where it leads in words, meets WCAG's contrast and target size, and, for visitors on
a computer, carries the same QR code to scan with their phone.
"""

from __future__ import annotations

import io
from html import escape
from typing import Annotated, Any

import msgspec
import segno
from litestar import Request, Response, get, patch, post
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template

from agent_ui.errors import localised
from agent_ui.api import RowId
from agent_ui.i18n import pick_language, request_language, translate, translations
from agent_ui.limits import parse_id
from agent_ui.security import MANAGERS, requires_role
from agent_ui.web import flash, page
from hub.actions.entry_points import (
    EntryPointOut, consultations_per_entry_point, do_create_entry_point, do_update_entry_point, get_entry_point,
    list_entry_points, office_number,
)
from hub.actions.errors import DomainError, NotFound
from hub.actions.topics import list_topics, topic_name
from hub.config import LANGUAGES
from hub.actors import Actor
from hub.context import HubContext
from hub.entry_points import LABEL_MAX, PREFILL_MAX

GUARD = [requires_role(*MANAGERS)]
Label = Annotated[str, msgspec.Meta(min_length=1, max_length=LABEL_MAX)]
Prefill = Annotated[str, msgspec.Meta(min_length=1, max_length=PREFILL_MAX + 2)]


class EntryPointCreate(msgspec.Struct, forbid_unknown_fields=True):
    label: Label
    prefill: Prefill
    topic_id: RowId | None = None


class EntryPointPatch(msgspec.Struct, forbid_unknown_fields=True):
    label: Label | msgspec.UnsetType = msgspec.UNSET
    prefill: Prefill | msgspec.UnsetType = msgspec.UNSET
    topic_id: RowId | None | msgspec.UnsetType = msgspec.UNSET
    active: bool | msgspec.UnsetType = msgspec.UNSET


class EntryPoint(msgspec.Struct):
    """An entry point with everything to publish it: the wa.me `link` (null until the office's
    WhatsApp number is configured), its QR codes and the banner snippet (in `snippet_language`)."""

    id: int
    label: str
    prefill: str
    topic_id: int | None
    active: bool
    link: str | None
    qr_svg: str
    qr_png: str
    snippet: str | None
    snippet_language: str


def _qr(link: str) -> segno.QRCode:
    # Level M survives a poster's scuffs and stays small enough for a 2 cm print.
    return segno.make(link, error="m", micro=False)


def snippet_html(entry: EntryPointOut, language: str) -> str | None:
    """The accessible banner for a city page, in `language` (None without a link)."""
    if entry.link is None:
        return None
    _ = translations(language).ugettext
    link = escape(entry.link, quote=True)
    call = escape(_("Ask us on WhatsApp"), quote=False)
    how = escape(_("WhatsApp opens with the message “%(prefill)s” already written: add your question and send it.")
                 % {"prefill": entry.prefill.strip()}, quote=False)
    scan = escape(_("On a computer? Scan this code with your phone's camera to open the same chat."), quote=True)
    qr = _qr(entry.link).svg_inline(scale=3, border=2, title=scan, svgclass="hub-wa-qr", lineclass=None,
                                    omitsize=False)
    qr = qr.replace("<svg ", '<svg role="img" aria-label="' + scan + '" ', 1)
    what = _comment(_("WhatsApp entry point"))
    return (
        f'<!-- {what}: {_comment(entry.label)} -->\n'
        f'<div class="hub-wa" lang="{language}" style="border:2px solid #0b5d36;'
        'border-radius:8px;padding:1em;margin:1em 0;max-width:36em;background:#fff;color:#1a1a1a;'
        'font-size:1rem;line-height:1.5">\n'
        f'  <a href="{link}" style="display:inline-block;min-height:44px;box-sizing:border-box;padding:.6em 1.2em;'
        'background:#0b5d36;color:#fff;font-weight:bold;border-radius:6px;text-decoration:underline">'
        f'{call}</a>\n'
        f'  <p style="margin:.5em 0 0">{how}</p>\n'
        f'  <p style="margin:.5em 0 0">{qr}</p>\n'
        '</div>'
    )


def _comment(text: str) -> str:
    """Text safe inside an HTML comment (no "--", no "<" or ">")."""
    return escape(text, quote=False).replace("--", "- -")


def _public(entry: EntryPointOut, language: str) -> EntryPoint:
    base = f"/api/v1/entry-points/{entry.id}"
    return EntryPoint(id=entry.id, label=entry.label, prefill=entry.prefill, topic_id=entry.topic_id,
                      active=entry.active, link=entry.link, qr_svg=f"{base}/qr.svg", qr_png=f"{base}/qr.png",
                      snippet=snippet_html(entry, language), snippet_language=language)


def _language(request: Request[Any, Any, Any], value: str | None) -> str:
    if value is not None and value not in LANGUAGES:
        raise ValidationException(f"language must be one of {', '.join(LANGUAGES)}")
    return pick_language(value, default=request.app.state.settings.language)


def _unset(value: Any) -> Any:
    return None if value is msgspec.UNSET else value


# API -----------------------------------------------------------------------------------------


@get("/api/v1/entry-points", tags=["entry points"])
async def get_entry_points(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                           language: FromQuery[str | None] = None) -> list[EntryPoint]:
    """The WhatsApp click-to-chat links for the city's web pages, posters and counters, each
    with its wa.me link, QR codes and banner snippet (`language` of the snippet: ca, es, en)."""
    lang = _language(request, language)
    return [_public(e, lang) for e in await list_entry_points(ctx)]


@get("/api/v1/entry-points/{entry_point_id:int}", tags=["entry points"])
async def get_one(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], entry_point_id: FromPath[int],
                  language: FromQuery[str | None] = None) -> EntryPoint:
    """One entry point, with its link, QR codes and banner snippet."""
    return _public(await get_entry_point(ctx, entry_point_id), _language(request, language))


@post("/api/v1/entry-points", guards=GUARD, tags=["entry points"], status_code=201)
async def create(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                 data: JSONBody[EntryPointCreate]) -> EntryPoint:
    """A new entry point (managers): `{"topic_id", "label", "prefill"}`. A consultation whose
    first WhatsApp message starts with `prefill` comes through it and gets its topic."""
    created = await do_create_entry_point(ctx, actor, data.label, data.prefill, data.topic_id)
    return _public(created, _language(request, None))


@patch("/api/v1/entry-points/{entry_point_id:int}", guards=GUARD, tags=["entry points"])
async def update(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], entry_point_id: FromPath[int],
                 data: JSONBody[EntryPointPatch]) -> EntryPoint:
    """Change an entry point (managers); `"active": false` switches it off (links already
    printed still open WhatsApp, but their messages are no longer counted)."""
    changed = await do_update_entry_point(
        ctx, actor, entry_point_id, label=_unset(data.label), prefill=_unset(data.prefill),
        topic_id=data.topic_id, active=_unset(data.active))
    return _public(changed, _language(request, None))


async def _link_of(ctx: HubContext, entry_point_id: int) -> tuple[EntryPointOut, str]:
    entry = await get_entry_point(ctx, entry_point_id)
    if entry.link is None:
        raise NotFound("no WhatsApp number is configured (HUB_WHATSAPP_NUMBER or HUB_TWILIO_WHATSAPP_FROM)")
    return entry, entry.link


def _disposition(entry_point_id: int, ext: str, download: bool) -> dict[str, str]:
    kind = "attachment" if download else "inline"
    return {"Content-Disposition": f'{kind}; filename="whatsapp-entry-point-{entry_point_id}.{ext}"',
            "Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"}


@get("/api/v1/entry-points/{entry_point_id:int}/qr.svg", tags=["entry points"], responses={
    200: ResponseSpec(data_container=bytes, media_type="image/svg+xml", description="the QR code as SVG")})
async def qr_svg(ctx: NamedDependency[HubContext], entry_point_id: FromPath[int],
                 download: FromQuery[bool] = False) -> Response[bytes]:
    """The entry point's QR code as SVG (scales to any poster); `download=true` to save it."""
    _, link = await _link_of(ctx, entry_point_id)
    out = io.BytesIO()
    _qr(link).save(out, kind="svg", scale=10, border=4, xmldecl=True, title="WhatsApp")
    return Response(out.getvalue(), media_type="image/svg+xml",
                    headers=_disposition(entry_point_id, "svg", download))


@get("/api/v1/entry-points/{entry_point_id:int}/qr.png", tags=["entry points"], responses={
    200: ResponseSpec(data_container=bytes, media_type="image/png", description="the QR code as PNG")})
async def qr_png(ctx: NamedDependency[HubContext], entry_point_id: FromPath[int], download: FromQuery[bool] = False,
                 scale: FromQuery[int] = 10) -> Response[bytes]:
    """The entry point's QR code as PNG (`scale`: pixels per module, 1-40; 10 prints well at 4 cm)."""
    if not 1 <= scale <= 40:
        raise ValidationException("scale must be from 1 to 40")
    _, link = await _link_of(ctx, entry_point_id)
    out = io.BytesIO()
    _qr(link).save(out, kind="png", scale=scale, border=4)
    return Response(out.getvalue(), media_type="image/png", headers=_disposition(entry_point_id, "png", download))


# The page --------------------------------------------------------------------------------------


@get("/settings/entry-points", guards=GUARD, include_in_schema=False)
async def entry_points_page(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                            language: FromQuery[str | None] = None) -> Template:
    lang = pick_language(language, default=ctx.settings.language)
    entries = await list_entry_points(ctx)
    ui_language = request_language(request)
    topics = await list_topics(ctx)
    return page("settings/entry_points.html", request, nav="settings", snippet_language=lang,
                entries=[_public(e, lang) for e in entries], counts=await consultations_per_entry_point(ctx),
                topics=[(t.id, topic_name(t.names, ui_language), t.active) for t in topics],
                number=office_number(ctx), prefill_max=PREFILL_MAX, label_max=LABEL_MAX,
                sandbox=ctx.facts("whatsapp").sandbox)


def _form_topic(value: Any) -> int | None:
    return parse_id(str(value)) if value else None


@post("/settings/entry-points", guards=GUARD, include_in_schema=False)
async def new_entry_point_form(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> Redirect:
    form = await request.form()
    try:
        created = await do_create_entry_point(ctx, actor, str(form.get("label", "")),
                                              str(form.get("prefill", "")), _form_topic(form.get("topic")))
        flash(request, translate(request, "Entry point added."), "success")
        return Redirect(f"/settings/entry-points#entry-{created.id}", status_code=303)
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect("/settings/entry-points#new-entry-title", status_code=303)


@post("/settings/entry-points/{entry_point_id:int}", guards=GUARD, include_in_schema=False)
async def edit_entry_point_form(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                                entry_point_id: FromPath[int]) -> Redirect:
    form = await request.form()
    try:
        await do_update_entry_point(
            ctx, actor, entry_point_id, label=str(form.get("label", "")), prefill=str(form.get("prefill", "")),
            topic_id=_form_topic(form.get("topic")), active=bool(form.get("active")))
        flash(request, translate(request, "Entry point saved."), "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect(f"/settings/entry-points#entry-{entry_point_id}", status_code=303)


ROUTES = [get_entry_points, get_one, create, update, qr_svg, qr_png, entry_points_page, new_entry_point_form,
          edit_entry_point_form]
