"""Settings: my account for everyone; agents' capacity and the routing options for managers;
creating logins for admins. Also the matching API routes."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from agent_ui.errors import localised
from agent_ui.account import password_problem_text
from agent_ui.api import AgentBrief
from agent_ui.i18n import translate
from agent_ui.security import MANAGERS, requires_role
from agent_ui.web import flash, page
from hub import views
from hub.actions.agents import do_create_agent, do_deactivate_agent
from hub.actions.accounts import check_new_password
from hub.actions.errors import DomainError, WeakPassword
from hub.actions.quick_replies import list_quick_replies
from hub.actions.topics import list_topics, topic_required_setting
from hub.actions.routing import do_set_capacity, do_set_hand_back_on_offline, hand_back_setting
from hub.actors import Actor
from hub.context import HubContext


class CapacityForm(msgspec.Struct):
    capacity: str = ""


class RoutingForm(msgspec.Struct):
    hand_back: str = ""


class NewAgentForm(msgspec.Struct):
    email: str = ""
    name: str = ""
    role: str = "agent"
    password: str = ""
    capacity: str = "5"


class AgentPatch(msgspec.Struct, forbid_unknown_fields=True):
    capacity: Annotated[int, msgspec.Meta(ge=0, le=100)] | msgspec.UnsetType = msgspec.UNSET


class AgentCreate(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    role: Literal["agent", "manager", "admin"]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    capacity: Annotated[int, msgspec.Meta(ge=0, le=100)] = 5


@get("/settings", include_in_schema=False)
async def settings_page(actor: NamedDependency[Actor], request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> Template:
    return await _settings(actor, request, ctx)


async def _settings(actor: Actor, request: Request[Any, Any, Any], ctx: HubContext, status_code: int = 200,
                    **extra: Any) -> Template:
    async with ctx.sessionmaker() as session:
        agents = await views.available_agents(session)
    from agent_ui.office import describe, feed_token
    from hub.actions.office import office_calendar

    calendar = await office_calendar(ctx)
    today = calendar.local_date(ctx.clock.now())
    return page("settings/index.html", request, status_code=status_code, nav="settings", agents=agents,
                hand_back=await hand_back_setting(ctx), auto_assign=ctx.settings.auto_assign,
                office=describe(ctx, calendar), today=today.isoformat(),
                days_off=calendar.days_off(today, today + timedelta(days=90)),
                feed_url=f"{ctx.settings.public_url}/calendar/{feed_token(ctx)}/closures.ics",
                topics=await list_topics(ctx), topic_required=await topic_required_setting(ctx),
                quick_replies=await list_quick_replies(ctx, actor), **extra)


@post("/settings/agents/{agent_id:int}/capacity", guards=[requires_role(*MANAGERS)], include_in_schema=False)
async def capacity_form(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], agent_id: FromPath[int],
                        data: URLEncodedBody[CapacityForm]) -> Redirect:
    try:
        if not data.capacity.strip().isdigit():
            raise ValueError
        await do_set_capacity(ctx, agent_id, int(data.capacity))
        flash(request, translate(request, "Capacity saved."), "success")
    except (DomainError, ValueError):
        flash(request, translate(request, "Capacity must be a number from 0 to 100."), "error")
    return Redirect("/settings", status_code=303)


@post("/settings/routing", guards=[requires_role(*MANAGERS)], include_in_schema=False)
async def routing_form(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                       data: URLEncodedBody[RoutingForm]) -> Redirect:
    await do_set_hand_back_on_offline(ctx, bool(data.hand_back))
    flash(request, translate(request, "Routing options saved."), "success")
    return Redirect("/settings", status_code=303)


@post("/settings/agents", guards=[requires_role("admin")], include_in_schema=False)
async def new_agent_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor],
                         ctx: NamedDependency[HubContext], data: URLEncodedBody[NewAgentForm]) -> Redirect | Template:
    try:
        capacity = int(data.capacity) if data.capacity.strip().isdigit() else 5
        check_new_password(data.password, name=data.name, email=data.email)
        await do_create_agent(ctx, data.email, data.name, data.role, data.password, capacity=capacity, by=actor)
    except DomainError as exc:
        # The settings page again (422) with what was typed (never the password) and the message
        # under the field it is about: the password's reason, else the address (taken or invalid).
        weak = isinstance(exc, WeakPassword)
        return await _settings(actor, request, ctx, status_code=422, new_agent=data,
                               form_error=password_problem_text(request, exc) if weak else localised(request, exc),
                               error_field="password" if weak else "email")
    flash(request, translate(request, "Login created."), "success")
    return Redirect("/settings", status_code=303)


# API -----------------------------------------------------------------------------------


@patch("/api/v1/agents/{agent_id:int}", guards=[requires_role(*MANAGERS)], tags=["agents"])
async def patch_agent(ctx: NamedDependency[HubContext], agent_id: FromPath[int],
                      data: JSONBody[AgentPatch]) -> AgentBrief:
    """Change an agent's capacity (managers and admins)."""
    if data.capacity is not msgspec.UNSET:
        await do_set_capacity(ctx, agent_id, data.capacity)
    async with ctx.sessionmaker() as session:
        rows = [r for r in await views.available_agents(session) if r[0] == agent_id]
    from hub.actions.errors import NotFound

    if not rows:
        raise NotFound(f"agent {agent_id} does not exist")
    return AgentBrief(*rows[0])


@post("/api/v1/agents", guards=[requires_role("admin")], tags=["agents"], status_code=201)
async def create_agent(actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                       data: JSONBody[AgentCreate]) -> AgentBrief:
    """Create a login (admins)."""
    check_new_password(data.password, name=data.name, email=data.email)
    agent_id = await do_create_agent(ctx, data.email, data.name, data.role, data.password, capacity=data.capacity,
                                     by=actor)
    return AgentBrief(agent_id, data.name.strip(), "offline", 0, data.capacity)


@post("/settings/agents/{agent_id:int}/deactivate", guards=[requires_role("admin")], include_in_schema=False)
async def deactivate_form(request: Request[Any, Any, Any], actor: NamedDependency[Actor],
                          ctx: NamedDependency[HubContext], agent_id: FromPath[int]) -> Redirect:
    try:
        await do_deactivate_agent(ctx, agent_id, actor)
        flash(request, translate(request, "Login switched off: its sessions and tokens no longer work."), "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect("/settings", status_code=303)


@post("/api/v1/agents/{agent_id:int}/deactivate", guards=[requires_role("admin")], tags=["agents"], status_code=204)
async def api_deactivate_agent(actor: NamedDependency[Actor], ctx: NamedDependency[HubContext],
                               agent_id: FromPath[int]) -> None:
    """Switch a login off (admins): its sessions and API tokens stop working at once, its open
    consultations go back to the queue."""
    await do_deactivate_agent(ctx, agent_id, actor)


ROUTES = [
    settings_page, capacity_form, routing_form, new_agent_form, deactivate_form, patch_agent, create_agent,
    api_deactivate_agent,
]
__all__ = ["ROUTES"]
