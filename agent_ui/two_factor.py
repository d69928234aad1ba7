"""Two-factor sign-in in the web UI: enrolling (QR code, recovery codes), the second step of
signing in, and admins switching it off for a colleague who lost their phone.

The rules and the storage are in `hub.actions.two_factor`. Here:
- After a right password, an agent with two-factor sign-in gets a *pending* session (not logged
  in) and `/login/two-factor` asks for a code from the app or a recovery code. Five wrong codes
  end the pending session; every wrong code also counts on the sign-in throttle of that account
  and address, so knowing the password does not buy unlimited guesses of the code.
- A code is accepted once: its time step is remembered on the throttle's counters for the
  few minutes it could be valid.
- An agent whose role requires it (`HUB_REQUIRE_2FA`) and has not enrolled is led to
  `/account/two-factor` by `agent_ui.security.login_required` before anything else.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, URLEncodedBody
from litestar.response import Redirect, Template

from agent_ui import i18n
from agent_ui.errors import localised
from agent_ui.security import (
    CurrentAgent, client_address, log_in, login_throttle, renew_session_start, requires_role,
)
from agent_ui.web import flash, page, safe_next
from hub.actions.auth import check_login, record_failed_sign_in, record_sign_in
from hub.actions.errors import DomainError
from hub.actions.two_factor import (
    do_disable_two_factor, do_enable_two_factor, do_use_recovery_code, new_secret, provisioning_uri, totp_step,
)
from hub.context import HubContext
from hub.db.tables import Agent

PENDING_KEY = "pending_2fa"
PENDING_FOR_S = 5 * 60
MAX_CODE_FAILURES = 5
ENROL_SECRET_KEY = "enrol_secret"


class CodeForm(msgspec.Struct):
    code: str = ""


class PasswordOnlyForm(msgspec.Struct):
    password: str = ""


async def second_factor(request: Request[Any, Any, Any], ctx: HubContext, agent: Agent, code: str) -> str | None:
    """"totp" or "recovery" if `code` is a valid, unused second factor of `agent`; else None."""
    code = (code or "").strip()[:40]
    step = totp_step(agent.totp_secret, code, ctx.clock.now())
    if step is not None:
        seen, _ = await login_throttle(request).counters.hit(f"otp:{agent.id}:{step}", 180)
        return "totp" if seen == 1 else None
    assert agent.id is not None
    if await do_use_recovery_code(ctx, agent.id, code):
        return "recovery"
    return None


def begin_second_step(request: Request[Any, Any, Any], agent: Agent, target: str) -> Redirect:
    """The password was right: a pending (not logged-in) session that waits for the code."""
    from agent_ui.security import ROTATE_KEY

    request.scope[ROTATE_KEY] = True  # type: ignore[typeddict-unknown-key]
    request.set_session({PENDING_KEY: {"agent_id": agent.id, "email": agent.email, "fails": 0, "next": target,
                                       "at": request.app.state.ctx.clock.now().timestamp()}})
    return Redirect("/login/two-factor", status_code=303)


def forget_in_session(request: Request[Any, Any, Any], key: str) -> None:
    """Drop one entry of the session (a signed-in agent who wanders here stays signed in)."""
    session = request.scope.get("session")
    if isinstance(session, dict) and key in session:
        rest = {k: v for k, v in session.items() if k != key}
        if rest:
            request.set_session(rest)
        else:
            request.clear_session()


def _pending(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    session = request.scope.get("session")
    pending = session.get(PENDING_KEY) if isinstance(session, dict) else None
    if not isinstance(pending, dict):
        return None
    if request.app.state.ctx.clock.now().timestamp() - float(pending.get("at", 0)) > PENDING_FOR_S:
        return None
    return pending


# Signing in: the second step -------------------------------------------------------------------


@get("/login/two-factor", exclude_from_auth=True, include_in_schema=False)
async def code_page(request: Request[Any, Any, Any]) -> Template:
    return page("account/two_factor_code.html", request, error=None, expired=_pending(request) is None)


@post("/login/two-factor", exclude_from_auth=True, include_in_schema=False)
async def code_submit(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                      data: URLEncodedBody[CodeForm]) -> Template | Redirect:
    pending = _pending(request)
    agent = None
    if pending is not None:
        async with ctx.sessionmaker() as session:
            agent = await session.get(Agent, int(pending["agent_id"]))
    if pending is None or agent is None or not agent.active or agent.totp_enabled_at is None:
        forget_in_session(request, PENDING_KEY)
        return page("account/two_factor_code.html", request, status_code=400, error=None, expired=True)
    how = await second_factor(request, ctx, agent, data.code)
    address = client_address(request)
    if how is None:
        await login_throttle(request).second_factor_failed(agent.email, address)
        await record_failed_sign_in(ctx, "form", agent.email, address, agent.id, step="second factor")
        fails = int(pending.get("fails", 0)) + 1
        if fails >= MAX_CODE_FAILURES:
            forget_in_session(request, PENDING_KEY)
            return Redirect("/login", status_code=303)
        request.set_session({PENDING_KEY: {**pending, "fails": fails}})
        return page("account/two_factor_code.html", request, status_code=400, expired=False,
                    error=i18n.translate(request, "That code is not right. Try the next code of the app, or a recovery code."))
    assert agent.id is not None
    await record_sign_in(ctx, agent.id, "form", address, second_factor=how)
    log_in(request, agent)
    if how == "recovery":
        flash(request, i18n.translate(
            request, "You signed in with a recovery code: it cannot be used again. If you lost your phone, set up two-factor sign-in again."),
            "info")
    return Redirect(safe_next(str(pending.get("next") or "/")), status_code=303)


# Enrolling -------------------------------------------------------------------------------------


def _qr_data_uri(uri: str) -> str:
    import segno

    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


@get("/account/two-factor", include_in_schema=False)
async def two_factor_page(request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent],
                          ctx: NamedDependency[HubContext]) -> Template:
    required = me.role in ctx.settings.two_factor_roles
    if me.two_factor:
        return page("account/two_factor.html", request, nav="settings", enrolled=True, required=required,
                    error=None)
    session = request.scope.get("session")
    secret = session.get(ENROL_SECRET_KEY) if isinstance(session, dict) else None
    if not isinstance(secret, str) or not secret:
        secret = new_secret()
        request.set_session({**(session if isinstance(session, dict) else {}), ENROL_SECRET_KEY: secret})
    uri = provisioning_uri(secret, me.email, f"Contact hub {ctx.settings.office_name}")
    return page("account/two_factor.html", request, nav="settings", enrolled=False, required=required,
                qr=_qr_data_uri(uri), secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)), error=None)


@post("/account/two-factor", include_in_schema=False)
async def enrol_submit(request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent],
                       ctx: NamedDependency[HubContext], data: URLEncodedBody[CodeForm]) -> Template | Redirect:
    session = request.scope.get("session")
    secret = session.get(ENROL_SECRET_KEY) if isinstance(session, dict) else None
    if me.two_factor or not isinstance(secret, str):
        return Redirect("/account/two-factor", status_code=303)
    try:
        codes = await do_enable_two_factor(ctx, me.id, secret, data.code)
    except DomainError:
        uri = provisioning_uri(secret, me.email, f"Contact hub {ctx.settings.office_name}")
        return page("account/two_factor.html", request, nav="settings", status_code=400, enrolled=False,
                    required=me.role in ctx.settings.two_factor_roles, qr=_qr_data_uri(uri),
                    secret=" ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
                    error=i18n.translate(request, "That code does not match. Check that the phone's clock is right and type the code the app shows now."))
    assert isinstance(session, dict)
    request.set_session({k: v for k, v in session.items() if k != ENROL_SECRET_KEY})
    return page("account/recovery_codes.html", request, nav="settings", codes=codes)


@post("/account/two-factor/disable", include_in_schema=False)
async def disable_submit(request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent],
                         ctx: NamedDependency[HubContext], data: URLEncodedBody[PasswordOnlyForm]) -> Redirect:
    if me.role in ctx.settings.two_factor_roles:
        flash(request, i18n.translate(request, "Your role requires two-factor sign-in."), "error")
    elif await check_login(ctx, me.email, data.password) is None:
        flash(request, i18n.translate(request, "Your current password is not right."), "error")
    else:
        await do_disable_two_factor(ctx, me.id, me.id)
        renew_session_start(request, ctx.clock.now().timestamp())
        flash(request, i18n.translate(request, "Two-factor sign-in is off."), "success")
    return Redirect("/account/two-factor", status_code=303)


# Admins ----------------------------------------------------------------------------------------


@post("/settings/agents/{agent_id:int}/two-factor/reset", guards=[requires_role("admin")], include_in_schema=False)
async def reset_form(request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent],
                     ctx: NamedDependency[HubContext], agent_id: FromPath[int]) -> Redirect:
    try:
        await do_disable_two_factor(ctx, me.id, agent_id)
        flash(request, i18n.translate(request, "Two-factor sign-in switched off for this colleague; they set it up again at their next sign-in if their role requires it."), "success")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect("/settings", status_code=303)


@delete("/api/v1/agents/{agent_id:int}/two-factor", guards=[requires_role("admin")], tags=["agents"], status_code=204)
async def api_reset(me: NamedDependency[CurrentAgent], ctx: NamedDependency[HubContext], agent_id: FromPath[int]) -> None:
    """Switch a colleague's two-factor sign-in off (admins), e.g. after a lost phone: their
    sessions end; if their role requires it they enrol again at their next sign-in."""
    await do_disable_two_factor(ctx, me.id, agent_id)


ROUTES = [code_page, code_submit, two_factor_page, enrol_submit, disable_submit, reset_form, api_reset]
