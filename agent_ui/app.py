"""The web process: composes the Litestar app from the UI, the API and the channels' webhooks.

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

from agent_ui.errors import EXCEPTION_HANDLERS
from agent_ui.health import healthz, metrics, readyz
from agent_ui import security
from agent_ui.headers import security_headers
from agent_ui.limits import ids_in_range
from agent_ui.live import NOTICES
from agent_ui.web import STATIC, template_config
from channels import load_adapters
from hub.clock import Clock
from hub.config import Settings
from hub.context import HubContext
from runtime import live, state
from runtime.broker import setup_broker
from runtime.metrics import observe
from runtime.wiring import wire

log = logging.getLogger(__name__)

# Route modules of the UI and API; each exposes `ROUTES` (a list of handlers/routers).
# A module may also expose `TEMPLATE_DIR` (a Path) to add its own template folder.
ROUTE_MODULES: list[str] = [
    "agent_ui.auth",
    "agent_ui.account",
    "agent_ui.two_factor",
    "agent_ui.oidc",
    "agent_ui.live",
    "agent_ui.api",
    "agent_ui.pages",
    "agent_ui.desk",
    "agent_ui.settings_page",
    "agent_ui.office",
    "agent_ui.stats",
    "agent_ui.survey",
    "agent_ui.privacy",
    "agent_ui.audit",
    "agent_ui.attachments",
    "agent_ui.calls",
    "channels.whatsapp.pages",
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


def create_app(settings: Settings, *, embedded: bool = False, clock: Clock | None = None) -> Litestar:
    import importlib

    # Before anything signs with it (sessions, CSRF, sandbox webhooks, email Message-IDs).
    secret_key = security.resolve_secret_key(settings, embedded)
    state.configure(settings, clock)
    state.on_new_context(wire)
    broker = setup_broker(settings)
    adapters = load_adapters(settings)
    channels_plugin = _channels_plugin(settings)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        ctx = HubContext.create(settings, clock)
        wire(ctx)
        state.adopt(ctx)
        app.state.ctx = ctx
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
            background.append(asyncio.create_task(run_scheduler(ctx, stop)))
            for adapter in adapters:
                for service in adapter.services:
                    background.append(asyncio.create_task(service(stop)))
        try:
            yield
        finally:
            stop.set()
            for task in background:
                with suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task, timeout=5)
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

    route_handlers: list[Any] = [healthz, readyz, metrics]
    template_dirs = []
    for adapter in adapters:
        route_handlers.extend(adapter.route_handlers)
    for module_name in ROUTE_MODULES:
        module = importlib.import_module(module_name)
        route_handlers.extend(module.ROUTES)
        if getattr(module, "TEMPLATE_DIR", None) is not None:
            template_dirs.append(module.TEMPLATE_DIR)
    route_handlers.append(create_static_files_router(
        path="/static", directories=[STATIC], opt={"exclude_from_auth": True}, include_in_schema=False,
    ))
    session_config = security.session_config(settings)
    from agent_ui.filters import set_timezone

    set_timezone(settings.timezone)

    async def provide_ctx(state: State) -> HubContext:
        return state.ctx  # type: ignore[no-any-return]

    # Adapters may offer readiness probes (e.g. the mailbox poller's login state).
    probes = {name: probe for a in adapters for name, probe in getattr(a, "readiness_probes", {}).items()}
    app_state = State({"settings": settings, "broker": broker, "readiness_probes": probes})
    return Litestar(
        route_handlers=route_handlers,
        dependencies={"ctx": Provide(provide_ctx)},
        stores=security.make_stores(settings, secret_key),
        middleware=[
            observe,  # request latency by route, request id in the logs
            session_config.middleware, security.auth_middleware(),
            security.csrf_middleware(security.csrf_config(secret_key, settings)),
        ],
        guards=[security.login_required, ids_in_range],
        template_config=template_config(template_dirs, settings),
        openapi_config=_openapi_config(),
        plugins=[channels_plugin, _InsideChannels(lifespan)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        before_send=[security_headers(settings)],
        state=app_state,
        debug=False,
    )
