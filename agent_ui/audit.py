"""The audit trail, for admins: `GET /api/v1/audit` and the `/audit` page. Read-only.

Entries are written by `hub.actions.audit` (`audit(ctx, ...)` / `add_audit(uow, ...)`); there is
deliberately no route that changes or deletes one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec
from litestar import Request, get
from litestar.exceptions import ValidationException
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Template

from agent_ui.security import requires_role
from agent_ui.web import page
from hub.actions.audit import AuditRow, audit_entries
from hub.context import HubContext

ADMINS_ONLY = [requires_role("admin")]


class AuditPage(msgspec.Struct):
    entries: list[AuditRow]
    next_before: int | None


Limit = Annotated[int, msgspec.Meta(ge=1, le=500)]
Id = Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
Text = Annotated[str, msgspec.Meta(max_length=60)]


async def _page(ctx: HubContext, agent_id: int | None, action: str | None, target_type: str | None,
                target_id: str | None, before: int | None, limit: int) -> AuditPage:
    for name, value in (("agent_id", agent_id), ("before", before)):
        if value is not None and not 0 <= value <= 2**31 - 1:
            raise ValidationException(f"{name} is not a valid id")
    rows = await audit_entries(ctx, agent_id=agent_id, action=action, target_type=target_type,
                               target_id=target_id, before=before, limit=limit)
    return AuditPage(rows, rows[-1].id if len(rows) == limit else None)


@get("/api/v1/audit", tags=["audit"], guards=ADMINS_ONLY)
async def list_audit(
    ctx: NamedDependency[HubContext],
    agent_id: FromQuery[Id | None] = None, action: FromQuery[Text | None] = None,
    target_type: FromQuery[Text | None] = None, target_id: FromQuery[Text | None] = None,
    before: FromQuery[Id | None] = None, limit: FromQuery[Limit] = 100,
) -> AuditPage:
    """What staff did, newest first; page with `before=<next_before>`."""
    return await _page(ctx, agent_id, action, target_type, target_id, before, limit)


@get("/audit", guards=ADMINS_ONLY, include_in_schema=False)
async def audit_page(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
    agent_id: FromQuery[Id | None] = None, action: FromQuery[Text | None] = None,
    before: FromQuery[Id | None] = None,
) -> Template:
    result = await _page(ctx, agent_id, action or None, None, None, before, 100)
    return page("audit/list.html", request, nav="audit", entries=result.entries, next_before=result.next_before,
                action=action or "", agent_id=agent_id)


ROUTES = [list_audit, audit_page]
