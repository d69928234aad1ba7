"""The composition root: one `bootstrap(settings, role)` that every hub process starts with.

It installs the broker, builds what each channel in `CHANNELS` declares (its sender, actors,
after-commit reactions, routes, services, probes), registers the senders with the core, and
gives `runtime.state` the one function that wires each new HubContext. Adding a channel is one
folder and one line in `CHANNELS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq

from channels import email, phone, whatsapp
from channels.base import Channel, Probe, Service
from hub.bus import Reactions
from hub.clock import Clock
from hub.config import Settings
from hub.context import HubContext
from hub.delivery import register_sender
from runtime import live, reactions, state
from runtime.broker import setup_broker
from runtime.scheduler import SweepJob

CHANNELS: tuple[Channel, ...] = (
    phone.CHANNEL,
    whatsapp.CHANNEL,
    email.CHANNEL,
)

# What each process is; `run` is everything in one process (the web app runs the rest inside).
ROLES = ("run", "web", "worker", "scheduler", "mailbox")


async def _weekly_summaries(ctx: HubContext) -> object:
    from entrypoints.weekly_summary import send_weekly_summaries

    return await send_weekly_summaries(ctx)


# What the scheduler runs at each sweep besides the core's own work (runtime.scheduler.tick).
SWEEP_JOBS: tuple[SweepJob, ...] = (
    ("weekly summaries", _weekly_summaries),
)


@dataclass
class LoadedChannel:
    """One channel as built for this process."""

    channel: Channel
    settings: Any
    routes: list[Any]
    services: list[Service]
    probes: dict[str, Probe]


@dataclass
class Hub:
    """A bootstrapped process: its settings, broker, channels, and how it wires a context."""

    settings: Settings
    role: str
    broker: dramatiq.Broker
    channels: list[LoadedChannel] = field(default_factory=list)
    reactions: list[Reactions] = field(default_factory=list)  # the channels', after the core's table
    sweep_jobs: tuple[SweepJob, ...] = SWEEP_JOBS

    def wire(self, ctx: HubContext) -> None:
        """Give the context's bus the reaction table (runtime.reactions) and the channels' reactions."""
        reactions.wire(ctx, self.reactions)

    def context(self) -> HubContext:
        """The HubContext of the running event loop, wired."""
        return state.context()

    @property
    def routes(self) -> list[Any]:
        return [route for loaded in self.channels for route in loaded.routes]

    @property
    def services(self) -> list[Service]:
        return [service for loaded in self.channels for service in loaded.services]

    @property
    def readiness_probes(self) -> dict[str, Probe]:
        return {name: probe for loaded in self.channels for name, probe in loaded.probes.items()}

    @property
    def template_dirs(self) -> list[Any]:
        return [folder for loaded in self.channels for folder in loaded.channel.templates]


def bootstrap(settings: Settings, role: str, *, clock: Clock | None = None,
              channels: Sequence[Channel] = CHANNELS) -> Hub:
    """Set up this process for `role` (one of ROLES). Raises ConfigError on a bad channel setting."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    broker = setup_broker(settings)
    hub = Hub(settings=settings, role=role, broker=broker)
    for channel in channels:
        own = channel.settings()
        sender = channel.sender(settings, own)
        if sender is not None:
            register_sender(channel.name, sender)
        channel.tasks()  # the broker exists: the channel's actors join it
        hub.reactions.append(channel.reactions())
        web = role in ("run", "web")
        hub.channels.append(LoadedChannel(
            channel=channel, settings=own,
            routes=channel.routes(settings, own) if web else [],
            services=channel.services(settings, own) if role == "run" else [],
            probes=channel.readiness_probes(settings, own) if web else {},
        ))
    state.configure(settings, clock, wire=hub.wire)
    if role in ("worker", "scheduler", "mailbox"):
        live.publish_from_background(settings.redis_url)  # their changes reach the web instances' browsers
    return hub


def command_channel(name: str) -> tuple[Channel, Any]:
    """The channel and command of a `hub <name>` subcommand a channel declares."""
    for channel in CHANNELS:
        for command in channel.commands:
            if command.name == name:
                return channel, command
    raise KeyError(name)
