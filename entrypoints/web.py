"""The web process: composes the Litestar app from the UI, the API and the channels' webhooks.

The UI's route modules are listed in `WEB_ROUTES`; the channels' routes come from
`bootstrap(settings, "web")` (or `"run"`).

`create_app(settings, embedded=True)` is what `hub run` serves: it also runs the dramatiq
worker (in-process broker) and the scheduler inside the same process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import Any

from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.config.app import AppConfig
from litestar.plugins import InitPluginProtocol
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.di import Provide
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.static_files import create_static_files_router

from agent_ui import (
    account, api, attachments, audit, auth, calls, desk, oidc, office, pages, privacy, quick_replies, security,
    settings_page, simulator, stats, survey, texts_page, topics, two_factor,
)
from agent_ui import entry_points
from agent_ui import live as live_page
from agent_ui.errors import EXCEPTION_HANDLERS
from agent_ui.health import healthz, metrics, readyz
from agent_ui.headers import security_headers
from agent_ui.limits import ids_in_range
from agent_ui.live import NOTICES
from agent_ui.web import STATIC, template_config
from entrypoints.bootstrap import bootstrap
from hub.clock import Clock
from hub.config import Settings
from hub.context import HubContext
from runtime import live, state
from runtime.metrics import observe

log = logging.getLogger(__name__)


async def seed_defaults(ctx: HubContext) -> None:
    """A new office starts with the seed's topics and quick replies (once; never undoing a
    manager's changes)."""
    from hub.actions.quick_replies import do_seed_quick_replies
    from hub.actions.topics import do_seed_topics

    try:
        await do_seed_topics(ctx)
        await do_seed_quick_replies(ctx)
    except Exception:  # an old schema (before `hub migrate`) must not stop the web process
        log.exception("could not seed the default topics and quick replies")


# The UI's and the API's handlers, module by module (each module's `ROUTES`).
WEB_ROUTES: list[list[Any]] = [
    auth.ROUTES,
    account.ROUTES,
    two_factor.ROUTES,
    oidc.ROUTES,
    live_page.ROUTES,
    api.ROUTES,
    pages.ROUTES,
    desk.ROUTES,
    settings_page.ROUTES,
    office.ROUTES,
    stats.ROUTES,
    survey.ROUTES,
    privacy.ROUTES,
    audit.ROUTES,
    attachments.ROUTES,
    calls.ROUTES,
    topics.ROUTES,
    quick_replies.ROUTES,
    texts_page.ROUTES,
    entry_points.ROUTES,
    simulator.ROUTES,
]


def _channels_plugin(settings: Settings) -> ChannelsPlugin:
    # Browsers' subscriptions live in this process; with HUB_REDIS_URL a relay task feeds it
    # what every other process publishes (see runtime.live.relay_from_redis).
    backend = MemoryChannelsBackend(history=0)
    return ChannelsPlugin(backend=backend, channels=[live.CHANNEL], arbitrary_channels_allowed=True)


class _InsideChannels(InitPluginProtocol):
    """Registers the hub's lifespan after the channels plugin's, so it starts after and stops before it.

    Litestar exits lifespans in reverse order. Given through `Litestar(lifespan=...)`, the hub's
    would stop after the plugin's, and a live notice published in between (by the Redis relay or
    a worker thread) would reach a plugin whose queue is already gone.
    """

    def __init__(self, lifespan: Any) -> None:
        self._lifespan = lifespan

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.lifespan.append(self._lifespan)
        return app_config


def _openapi_config() -> OpenAPIConfig:
    from agent_ui.openapi import openapi_config

    return openapi_config()


async def app_guard(connection: Any, handler: Any) -> None:
    """The app-wide checks as one guard (Litestar copies the route handler for every guard it
    calls, on every request, webhooks included): a signed-in agent where one is needed, then
    path ids a row can have."""
    await security.login_required(connection, handler)
    await ids_in_range(connection, handler)


def create_app(settings: Settings, *, embedded: bool = False, clock: Clock | None = None,
               extra_routes: list[Any] | None = None) -> Litestar:
    """The web app of `hub web` (or, `embedded`, of `hub run`); `extra_routes` serve tests."""
    # Before anything signs with it (sessions, CSRF, sandbox webhooks, email Message-IDs).
    secret_key = security.resolve_secret_key(settings, embedded)
    hub = bootstrap(settings, "run" if embedded else "web", clock=clock)
    broker = hub.broker
    channels_plugin = _channels_plugin(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        ctx = HubContext.create(settings, clock)
        hub.wire(ctx)
        state.adopt(ctx)
        app.state.ctx = ctx
        await seed_defaults(ctx)
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        live.clear_publishers()
        relay: asyncio.Task[None] | None = None

        def to_browsers(notice: dict[str, Any]) -> None:
            NOTICES.note()
            channels_plugin.publish(notice, live.CHANNEL)

        if settings.redis_url:
            live.add_publisher(live.redis_publisher(settings.redis_url))
            relay_ready = asyncio.Event()
            relay = asyncio.create_task(live.relay_from_redis(
                settings.redis_url,
                lambda notice: None if stop.is_set() else to_browsers(notice),
                relay_ready,
            ))
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(relay_ready.wait(), timeout=5)
        else:
            def publish_here(notice: dict[str, Any]) -> None:
                if not stop.is_set():
                    loop.call_soon_threadsafe(publish_if_running, notice)

            def publish_if_running(notice: dict[str, Any]) -> None:
                if not stop.is_set():
                    to_browsers(notice)

            live.add_publisher(publish_here)
        background: list[asyncio.Task[None]] = []
        worker = None
        if embedded:
            from dramatiq import Worker

            from runtime.scheduler import run_scheduler

            worker = Worker(broker, worker_threads=4, worker_timeout=100)
            worker.start()
            background.append(asyncio.create_task(run_scheduler(ctx, stop, hub.sweep_jobs)))
            for service in hub.services:
                background.append(asyncio.create_task(service(ctx, stop)))
        try:
            yield
        finally:
            stop.set()
            for task in background:
                try:
                    await asyncio.wait_for(task, timeout=5)
                except (asyncio.TimeoutError, asyncio.CancelledError):
                    pass
                except Exception:  # a service that failed on its way out must not keep the worker running
                    log.exception("a background service failed while stopping")
            if worker is not None:
                await asyncio.to_thread(worker.stop)
            from runtime import offload

            offload.drain()  # pending enqueues and live publishes leave before the process does
            if relay is not None:
                relay.cancel()
                with suppress(asyncio.CancelledError):
                    await relay
            live.clear_publishers()
            await ctx.close()

    route_handlers: list[Any] = [healthz, readyz, metrics, *hub.routes]
    for routes in WEB_ROUTES:
        route_handlers.extend(routes)
    route_handlers.extend(extra_routes or [])
    template_dirs = hub.template_dirs
    route_handlers.append(create_static_files_router(
        path="/static", directories=[STATIC], opt={"exclude_from_auth": True}, include_in_schema=False,
    ))
    session_config = security.session_config(settings)
    from agent_ui.filters import set_timezone

    set_timezone(settings.timezone)

    async def provide_ctx(state: State) -> HubContext:
        return state.ctx  # type: ignore[no-any-return]

    # Channels may offer readiness probes (e.g. the mailbox poller's login state).
    probes = hub.readiness_probes
    csrf = security.csrf_config(secret_key, settings)
    app_state = State({"settings": settings, "broker": broker, "readiness_probes": probes, "csrf_config": csrf})
    return Litestar(
        route_handlers=route_handlers,
        dependencies={"ctx": Provide(provide_ctx), **{
            name: Provide(provide, sync_to_thread=False) for name, provide in security.DEPENDENCIES.items()
        }},
        stores=security.make_stores(settings, secret_key),
        middleware=[
            observe,  # request latency by route, request id in the logs
            session_config.middleware, security.auth_middleware(),
            security.csrf_middleware(csrf),
        ],
        guards=[app_guard],
        template_config=template_config(template_dirs, settings, sandbox=hub.facts("whatsapp").sandbox),
        openapi_config=_openapi_config(),
        plugins=[channels_plugin, _InsideChannels(lifespan)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        before_send=[security_headers(settings)],
        state=app_state,
        debug=False,
    )
