"""My account: changing my password, revoking the API token in use; admins reset a colleague's
password. The rules are in `hub.actions.accounts`; the reasons a password is refused are shown
in the agent's language."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, delete, get, post, put
from litestar.exceptions import ClientException
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, URLEncodedBody
from litestar.response import Redirect, Template

from agent_ui import i18n
from agent_ui.errors import localised
from agent_ui.security import CurrentAgent, bearer_token, renew_session_start, requires_role
from agent_ui.web import flash, page
from hub.actions.accounts import MAX_SIGNATURE_CHARS, do_change_password, do_reset_password, do_set_signature, signature_of
from hub.actions.auth import do_revoke_api_token
from hub.actions.errors import DomainError, WeakPassword
from hub.actors import Actor
from hub.context import HubContext


def N_(message: str) -> str:  # noqa: N802 - marks a string for the catalogue, translated later
    return message


# The same texts as `WeakPassword.MESSAGES`, marked here for the UI's catalogue.
PASSWORD_PROBLEMS = {
    "too_short": N_("A password needs at least 12 characters."),
    "too_long": N_("A password may have at most 500 characters."),
    "guessable": N_("This password is too easy to guess (a common word, a name, a date or a pattern). "
                    "A few unrelated words make a strong one."),
    "wrong_current": N_("Your current password is not right."),
}


def password_problem_text(request: Request[Any, Any, Any], exc: WeakPassword) -> str:
    return i18n.translate(request, PASSWORD_PROBLEMS.get(exc.reason, str(exc)))


def weak_password_response(request: Request[Any, Any, Any], exc: WeakPassword) -> Response[Any]:
    return Response({"status_code": 422, "detail": password_problem_text(request, exc), "reason": exc.reason},
                    status_code=422)


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    current: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]
    new: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class PasswordReset(msgspec.Struct, forbid_unknown_fields=True):
    new: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class PasswordForm(msgspec.Struct):
    current: str = ""
    new: str = ""
    repeat: str = ""


class ResetForm(msgspec.Struct):
    new: str = ""


class Signature(msgspec.Struct, forbid_unknown_fields=True):
    signature: Annotated[str, msgspec.Meta(max_length=MAX_SIGNATURE_CHARS)]


class SignatureForm(msgspec.Struct):
    signature: str = ""


# Pages -------------------------------------------------------------------------------------


@get("/account/password", include_in_schema=False)
async def password_page(request: Request[Any, Any, Any]) -> Template:
    return page("account/password.html", request, nav="settings", error=None)


@post("/account/password", include_in_schema=False)
async def password_form(request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent],
                        ctx: NamedDependency[HubContext], data: URLEncodedBody[PasswordForm]) -> Template | Redirect:
    if data.new != data.repeat:
        return page("account/password.html", request, nav="settings", status_code=400,
                    error=i18n.translate(request, "The two new passwords are not the same."))
    try:
        changed_at = await do_change_password(ctx, me.id, data.current, data.new)
    except WeakPassword as exc:
        return page("account/password.html", request, nav="settings", status_code=400,
                    error=password_problem_text(request, exc))
    renew_session_start(request, changed_at.timestamp())
    flash(request, i18n.translate(request, "Password changed. Your other sessions and your API tokens have ended."),
          "success")
    return Redirect("/settings", status_code=303)


@post("/settings/agents/{agent_id:int}/password", guards=[requires_role("admin")], include_in_schema=False)
async def reset_form(request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent],
                     ctx: NamedDependency[HubContext], agent_id: FromPath[int], data: URLEncodedBody[ResetForm]) -> Redirect:
    try:
        await do_reset_password(ctx, me.id, agent_id, data.new)
        flash(request, i18n.translate(request, "Password set. Give it to your colleague in person; their sessions have ended."),
              "success")
    except WeakPassword as exc:
        flash(request, password_problem_text(request, exc), "error")
    except DomainError as exc:
        flash(request, localised(request, exc), "error")
    return Redirect("/settings", status_code=303)


@get("/account/signature", include_in_schema=False)
async def signature_page(request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent],
                         ctx: NamedDependency[HubContext]) -> Template:
    return page("account/signature.html", request, nav="settings", signature=await signature_of(ctx, me.id),
                limit=MAX_SIGNATURE_CHARS, error=None)


@post("/account/signature", include_in_schema=False)
async def signature_form(request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent],
                         ctx: NamedDependency[HubContext], data: URLEncodedBody[SignatureForm]) -> Template | Redirect:
    if len(data.signature) > MAX_SIGNATURE_CHARS:
        return page("account/signature.html", request, nav="settings", status_code=400, signature=data.signature,
                    limit=MAX_SIGNATURE_CHARS,
                    error=i18n.translate(request, "A signature has at most %(limit)s characters.", limit=MAX_SIGNATURE_CHARS))
    await do_set_signature(ctx, me.id, data.signature)
    flash(request, i18n.translate(request, "Signature saved. It goes under your email replies."), "success")
    return Redirect("/account/signature", status_code=303)


# API ---------------------------------------------------------------------------------------


@get("/api/v1/agents/me/signature", tags=["agents"])
async def my_signature(me: NamedDependency[CurrentAgent], ctx: NamedDependency[HubContext]) -> Signature:
    """My signature, added under my email replies (plain text)."""
    return Signature(await signature_of(ctx, me.id))


@put("/api/v1/agents/me/signature", tags=["agents"])
async def set_my_signature(me: NamedDependency[CurrentAgent], ctx: NamedDependency[HubContext],
                           data: JSONBody[Signature]) -> Signature:
    """Set my signature for email replies (at most 1,000 characters; empty for none). A reply keeps
    the signature it was written with."""
    return Signature(await do_set_signature(ctx, me.id, data.signature))


@delete("/api/v1/auth/token", tags=["auth"], status_code=204)
async def revoke_token(request: Request[Any, Any, Any], actor: NamedDependency[Actor],
                       ctx: NamedDependency[HubContext]) -> None:
    """Revoke the API token this call is authenticated with (it stops working at once)."""
    token = bearer_token(request.scope)
    if token is None or request.scope.get("auth") != "token":
        raise ClientException("send the token to revoke as Authorization: Bearer")
    await do_revoke_api_token(ctx, token, actor)


@put("/api/v1/agents/me/password", tags=["agents"], status_code=204)
async def change_my_password(request: Request[Any, Any, Any], me: NamedDependency[CurrentAgent],
                             ctx: NamedDependency[HubContext], data: JSONBody[PasswordChange]) -> None:
    """Change my password. My other sessions end and every API token of mine is revoked (this
    call's too, if it used one). A refused password answers 422 with `reason` (`wrong_current`,
    `too_short`, `too_long`, `guessable`) and `detail` in the agent's language."""
    changed_at = await do_change_password(ctx, me.id, data.current, data.new)
    if request.scope.get("auth") == "session":
        renew_session_start(request, changed_at.timestamp())


@put("/api/v1/agents/{agent_id:int}/password", guards=[requires_role("admin")], tags=["agents"], status_code=204)
async def reset_password(me: NamedDependency[CurrentAgent], ctx: NamedDependency[HubContext], agent_id: FromPath[int],
                         data: JSONBody[PasswordReset]) -> None:
    """Set a colleague's password (admins). Their sessions end and their API tokens are revoked."""
    await do_reset_password(ctx, me.id, agent_id, data.new)


ROUTES = [password_page, password_form, reset_form, revoke_token, change_my_password, reset_password,
          signature_page, signature_form, my_signature, set_my_signature]
