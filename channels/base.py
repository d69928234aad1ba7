"""What a channel contributes to the hub, declared as the typed fields of one `Channel` object.

Each channel folder exposes one `CHANNEL`; the composition root (`entrypoints.bootstrap`)
lists them and builds what each declares for the running process. Nothing registers itself
when a module is imported. The fields that need settings are factories, called once per
process with the hub's settings and the channel's own (what `settings()` returned).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub.bus import Reactions
from hub.config import Settings
from hub.context import HubContext
from hub.delivery import Sender

# A long-running service (e.g. the mailbox poller): runs until the event is set.
Service = Callable[[HubContext, asyncio.Event], Awaitable[None]]
# A readiness probe for /readyz: "ok", or what is wrong.
Probe = Callable[[], str]


@dataclass(frozen=True)
class Command:
    """A `hub <name>` subcommand that runs one of the channel's services as its own process."""

    name: str
    help: str
    # (hub settings, channel settings) -> None, or why the process cannot start (exit code 2).
    preflight: Callable[[Settings, Any], str | None]
    # (hub settings, channel settings, context, stop) -> runs until stop is set.
    run: Callable[[Settings, Any, HubContext, asyncio.Event], Awaitable[None]]
    arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None


def _nothing(settings: Settings, own: Any) -> list[Any]:
    return []


def _no_probes(settings: Settings, own: Any) -> dict[str, Probe]:
    return {}


def _no_sender(settings: Settings, own: Any) -> Sender | None:
    return None


def _no_tasks() -> list[Any]:
    return []


def _no_reactions() -> Reactions:
    return {}


def _no_settings() -> None:
    return None


@dataclass(frozen=True)
class Channel:
    name: str
    # The channel's own settings (its environment variables), read once per process.
    settings: Callable[[], Any] = _no_settings
    # Litestar handlers (webhooks) served by `hub web` / `hub run`.
    routes: Callable[[Settings, Any], list[Any]] = _nothing
    # Extra template folders for the web app.
    templates: tuple[Path, ...] = ()
    # The outbound sender the core's delivery uses for this channel (None: it sends nothing).
    sender: Callable[[Settings, Any], Sender | None] = _no_sender
    # The channel's dramatiq actors; called after the broker is set up, so they join it.
    tasks: Callable[[], list[Any]] = _no_tasks
    # After-commit reactions of the channel (e.g. fetch a message's media), by event type; the
    # composition root adds them to the reaction table (runtime.reactions) of every context.
    reactions: Callable[[], Reactions] = _no_reactions
    # Long-running services started by the embedded `hub run` (e.g. the mailbox poller).
    services: Callable[[Settings, Any], list[Service]] = _nothing
    # Readiness probes added to /readyz.
    readiness_probes: Callable[[Settings, Any], dict[str, Probe]] = _no_probes
    # `hub` subcommands (e.g. `hub mailbox`).
    commands: tuple[Command, ...] = field(default=())
