"""Logging in and out, API tokens, the agent's language and presence."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from agent_ui import i18n
from agent_ui.security import CurrentAgent, client_address, log_in, log_out, login_throttle, secure_cookies
from agent_ui.two_factor import begin_second_step, second_factor
from agent_ui.web import back, flash, page, safe_next
from hub.actions.agents import do_set_agent_language
from hub.actions.routing import do_change_presence
from hub.actions.auth import (
    check_login, do_issue_api_token, record_failed_sign_in, record_sign_in, record_sign_out,
)
from hub.actors import Actor
from hub.context import HubContext


class LoginForm(msgspec.Struct):
    email: str = ""
    password: str = ""
    next: str = "/"


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    email: Annotated[str, msgspec.Meta(min_length=3, max_length=320)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    # The current code of the agent's authenticator app, or one of their recovery codes: needed
    # when the agent has two-factor sign-in (and they must have it if HUB_REQUIRE_2FA names their role).
    otp: Annotated[str, msgspec.Meta(max_length=40)] | None = None


class TokenOut(msgspec.Struct):
    token: str
    agent_id: int
    role: str
    expires_at: datetime  # HUB_TOKEN_TTL after issue; DELETE /api/v1/auth/token revokes it sooner


class PresenceIn(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["available", "away", "offline"]


class AgentOut(msgspec.Struct):
    id: int
    email: str
    name: str
    role: str
    presence: str
    capacity: int
    language: str


class PresenceForm(msgspec.Struct):
    status: str = ""
    next: str | None = None
    lang: str = ""  # the top bar's one form also sets the language


class LanguageForm(msgspec.Struct):
    lang: str = ""
    next: str | None = None


@get("/login", exclude_from_auth=True, include_in_schema=False)
async def login_page(request: Request[Any, Any, Any], next: FromQuery[str] = "/") -> Template | Redirect:  # noqa: A002
    if request.scope.get("session", {}).get("agent_id"):
        return Redirect(safe_next(next), status_code=303)
    return page("login.html", request, next=safe_next(next), email="", error=None)


@post("/login", exclude_from_auth=True, include_in_schema=False)
async def login_submit(
    request: Request[Any, Any, Any], data: URLEncodedBody[LoginForm], ctx: NamedDependency[HubContext]
) -> Template | Redirect:
    target = safe_next(data.next)
    throttle = login_throttle(request)
    attempt = await throttle.begin(data.email, client_address(request))
    if attempt.refused_for:
        response = page("login.html", request, status_code=429, next=target, email=data.email,
                        error=i18n.translate(request, "Too many failed attempts. Wait a few minutes and try again."))
        response.headers["retry-after"] = str(attempt.refused_for)
        return response
    await throttle.wait(attempt)
    agent = await check_login(ctx, data.email, data.password)
    if agent is None:
        await throttle.failed(attempt)
        await record_failed_sign_in(ctx, "form", data.email.strip().lower(), client_address(request))
        return page("login.html", request, status_code=400, next=target, email=data.email,
                    error=i18n.translate(request, "Wrong email or password."))
    await throttle.succeeded(attempt)
    if agent.totp_enabled_at is not None:
        return begin_second_step(request, agent, target)
    assert agent.id is not None
    await record_sign_in(ctx, agent.id, "form", client_address(request))
    log_in(request, agent)
    if agent.role in ctx.settings.two_factor_roles:
        return Redirect("/account/two-factor", status_code=303)  # enrol before anything else
    return Redirect(target, status_code=303)


@post("/logout", include_in_schema=False)
async def logout(request: Request[Any, Any, Any], actor: NamedDependency[Actor],
                 ctx: NamedDependency[HubContext]) -> Redirect:
    from agent_ui.live import announce_session_ended
    from agent_ui.security import session_id_of

    announce_session_ended(session_id_of(request))  # open live streams end now
    log_out(request)
    await record_sign_out(ctx, actor, client_address(request))
    return Redirect("/login", status_code=303)


@post("/language", exclude_from_auth=True, include_in_schema=False)
async def set_language(
    request: Request[Any, Any, Any], data: URLEncodedBody[LanguageForm], ctx: NamedDependency[HubContext]
) -> Redirect:
    lang = i18n.pick_language(data.lang, default=request.app.state.settings.language)
    session = request.scope.get("session")
    agent_id = session.get("agent_id") if isinstance(session, dict) else None
    if isinstance(agent_id, int):
        await do_set_agent_language(ctx, agent_id, lang)
    response = back(request, data.next)
    response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True,
                        secure=secure_cookies(request.app.state.settings))
    return response


@post("/presence", include_in_schema=False)
async def set_presence_form(
    request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent], data: URLEncodedBody[PresenceForm],
    ctx: NamedDependency[HubContext],
) -> Redirect:
    response = back(request, data.next)
    if data.lang:
        lang = i18n.pick_language(data.lang, default=request.app.state.settings.language)
        if lang != me.language:
            await do_set_agent_language(ctx, me.id, lang)
            request.scope["hub_lang"] = lang  # flashes below in the new language
        response.set_cookie(i18n.COOKIE, lang, max_age=365 * 86400, samesite="lax", httponly=True)
    if data.status not in ("available", "away", "offline"):
        flash(request, i18n.translate(request, "Unknown presence."), "error")
    elif data.status != me.presence or not data.lang:
        handed = await do_change_presence(ctx, me.actor, data.status)
        if handed:
            flash(request, i18n.translate_plural(request, "%(num)d consultation went back to the queue.",
                                                 "%(num)d consultations went back to the queue.", len(handed)), "info")
    return response


# API -------------------------------------------------------------------------------------


@post("/api/v1/auth/token", exclude_from_auth=True, tags=["auth"], status_code=201)
async def issue_token(
    request: Request[Any, Any, Any], data: JSONBody[TokenRequest], ctx: NamedDependency[HubContext]
) -> Response[Any]:
    """Exchange an email and password for an API token (send it as `Authorization: Bearer`)."""
    throttle = login_throttle(request)
    attempt = await throttle.begin(data.email, client_address(request))
    if attempt.refused_for:
        return Response({"status_code": 429, "detail": "too many failed attempts, wait a few minutes"},
                        status_code=429, headers={"retry-after": str(attempt.refused_for)})
    await throttle.wait(attempt)
    agent = await check_login(ctx, data.email, data.password)
    if agent is None or agent.id is None:
        await throttle.failed(attempt)
        await record_failed_sign_in(ctx, "token", data.email.strip().lower(), client_address(request))
        return Response({"status_code": 401, "detail": "wrong email or password"}, status_code=401)
    if agent.totp_enabled_at is not None:
        how = await second_factor(request, ctx, agent, data.otp or "")
        if how is None:
            await throttle.failed(attempt)
            await record_failed_sign_in(ctx, "token", agent.email, client_address(request), agent.id,
                                        step="second factor")
            return Response({"status_code": 401, "detail": "a valid one-time code is required in otp"},
                            status_code=401)
    elif agent.role in ctx.settings.two_factor_roles:
        await throttle.succeeded(attempt)
        return Response({"status_code": 403, "detail": "your role requires two-factor sign-in: set it up in the "
                                                       "web UI (/account/two-factor) before asking for a token"},
                        status_code=403)
    await throttle.succeeded(attempt)
    token = await do_issue_api_token(ctx, agent.id, address=client_address(request))
    expires_at = ctx.clock.now() + ctx.settings.token_ttl
    return Response(TokenOut(token=token, agent_id=agent.id, role=agent.role, expires_at=expires_at), status_code=201)


@get("/api/v1/agents/me", tags=["agents"])
async def get_me(me: NamedDependency[CurrentAgent]) -> AgentOut:
    return AgentOut(me.id, me.email, me.name, me.role, me.presence, me.capacity, me.language)


@put("/api/v1/agents/me/presence", tags=["agents"])
async def put_presence(
    me: NamedDependency[CurrentAgent], data: JSONBody[PresenceIn], ctx: NamedDependency[HubContext]
) -> AgentOut:
    await do_change_presence(ctx, me.actor, data.status)
    return AgentOut(me.id, me.email, me.name, me.role, data.status, me.capacity, me.language)


ROUTES = [login_page, login_submit, logout, set_language, set_presence_form, issue_token, get_me, put_presence]
