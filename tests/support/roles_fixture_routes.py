"""A page and an API route guarded for managers, mounted only by the role tests."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response import Template

from agent_ui.security import MANAGERS, requires_role
from agent_ui.web import page


@get("/test-managers-page", guards=[requires_role(*MANAGERS)], include_in_schema=False)
async def managers_page(request: Request[Any, Any, Any]) -> Template:
    return page("error.html", request, status=200, detail="managers only")


@get("/api/v1/test-admins", guards=[requires_role("admin")], include_in_schema=False)
async def admins_api() -> dict[str, bool]:
    return {"ok": True}


ROUTES = [managers_page, admins_api]
