"""Server-Sent Events: every committed change (`runtime.live` notices) pushed to agents' tabs.

Notices carry ids only (`{"type": "ticket_changed", "ticket_id": 7, ...}`); the browser
re-fetches the fragments it shows (static/hub.js). The stream says `retry` and sends a comment
every `PING_S` seconds so proxies keep it open; after a reconnect the browser re-fetches
everything, so nothing that matters is lost while it was away.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
from litestar import get
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.response import ServerSentEvent, ServerSentEventMessage

from runtime.live import CHANNEL

PING_S = 15.0


async def _stream(channels: ChannelsPlugin, ping_s: float) -> AsyncGenerator[ServerSentEventMessage, None]:
    async with channels.start_subscription([CHANNEL]) as subscriber:
        events = subscriber.iter_events().__aiter__()
        yield ServerSentEventMessage(comment="connected", retry=2000, data=None)
        pending: asyncio.Future[Any] = asyncio.ensure_future(events.__anext__())
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=ping_s)
                if not done:
                    yield ServerSentEventMessage(comment="ping", data=None)
                    continue
                raw = pending.result()
                pending = asyncio.ensure_future(events.__anext__())
                try:
                    notice = msgspec.json.decode(raw)
                except msgspec.DecodeError:
                    continue
                # Unnamed events: the browser's one `message` handler sees every kind, so a new
                # notice kind needs no change in the page script (the kind is in `type`).
                yield ServerSentEventMessage(data=msgspec.json.encode(notice).decode())
        finally:
            pending.cancel()


@get("/events", include_in_schema=False)
async def events(channels: NamedDependency[ChannelsPlugin]) -> ServerSentEvent:
    """The live stream for logged-in agents (any role)."""
    return ServerSentEvent(_stream(channels, PING_S), headers={"cache-control": "no-store", "x-accel-buffering": "no"})


ROUTES = [events]
