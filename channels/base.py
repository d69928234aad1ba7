"""What a channel adapter offers the runtime: web routes, a sender, background services."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hub.delivery import Sender


@dataclass
class Adapter:
    name: str
    route_handlers: list[Any] = field(default_factory=list)  # litestar handlers (webhooks, pages)
    sender: Sender | None = None
    # Long-running services for the embedded `hub run` (e.g. the mailbox poller): each is
    # called with an asyncio.Event that is set at shutdown.
    services: list[Callable[[Any], Awaitable[None]]] = field(default_factory=list)
    # Extra dramatiq actors live in the channel's own `tasks` module, imported by the worker.
    tasks_module: str | None = None
