"""Per-process runtime state: settings and one HubContext per event loop.

Async database drivers bind connections to the event loop that opened them. The web server,
the dramatiq worker's loop and the scheduler may each run their own loop in one process
(`hub run`), so each loop gets its own context (engine and pool), wired to the same bus rules:
the one `wire` function the composition root (`entrypoints.bootstrap`) gives `configure`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from hub.clock import Clock
from hub.config import Settings
from hub.context import HubContext

_settings: Settings | None = None
_clock: Clock | None = None
_contexts: dict[int, HubContext] = {}
_wire: Callable[[HubContext], None] | None = None


def configure(settings: Settings, clock: Clock | None = None,
              wire: Callable[[HubContext], None] | None = None) -> None:
    """Start over with these settings; `wire` gives each new context its after-commit reactions."""
    global _settings, _clock, _wire
    _settings, _clock, _wire = settings, clock, wire
    _contexts.clear()


def settings() -> Settings:
    if _settings is None:
        raise RuntimeError("runtime not configured: call runtime.state.configure(settings) first")
    return _settings


def context() -> HubContext:
    """The HubContext of the running event loop (created on first use)."""
    loop_id = id(asyncio.get_running_loop())
    ctx = _contexts.get(loop_id)
    if ctx is None:
        ctx = HubContext.create(settings(), _clock)
        if _wire is not None:
            _wire(ctx)
        _contexts[loop_id] = ctx
    return ctx


def adopt(ctx: HubContext) -> None:
    """Use an existing context for the running loop (the web app creates its own)."""
    _contexts[id(asyncio.get_running_loop())] = ctx
