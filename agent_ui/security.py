"""Who is asking and what they may do: sessions, API tokens, role guards, CSRF, login throttling.

- Browsers log in at `/login` and get a server-side session (MemoryStore embedded, RedisStore
  when `HUB_REDIS_URL` is set, so every `hub web` instance shares them). The session id is
  rotated at login. A session lasts `HUB_SESSION_LIFETIME` from its sign-in (not from its last
  request) and ends when the agent's password changes.
- Integrations send `Authorization: Bearer <token>` (from `POST /api/v1/auth/token`) on `/api/`.
- Every route needs a logged-in agent unless its handler says `exclude_from_auth=True`
  (webhooks, health, survey, login). `requires_role(...)` narrows it further.
  Unauthenticated: JSON 401 on the API, a redirect to the login page for pages. Wrong role: 403.
- CSRF (double-submit cookie) on every unsafe request, except `/webhooks/` (signed by the
  provider), the token endpoint (needs a password) and bearer-token API calls (no cookies).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session.server_side import ServerSideSessionBackend, ServerSideSessionConfig
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from hub.actors import Actor
from hub.config import Settings
from hub.db.tables import Agent

if TYPE_CHECKING:
    from agent_ui.throttle import LoginThrottle
    from hub.actions.auth import TokenAgent

log = logging.getLogger(__name__)

SESSION_COOKIE = "hub_session"  # the names' base: see `cookie_name`
CSRF_COOKIE = "hub_csrf"
# Addresses only providers' machines call (Twilio's webhooks, signed): no browser session, no
# agent, no CSRF cookie. The session, authentication and CSRF middleware skip them entirely.
MACHINE_PATHS = ["^/webhooks/"]
CSRF_EXCLUDE = [*MACHINE_PATHS, "^/api/v1/auth/token$"]
ROLES = ("agent", "manager", "admin")
ANY_ROLE = ROLES
MANAGERS = ("manager", "admin")


@dataclass(frozen=True)
class CurrentAgent:
    """`request.user`: the agent making the request (a snapshot; reload rows you change)."""

    id: int
    email: str
    name: str
    role: str
    presence: str
    capacity: int
    language: str
    two_factor: bool = False  # enrolled in two-factor sign-in

    @classmethod
    def of(cls, agent: Agent | TokenAgent) -> "CurrentAgent":
        assert agent.id is not None
        return cls(agent.id, agent.email, agent.name, agent.role, agent.presence, agent.capacity, agent.language,
                   agent.totp_enabled_at is not None)

    @property
    def is_manager(self) -> bool:
        return self.role in MANAGERS

    @property
    def actor(self) -> Actor:
        """This agent as the core's actions know them."""
        return Actor.agent(self.id, self.role)


def current_agent(connection: ASGIConnection[Any, Any, Any, Any]) -> CurrentAgent | None:
    """The logged-in agent or None (also safe on routes excluded from auth)."""
    user = connection.scope.get("user")
    return user if isinstance(user, CurrentAgent) else None


# The one way a handler learns who asks: the `me` dependency (`me: NamedDependency[CurrentAgent]`),
# and `actor` (`actor: NamedDependency[Actor]`), the same agent as the core's actions know them,
# derived from `me`. The app-wide guard has let only signed-in agents through.
def provide_me(request: Request[Any, Any, Any]) -> CurrentAgent:
    agent = current_agent(request)
    if agent is None:
        raise NotAuthorizedException("log in first")
    return agent


def provide_actor(me: NamedDependency[CurrentAgent]) -> Actor:
    return me.actor


DEPENDENCIES = {"me": provide_me, "actor": provide_actor}


# Secret key ----------------------------------------------------------------------------


def resolve_secret_key(settings: Settings, embedded: bool) -> str:
    """See `hub.config.resolve_secret_key`: the key is also written back into `settings`."""
    from hub.config import resolve_secret_key as resolve

    return resolve(settings, embedded=embedded)


def derive(secret: str, purpose: str) -> str:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


# Cookies -----------------------------------------------------------------------------------


def secure_cookies(settings: Settings) -> bool:
    """Served over https (`HUB_PUBLIC_URL`, the address browsers use): cookies are `Secure`."""
    return settings.public_url.startswith("https://")


def cookie_name(base: str, settings: Settings) -> str:
    """The session and CSRF cookies are named `__Host-hub_...` when served over https: a browser
    accepts such a cookie only when it is `Secure`, set by a secure page, for `Path=/` and with
    no `Domain`, so neither a sibling subdomain nor a plain-http page can set or shadow it.
    Over plain http (a local `hub run`) the prefix would make browsers refuse them: no prefix."""
    return f"__Host-{base}" if secure_cookies(settings) else base


def session_id_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The session id the browser sent (its cookie), or ''."""
    return connection.cookies.get(cookie_name(SESSION_COOKIE, connection.app.state.settings), "")


# Sessions ----------------------------------------------------------------------------------

ROTATE_KEY = "hub_rotate_session"
LOADED_KEY = "hub_session_loaded"  # the session as the store held it when the request came in


class RotatingSessionBackend(ServerSideSessionBackend):
    """Server-side sessions whose id changes at login (no session fixation)."""

    def get_session_id(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str:
        scope = connection.scope
        if scope.get(ROTATE_KEY):
            new_id = scope.get("hub_new_session_id")
            if new_id is None:
                new_id = scope["hub_new_session_id"] = self.generate_session_id()  # type: ignore[typeddict-unknown-key]
            return str(new_id)
        return super().get_session_id(connection)

    async def load_from_connection(self, connection: ASGIConnection[Any, Any, Any, Any]) -> dict[str, Any]:
        data = await super().load_from_connection(connection)
        connection.scope[LOADED_KEY] = self.serialize_data(data, connection.scope) if data else None  # type: ignore[literal-required]
        return data

    async def store_in_message(self, scope_session: Any, message: Any, connection: Any) -> None:
        old = connection.cookies.get(self.config.key)
        has_cookie = bool(old) and old != "null"
        if not scope_session or scope_session is Empty:
            # Anonymous visitors get no session (and no store entry); a stale cookie is expired.
            if has_cookie:
                await self._expire(old, message, connection)
            return
        loaded = connection.scope.get(LOADED_KEY)
        if (has_cookie and loaded is not None and not connection.scope.get(ROTATE_KEY)
                and self.serialize_data(scope_session, connection.scope) == loaded):
            # Unchanged (a live refresh, a fragment, an API read): writing back what was read
            # would overwrite what a request running meanwhile stored, such as the flash of a
            # bulk action the page is about to show. Sessions last from sign-in, so nothing to renew.
            return
        if connection.scope.get(ROTATE_KEY) and has_cookie:
            await self.delete(old, store=self.config.get_store_from_app(connection.scope["app"]))
        await super().store_in_message(scope_session, message, connection)


    async def _expire(self, session_id: str, message: Any, connection: Any) -> None:
        """Forget the session and expire its cookie at once (Litestar's own null cookie keeps the
        configured Max-Age next to a past expiry, and browsers follow Max-Age)."""
        from litestar.datastructures import Cookie, MutableScopeHeaders
        from litestar.utils.dataclass import extract_dataclass_items

        await self.delete(session_id, store=self.config.get_store_from_app(connection.scope["app"]))
        params = dict(extract_dataclass_items(self.config, exclude_none=True, include=Cookie.__dict__.keys()))
        params.update(max_age=0, expires=0)
        MutableScopeHeaders.from_message(message).add(
            "Set-Cookie", Cookie(value="", key=self.config.key, **params).to_header(header=""))


@dataclass
class HubSessionConfig(ServerSideSessionConfig):
    _backend_class = RotatingSessionBackend  # type: ignore[assignment]


def session_config(settings: Settings) -> ServerSideSessionConfig:
    return HubSessionConfig(
        key=cookie_name(SESSION_COOKIE, settings), max_age=int(settings.session_lifetime.total_seconds()),
        samesite="lax", secure=secure_cookies(settings), httponly=True, path="/", domain=None,
        store="sessions", renew_on_access=True, exclude=MACHINE_PATHS,
    )


def make_stores(settings: Settings, secret_key: str) -> dict[str, Store]:
    if settings.redis_url:
        from litestar.stores.redis import RedisStore
        from redis.asyncio import Redis

        # Instances of one deployment share the secret key, hence the namespace; another hub
        # (or a test) on the same Redis never sees these keys.
        ns = f"hub:{derive(secret_key, 'store-namespace')[:12]}"
        from redis.asyncio.retry import Retry
        from redis.backoff import ExponentialBackoff
        from redis.exceptions import ConnectionError as RedisConnectionError, TimeoutError as RedisTimeoutError

        # After a Redis restart every pooled connection is stale: retry on a fresh one instead
        # of failing the request (tests/e2e/faults/test_broker_restart.py).
        redis = Redis.from_url(settings.redis_url, retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), 3),
                               retry_on_error=[RedisConnectionError, RedisTimeoutError])
        return {
            "sessions": RedisStore(redis, namespace=f"{ns}:sessions"),
            "ratelimit": RedisStore(redis, namespace=f"{ns}:ratelimit"),
        }
    return {"sessions": MemoryStore(), "ratelimit": MemoryStore()}


def log_in(connection: ASGIConnection[Any, Any, Any, Any], agent: Agent) -> None:
    """A new session (new id) for `agent`, stamped with its start: it ends `HUB_SESSION_LIFETIME`
    later however active it is, or when the agent's password changes."""
    connection.scope[ROTATE_KEY] = True  # type: ignore[typeddict-unknown-key]
    connection.set_session({"agent_id": agent.id, CSRF_SESSION_KEY: new_csrf_token(connection),
                            "since": connection.app.state.ctx.clock.now().timestamp()})


def renew_session_start(connection: ASGIConnection[Any, Any, Any, Any], since: float) -> None:
    """Keep this session valid across the agent's own password change (other sessions end)."""
    session = connection.scope.get("session")
    if isinstance(session, dict):
        connection.set_session({**session, "since": since})


def session_is_current(session: dict[str, Any], agent: Agent, now: float, lifetime_s: float) -> bool:
    since = session.get("since")
    if not isinstance(since, (int, float)) or now - since > lifetime_s:
        return False
    changed = agent.password_changed_at
    return changed is None or since >= changed.timestamp()


def log_out(connection: ASGIConnection[Any, Any, Any, Any]) -> None:
    connection.clear_session()


# Authentication ------------------------------------------------------------------------


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            if text[:7].lower() == "bearer ":
                return text[7:].strip()
    return None


class HubAuthMiddleware(AbstractAuthenticationMiddleware):
    """Sets `request.user` to a `CurrentAgent` or None; guards decide what None means."""

    async def authenticate_request(self, connection: ASGIConnection[Any, Any, Any, Any]) -> AuthenticationResult:
        from hub.actions.auth import agent_for_token

        ctx = connection.app.state.ctx
        token = bearer_token(connection.scope)
        if token is not None and connection.scope["path"].startswith("/api/"):
            agent = await agent_for_token(ctx, token)
            if agent is None:
                raise NotAuthorizedException("invalid or revoked API token")
            return AuthenticationResult(user=CurrentAgent.of(agent), auth="token")
        agent = await agent_of_session(ctx, connection.scope.get("session"))
        if agent is not None:
            return AuthenticationResult(user=CurrentAgent.of(agent), auth="session")
        return AuthenticationResult(user=None, auth=None)


async def agent_of_session(ctx: Any, session: Any) -> Agent | None:
    """The active agent a (current) browser session belongs to, else None."""
    agent_id = session.get("agent_id") if isinstance(session, dict) else None
    if not isinstance(agent_id, int):
        return None
    async with ctx.reads() as db:
        agent = await db.get(Agent, agent_id)
    if agent is not None and agent.active and session_is_current(
        session, agent, ctx.clock.now().timestamp(), ctx.settings.session_lifetime.total_seconds()  # type: ignore[arg-type]
    ):
        return agent
    return None


async def signed_in_agent(connection: ASGIConnection[Any, Any, Any, Any]) -> Agent | None:
    """The agent signed in on this browser, read from the session store: for answers no route
    took (an unknown address), where neither the session nor the authentication middleware ran."""
    from litestar.serialization import decode_json

    sid = session_id_of(connection)
    if not sid or sid == "null":
        return None
    raw = await connection.app.stores.get("sessions").get(sid)
    if raw is None:
        return None
    return await agent_of_session(connection.app.state.ctx, decode_json(raw))


def auth_middleware() -> DefineMiddleware:
    return DefineMiddleware(HubAuthMiddleware, exclude=["^/static/", "^/schema", *MACHINE_PATHS])


# Guards --------------------------------------------------------------------------------


def _is_public(handler: BaseRouteHandler) -> bool:
    return bool(handler.opt.get("exclude_from_auth"))


class EnrolFirst(PermissionDeniedException):
    """The agent's role requires two-factor sign-in and they have not set it up: pages lead
    them to `/account/two-factor`, the API answers 403."""


# What an agent who must enrol in two-factor sign-in may still reach.
ENROL_PATHS = ("/account/two-factor", "/logout", "/language")


async def login_required(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """App-wide guard: every route needs a logged-in agent unless excluded from auth, and an
    agent whose role requires two-factor sign-in (`HUB_REQUIRE_2FA`) must have enrolled.

    Guards are `async def` on purpose: Litestar runs a plain function guard in a thread pool,
    a cost every request (webhooks included) would pay."""
    path = connection.scope["path"]
    if _is_public(handler) or path.startswith(("/static/", "/schema")):
        return
    agent = current_agent(connection)
    if agent is None:
        raise NotAuthorizedException("log in first")
    if not agent.two_factor and agent.role in connection.app.state.settings.two_factor_roles \
            and not path.startswith(ENROL_PATHS):
        raise EnrolFirst("your role requires two-factor sign-in: set it up at /account/two-factor")


def requires_role(*roles: str):  # type: ignore[no-untyped-def]
    """Guard: the agent must have one of `roles` (401 when not logged in, 403 otherwise)."""
    unknown = set(roles) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown roles: {unknown}")

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        agent = current_agent(connection)
        if agent is None:
            raise NotAuthorizedException("log in first")
        if agent.role not in roles:
            raise PermissionDeniedException("your role may not do this")

    guard.__name__ = f"requires_role_{'_'.join(roles)}"
    return guard


# CSRF ----------------------------------------------------------------------------------


_MACHINE_PREFIXES = tuple(p.removeprefix("^") for p in MACHINE_PATHS)
CSRF_SESSION_KEY = "csrf"
_NEW_CSRF = "hub_new_csrf_token"
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


def new_csrf_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """A fresh CSRF token for a new session: kept in the session, and sent as the cookie."""
    from litestar.middleware.csrf import generate_csrf_token

    config: CSRFConfig = connection.app.state.csrf_config
    token = generate_csrf_token(config.secret)
    connection.scope[_NEW_CSRF] = token  # type: ignore[typeddict-unknown-key]
    return token


class CSRFUnlessBearer:
    """Litestar's CSRF middleware (double submit), skipped for bearer-token API calls (browsers
    never send those), and bound to the session: a logged-in session stores the token it was
    given at login, and an unsafe request must carry that very token. A token planted in the
    browser by someone else (a sibling subdomain can set cookies) is worth nothing."""

    def __init__(self, app: ASGIApp, config: CSRFConfig) -> None:
        self.app = app
        self.config = config
        self.csrf = CSRFMiddleware(app, config)
        self.exclude = [re.compile(p) for p in CSRF_EXCLUDE]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (scope["path"].startswith(_MACHINE_PREFIXES) or (
                scope["path"].startswith("/api/") and bearer_token(scope) is not None)):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "http":
            self._check_session_binding(scope)
            send = self._with_new_token(scope, send)
        await self.csrf(scope, receive, send)

    def _check_session_binding(self, scope: Scope) -> None:
        if scope.get("method", "GET") in _SAFE_METHODS or any(p.search(scope["path"]) for p in self.exclude):
            return
        session = scope.get("session")
        if not isinstance(session, dict) or "agent_id" not in session:
            return  # no session: the double-submit check alone (the login form)
        cookie = ASGIConnection(scope).cookies.get(self.config.cookie_name, "")
        bound = session.get(CSRF_SESSION_KEY)
        if not isinstance(bound, str) or not hmac.compare_digest(bound.encode(), cookie.encode()):
            raise PermissionDeniedException("CSRF token verification failed: it does not belong to this session")

    def _with_new_token(self, scope: Scope, send: Send) -> Send:
        config = self.config

        async def send_with_cookie(message: Any) -> None:
            token = scope.get(_NEW_CSRF)
            if message["type"] == "http.response.start" and token:
                from litestar.datastructures import Cookie, MutableScopeHeaders

                MutableScopeHeaders.from_message(message).add("set-cookie", Cookie(
                    key=config.cookie_name, value=token, path=config.cookie_path, secure=config.cookie_secure,
                    httponly=config.cookie_httponly, samesite=config.cookie_samesite, domain=config.cookie_domain,
                ).to_header(header=""))
            await send(message)

        return send_with_cookie


def csrf_config(secret_key: str, settings: Settings) -> CSRFConfig:
    return CSRFConfig(
        secret=derive(secret_key, "csrf"), exclude=CSRF_EXCLUDE, cookie_name=cookie_name(CSRF_COOKIE, settings),
        cookie_secure=secure_cookies(settings), cookie_samesite="lax", cookie_path="/", cookie_domain=None,
        header_name="x-csrftoken",
    )


def csrf_middleware(config: CSRFConfig) -> DefineMiddleware:
    return DefineMiddleware(CSRFUnlessBearer, config=config)


# Login throttling (agent_ui/throttle.py) ---------------------------------------------------


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return connection.client.host if connection.client else "unknown"


def login_throttle(connection: ASGIConnection[Any, Any, Any, Any]) -> "LoginThrottle":
    """The app's sign-in throttle: on the Redis of the sessions when there is one, else SQL."""
    from agent_ui.throttle import LoginThrottle, RedisCounters, SQLCounters

    state = connection.app.state
    throttle = state.get("login_throttle")
    if throttle is None:
        store = connection.app.stores.get("ratelimit")
        from litestar.stores.redis import RedisStore

        if isinstance(store, RedisStore):
            counters: Any = RedisCounters(store._redis, f"{store.namespace}:login")
        else:
            counters = SQLCounters(state.ctx.engine)
        throttle = state.login_throttle = LoginThrottle(counters)
    return throttle  # type: ignore[no-any-return]
