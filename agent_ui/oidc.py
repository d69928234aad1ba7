"""Sign-in with the city's identity provider: OpenID Connect, authorization code flow with PKCE
(authlib's client; ID tokens checked with joserfc, authlib's own JOSE library).

On when `HUB_OIDC_ISSUER`, `HUB_OIDC_CLIENT_ID` (and for confidential clients
`HUB_OIDC_CLIENT_SECRET`) are set; the provider must allow the redirect URI
`HUB_PUBLIC_URL/login/oidc/callback`. The flow:
1. `/login/oidc` keeps a random `state`, `nonce` and PKCE verifier in the (server-side) session
   and sends the browser to the provider's authorization endpoint (S256 code challenge).
2. `/login/oidc/callback` checks `state`, exchanges the code with the verifier, verifies the ID
   token (signature from the provider's JWKS, `iss`, `aud`, `exp`, `nonce`), reads the userinfo
   (same `sub`), and hands the email, name and `HUB_OIDC_ROLE_CLAIM` to
   `hub.actions.accounts.do_sign_in_from_identity_provider`: agents are matched by email and
   never created with a role the provider did not give.
Two-factor sign-in applies as after a password: an agent who enrolled types their code, and a
role `HUB_REQUIRE_2FA` names must enrol (the hub cannot see what the provider asked for).
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from litestar import Request, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from litestar.response import Redirect, Template

from agent_ui import i18n
from agent_ui.security import client_address, log_in
from agent_ui.two_factor import forget_in_session, begin_second_step
from agent_ui.web import page, safe_next
from hub.actions.accounts import do_sign_in_from_identity_provider, role_from_claim
from hub.actions.auth import record_failed_sign_in, record_sign_in
from hub.actions.errors import DomainError, Invalid
from hub.context import HubContext

log = logging.getLogger(__name__)
FLOW_KEY = "oidc_flow"
FLOW_FOR_S = 10 * 60
_TIMEOUT = 10.0  # seconds, each request to the provider


class SignInFailed(Exception):
    """Anything wrong in the exchange with the provider (logged; the person sees a plain message)."""


def enabled(settings: Any) -> bool:
    return bool(settings.oidc_issuer and settings.oidc_client_id)


def _redirect_uri(settings: Any) -> str:
    return settings.public_url.rstrip("/") + "/login/oidc/callback"


async def _metadata(issuer: str) -> dict[str, Any]:
    import httpx  # only where sign-in with a provider is configured (5 MB in every web worker)

    async with httpx.AsyncClient(timeout=_TIMEOUT) as http:
        answer = await http.get(f"{issuer}/.well-known/openid-configuration")
        answer.raise_for_status()
        meta = answer.json()
    if meta.get("issuer", "").rstrip("/") != issuer:
        raise SignInFailed(f"the discovery document names another issuer: {meta.get('issuer')!r}")
    return meta  # type: ignore[no-any-return]


def _client(settings: Any) -> Any:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    return AsyncOAuth2Client(
        client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret or None,
        scope=settings.oidc_scopes, redirect_uri=_redirect_uri(settings), code_challenge_method="S256",
        timeout=_TIMEOUT, token_endpoint_auth_method="client_secret_basic" if settings.oidc_client_secret else "none",
    )


def _failed(request: Request[Any, Any, Any], message: str, status: int = 400) -> Template:
    return page("login.html", request, status_code=status, next="/", email="", error=message)


@get("/login/oidc", exclude_from_auth=True, include_in_schema=False)
async def start(request: Request[Any, Any, Any], next: FromQuery[str] = "/") -> Redirect | Template:  # noqa: A002
    settings = request.app.state.settings
    if not enabled(settings):
        raise NotFoundException("sign-in with an identity provider is not configured")
    import httpx

    try:
        meta = await _metadata(settings.oidc_issuer)
    except (httpx.HTTPError, ValueError, SignInFailed) as exc:
        log.warning("OpenID Connect: the identity provider's metadata could not be read: %s", exc)
        return _failed(request, i18n.translate(request, "The city's sign-in service does not answer. Try again later, or sign in with your password."), 502)
    verifier, nonce = secrets.token_urlsafe(48), secrets.token_urlsafe(24)
    async with _client(settings) as client:
        url, state = client.create_authorization_url(meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce)
    request.set_session({FLOW_KEY: {"state": state, "nonce": nonce, "verifier": verifier, "next": safe_next(next),
                                    "at": request.app.state.ctx.clock.now().timestamp()}})
    return Redirect(url, status_code=303)


async def _identity(settings: Any, meta: dict[str, Any], code: str, flow: dict[str, Any]) -> dict[str, Any]:
    """The verified claims of the person the provider signed in (ID token, then userinfo)."""
    from joserfc import jwt
    from joserfc.errors import JoseError
    from joserfc.jwk import KeySet

    async with _client(settings) as client:
        token = await client.fetch_token(meta["token_endpoint"], grant_type="authorization_code", code=code,
                                         code_verifier=flow["verifier"])
        id_token = token.get("id_token")
        if not id_token:
            raise SignInFailed("the token response has no id_token")
        jwks = (await client.get(meta["jwks_uri"])).json()
        try:
            decoded = jwt.decode(id_token, KeySet.import_key_set(jwks),
                                 algorithms=meta.get("id_token_signing_alg_values_supported") or ["RS256"])
            jwt.JWTClaimsRegistry(
                iss={"essential": True, "value": settings.oidc_issuer},
                aud={"essential": True, "value": settings.oidc_client_id},
                nonce={"essential": True, "value": flow["nonce"]},
                sub={"essential": True}, exp={"essential": True},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise SignInFailed(f"the ID token did not verify: {exc}") from None
        claims = dict(decoded.claims)
        if meta.get("userinfo_endpoint"):
            info = (await client.get(meta["userinfo_endpoint"])).json()
            if info.get("sub") != claims["sub"]:
                raise SignInFailed("userinfo is about another subject")
            claims = {**info, **{k: v for k, v in claims.items() if k in ("iss", "aud", "sub", "nonce")}}
    return claims


@get("/login/oidc/callback", exclude_from_auth=True, include_in_schema=False)
async def callback(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> Redirect | Template:
    query = request.query_params  # `state` is a reserved parameter name in Litestar
    code, state, error = (str(query.get(k) or "")[:2000] for k in ("code", "state", "error"))
    settings = request.app.state.settings
    if not enabled(settings):
        raise NotFoundException("sign-in with an identity provider is not configured")
    session = request.scope.get("session")
    flow = session.get(FLOW_KEY) if isinstance(session, dict) else None
    forget_in_session(request, FLOW_KEY)  # a flow is used once, whatever happens next
    generic = i18n.translate(request, "Sign-in with the city's account did not work. Try again, or sign in with your password.")
    if not isinstance(flow, dict) or not state or not secrets.compare_digest(str(flow.get("state", "")), state) \
            or ctx.clock.now().timestamp() - float(flow.get("at", 0)) > FLOW_FOR_S:
        return _failed(request, generic)
    if error or not code:
        log.info("OpenID Connect: the provider answered %s", error[:80] or "no code")
        return _failed(request, generic)
    import httpx

    try:
        claims = await _identity(settings, await _metadata(settings.oidc_issuer), code, flow)
    except (httpx.HTTPError, ValueError, KeyError, SignInFailed) as exc:
        log.warning("OpenID Connect sign-in failed: %s", exc)
        return _failed(request, generic)
    except Exception as exc:  # authlib's OAuthError and kin
        log.warning("OpenID Connect sign-in failed: %s: %s", type(exc).__name__, exc)
        return _failed(request, generic)
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") is False:
        return _failed(request, generic)
    role = role_from_claim(claims.get(settings.oidc_role_claim))
    address = client_address(request)
    try:
        agent = await do_sign_in_from_identity_provider(ctx, email, str(claims.get("name") or ""), role,
                                                        settings.oidc_issuer)
    except Invalid:
        await record_failed_sign_in(ctx, "oidc", email.lower(), address, reason="no role")
        return _failed(request, i18n.translate(request, "The city's account gave you no role in the hub. Ask an administrator."), 403)
    except DomainError:
        await record_failed_sign_in(ctx, "oidc", email.lower(), address, reason="switched off")
        return _failed(request, generic, 403)
    target = safe_next(str(flow.get("next") or "/"))
    if agent.totp_enabled_at is not None:
        return begin_second_step(request, agent, target)
    assert agent.id is not None
    await record_sign_in(ctx, agent.id, "oidc", address)
    log_in(request, agent)
    if agent.role in settings.two_factor_roles:
        return Redirect("/account/two-factor", status_code=303)
    return Redirect(target, status_code=303)


ROUTES = [start, callback]
