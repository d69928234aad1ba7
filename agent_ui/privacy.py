"""Citizens' personal data: a contact's export and erasure (managers and admins).

API: `GET /api/v1/contacts/{id}/export` (JSON, everything the hub holds on the person) and
`POST /api/v1/contacts/{id}/erase`. Page: `/contacts/{id}/privacy` with the same two actions.
The work and the audit entries are in `hub.actions.privacy`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from agent_ui.errors import localised
from agent_ui.i18n import translate
from agent_ui.security import MANAGERS, requires_role
from agent_ui.web import flash, page
from hub.actions.errors import DomainError
from hub.actions.privacy import contact_export, do_erase_contact
from hub.actors import Actor
from hub.context import HubContext
from hub.db.tables import Contact, Identity, Ticket

MANAGERS_ONLY = [requires_role(*MANAGERS)]


class ErasedOut(msgspec.Struct):
    contact_id: int
    identities: int
    tickets: int
    messages: int
    attachments: int
    files: int
    calls: int
    surveys: int


def _download(data: dict[str, Any], contact_id: int) -> Response[dict[str, Any]]:
    return Response(
        data, media_type="application/json",
        headers={"content-disposition": f'attachment; filename="contact-{contact_id}.json"',
                 "cache-control": "no-store"},
    )


@get("/api/v1/contacts/{contact_id:int}/export", tags=["contacts"], guards=MANAGERS_ONLY)
async def export_contact(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], contact_id: FromPath[int],
) -> Response[dict[str, Any]]:
    """Everything the hub holds on one person (GDPR access request), as JSON; audited."""
    return _download(await contact_export(ctx, contact_id, actor), contact_id)


@post("/api/v1/contacts/{contact_id:int}/erase", tags=["contacts"], guards=MANAGERS_ONLY, status_code=200)
async def erase_contact(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], contact_id: FromPath[int],
) -> ErasedOut:
    """Erase the person's data (GDPR erasure); statistics keep their counts. Audited, idempotent."""
    result = await do_erase_contact(ctx, contact_id, actor)
    return ErasedOut(**{f: getattr(result, f) for f in ErasedOut.__struct_fields__})


# Page -----------------------------------------------------------------------------------------


class EraseForm(msgspec.Struct):
    confirm: str = ""


@get("/contacts/{contact_id:int}/privacy", guards=MANAGERS_ONLY, include_in_schema=False)
async def privacy_page(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], contact_id: FromPath[int],
) -> Template:
    async with ctx.sessionmaker() as session:
        contact = await session.get(Contact, contact_id)
        if contact is None:
            return page("error.html", request, status_code=404, status=404,
                        detail=translate(request, "This contact does not exist."))
        from sqlmodel import func, select

        identities = (await session.exec(select(Identity).where(Identity.contact_id == contact_id))).all()
        tickets = (await session.exec(
            select(func.count()).select_from(Ticket).where(Ticket.contact_id == contact_id)
        )).one()
    return page("privacy/contact.html", request, contact=contact, identities=identities, tickets=tickets)


@get("/contacts/{contact_id:int}/export", guards=MANAGERS_ONLY, include_in_schema=False)
async def export_download(
    actor: NamedDependency[Actor], ctx: NamedDependency[HubContext], contact_id: FromPath[int],
) -> Response[dict[str, Any]]:
    return _download(await contact_export(ctx, contact_id, actor), contact_id)


@post("/contacts/{contact_id:int}/erase", guards=MANAGERS_ONLY, include_in_schema=False)
async def erase_form(
    request: Request[Any, Any, Any], actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
    contact_id: FromPath[int],
    data: URLEncodedBody[EraseForm],
) -> Redirect:
    target = f"/contacts/{contact_id}/privacy"
    if data.confirm != "ERASE":
        flash(request, translate(request, "Type ERASE to confirm the erasure."), "error")
        return Redirect(target, status_code=303)
    try:
        await do_erase_contact(ctx, contact_id, actor)
        flash(request, translate(request, "The contact's personal data was erased."), "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect(target, status_code=303)


ROUTES = [export_contact, erase_contact, privacy_page, export_download, erase_form]
