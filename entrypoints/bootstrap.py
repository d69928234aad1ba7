"""The composition root: one `bootstrap(settings, role)` that every hub process starts with.

It installs the broker, builds what each channel in `CHANNELS` declares (its sender, actors,
after-commit reactions, routes, services, probes), registers the senders with the core, and
gives `runtime.state` the one function that wires each new HubContext. Adding a channel is one
folder and one line in `CHANNELS`.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import dramatiq

from channels import email, phone, whatsapp
from channels.base import Channel, Probe, Service
from hub.bus import Reactions
from hub.clock import Clock
from hub.config import Settings
from hub.context import HubContext
from hub.delivery import ChannelFacts, Sender, register_sender
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


def _weekly_summaries(hub: Hub) -> Callable[[HubContext], Awaitable[object]]:
    mail = hub.channel_settings("email")  # the mail channel's SMTP server and From address

    async def job(ctx: HubContext) -> object:
        from entrypoints.weekly_summary import send_weekly_summaries

        return 0 if mail is None else await send_weekly_summaries(ctx, mail)

    return job


# What the scheduler runs at each sweep besides the core's own work (runtime.scheduler.tick):
# a name, and what makes the job for a bootstrapped process (from the channel settings it needs).
SWEEP_JOBS: tuple[tuple[str, Callable[[Hub], Callable[[HubContext], Awaitable[object]]]], ...] = (
    ("weekly summaries", _weekly_summaries),
)


@dataclass
class LoadedChannel:
    """One channel as built for this process."""

    channel: Channel
    settings: Any
    sender: Sender | None
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

    def wire(self, ctx: HubContext) -> None:
        """Give the context's bus the reaction table (runtime.reactions) and the channels' reactions,
        and tell the context what each channel's sender declares of itself."""
        reactions.wire(ctx, self.reactions)
        for loaded in self.channels:
            if isinstance(getattr(loaded.sender, "facts", None), ChannelFacts):
                ctx.channel_facts[loaded.channel.name] = lambda sender=loaded.sender: sender.facts  # type: ignore[misc]

    def facts(self, channel: str) -> ChannelFacts:
        """What `channel`'s sender declares (as a wired context sees it)."""
        for loaded in self.channels:
            if loaded.channel.name == channel and isinstance(getattr(loaded.sender, "facts", None), ChannelFacts):
                return loaded.sender.facts  # type: ignore[union-attr]
        return ChannelFacts()

    def channel_settings(self, channel: str) -> Any:
        """`channel`'s own settings as read for this process (None: no such channel here)."""
        return next((loaded.settings for loaded in self.channels if loaded.channel.name == channel), None)

    @property
    def sweep_jobs(self) -> tuple[SweepJob, ...]:
        """The jobs the scheduler adds to each sweep (`SWEEP_JOBS`), made for this process."""
        return tuple((name, make(self)) for name, make in SWEEP_JOBS)

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
        channel.tasks(settings, own)  # the broker exists: the channel's actors join it
        hub.reactions.append(channel.reactions())
        web = role in ("run", "web")
        hub.channels.append(LoadedChannel(
            channel=channel, settings=own, sender=sender,
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


def settle_heap() -> None:
    """What is loaded by now (modules, tables, the broker, the web app's routes) lives as long
    as the process: taken out of the garbage collector's sight, so the collections that many new
    objects set off do not walk all of it again each time (bench/receive.py: about a sixth of
    the worker's CPU per inbox row; bench/mailbox.py: about a fifth of the poller's import CPU).
    `hub worker` and a channel's process (`hub mailbox`) call it once started, `hub web` and `hub run`
    once their app is made (not `create_app`, which tests call many times: frozen objects are
    never collected)."""
    gc.collect()
    gc.freeze()
