"""Server-Sent Events: every committed change (`runtime.live` notices) pushed to agents' tabs.

Notices carry ids only (`{"type": "ticket_changed", "ticket_id": 7, ...}`); the browser
re-fetches the fragments it shows (static/hub.js). The stream says `retry` and sends a comment
every `PING_S` seconds so proxies keep it open; after a reconnect the browser re-fetches
everything, so nothing that matters is lost while it was away.

Nor between a page's rendering and its stream's start: the page opens `/events?since=<the
time it was rendered, ms>`, and if this process relayed any notice since then (see
`NOTICES`), the stream's first event is `{"type": "resync"}` and the page re-fetches its
fragments. (A reply's delivery status, say, can change in those few hundred milliseconds.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Any

import msgspec
from litestar import get
from litestar.params import Parameter
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.response import ServerSentEvent, ServerSentEventMessage

from runtime.live import CHANNEL

PING_S = 15.0
# Web instances' clocks may differ a little: a page rendered by one and streamed by another.
CLOCK_SLACK_MS = 500


class NoticeClock:
    """When this process last handed a notice to its browsers (wall clock, ms)."""

    def __init__(self) -> None:
        self.last_ms = 0.0

    def note(self) -> None:
        self.last_ms = time.time() * 1000


NOTICES = NoticeClock()


async def _stream(
    channels: ChannelsPlugin, ping_s: float, since_ms: float | None = None,
) -> AsyncGenerator[ServerSentEventMessage, None]:
    async with channels.start_subscription([CHANNEL]) as subscriber:
        events = subscriber.iter_events().__aiter__()
        yield ServerSentEventMessage(comment="connected", retry=2000, data=None)
        if since_ms is not None and NOTICES.last_ms >= since_ms - CLOCK_SLACK_MS:
            # Something changed after the page was rendered and before it listened.
            yield ServerSentEventMessage(data='{"type": "resync", "ticket_id": null}')
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
async def events(
    channels: NamedDependency[ChannelsPlugin], since: float | None = Parameter(default=None, ge=0),
) -> ServerSentEvent:
    """The live stream for logged-in agents (any role); `since`: when the page was rendered (ms)."""
    return ServerSentEvent(
        _stream(channels, PING_S, since), headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


ROUTES = [events]
