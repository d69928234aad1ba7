"""Server-Sent Events: every committed change (`runtime.live` notices) pushed to agents' tabs.

Notices carry ids only (`{"type": "ticket_changed", "ticket_id": 7, ...}`); the browser
re-fetches the fragments it shows (static/hub.js). The stream says `retry` and sends a comment
every `PING_S` seconds so proxies keep it open; after a reconnect the browser re-fetches
everything, so nothing that matters is lost while it was away.

Nor between a page's rendering and its stream's start: the page opens `/events?since=<the
time it was rendered, ms>`, and if this process relayed any notice since then (see
`NOTICES`), the stream's first event is `{"type": "resync"}` and the page re-fetches its
fragments. (A reply's delivery status, say, can change in those few hundred milliseconds.)

A stream lives only as long as the right to read it. Logout announces `session_ended` (with a
digest of the session id, never the id) to every instance, and the stream of that session ends
at once; every `CHECK_S` seconds, and at once when an agent changes (a deactivation), a stream
checks that its session still exists and its agent is still active, and ends otherwise. The
browser's reconnect then gets a 401. `session_ended` notices are never forwarded to browsers.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, get
from litestar.channels import ChannelsPlugin
from litestar.di import NamedDependency
from litestar.params import Parameter
from litestar.response import ServerSentEvent, ServerSentEventMessage

from agent_ui.security import current_agent, session_id_of
from hub.context import HubContext
from hub.db.tables import Agent
from runtime.live import CHANNEL, announce

PING_S = 15.0
CHECK_S = 3.0
# Web instances' clocks may differ a little: a page rendered by one and streamed by another.
CLOCK_SLACK_MS = 500


class NoticeClock:
    """When this process last handed a notice to its browsers (wall clock, ms)."""

    def __init__(self) -> None:
        self.last_ms = 0.0

    def note(self) -> None:
        self.last_ms = time.time() * 1000


NOTICES = NoticeClock()


Allowed = Callable[[], Awaitable[bool]]
SESSION_ENDED = "session_ended"


def session_digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()[:32]


def announce_session_ended(session_id: str) -> None:
    """Tell every instance's streams that this session is over (called at logout)."""
    if session_id:
        announce({"type": SESSION_ENDED, "ticket_id": None, "session": session_digest(session_id)})


def session_check(request: Request[Any, Any, Any], ctx: HubContext) -> Allowed:
    """Whether the stream's agent may still listen: the session is still stored, the agent active."""
    agent = current_agent(request)
    session_id = session_id_of(request)
    store = request.app.stores.get("sessions")

    async def allowed() -> bool:
        if agent is None or not session_id or not await store.exists(session_id):
            return False
        async with ctx.sessionmaker() as db:
            row = await db.get(Agent, agent.id)
        return row is not None and row.active

    return allowed


async def _always() -> bool:
    return True


async def _stream(
    channels: ChannelsPlugin, ping_s: float, since_ms: float | None = None, allowed: Allowed = _always,
    session: str = "",
) -> AsyncGenerator[ServerSentEventMessage, None]:
    async with channels.start_subscription([CHANNEL]) as subscriber:
        events = subscriber.iter_events().__aiter__()
        yield ServerSentEventMessage(comment="connected", retry=2000, data=None)
        if since_ms is not None and NOTICES.last_ms >= since_ms - CLOCK_SLACK_MS:
            # Something changed after the page was rendered and before it listened.
            yield ServerSentEventMessage(data='{"type": "resync", "ticket_id": null}')
        pending: asyncio.Future[Any] = asyncio.ensure_future(events.__anext__())
        loop = asyncio.get_running_loop()
        next_ping = next_check = loop.time()
        next_ping += ping_s
        next_check += CHECK_S
        try:
            while True:
                done, _ = await asyncio.wait({pending}, timeout=max(0.0, min(next_ping, next_check) - loop.time()))
                notice = None
                if done:
                    raw = pending.result()
                    pending = asyncio.ensure_future(events.__anext__())
                    try:
                        notice = msgspec.json.decode(raw)
                    except msgspec.DecodeError:
                        continue
                    kind = notice.get("type") if isinstance(notice, dict) else None
                    if kind == SESSION_ENDED:
                        if session and notice.get("session") == session:
                            return  # this tab's session was logged out
                        continue
                    if kind == "agent_changed":
                        next_check = loop.time()  # a deactivation, perhaps: check now
                if loop.time() >= next_check:
                    if not await allowed():
                        return  # logged out or deactivated: the stream ends here
                    next_check = loop.time() + CHECK_S
                if notice is None:
                    if loop.time() >= next_ping:
                        yield ServerSentEventMessage(comment="ping", data=None)
                        next_ping = loop.time() + ping_s
                    continue
                # Unnamed events: the browser's one `message` handler sees every kind, so a new
                # notice kind needs no change in the page script (the kind is in `type`).
                yield ServerSentEventMessage(data=msgspec.json.encode(notice).decode())
        finally:
            pending.cancel()


@get("/events", include_in_schema=False)
async def events(
    request: Request[Any, Any, Any], ctx: NamedDependency[HubContext], channels: NamedDependency[ChannelsPlugin],
    since: float | None = Parameter(default=None, ge=0),
) -> ServerSentEvent:
    """The live stream for logged-in agents (any role); `since`: when the page was rendered (ms)."""
    return ServerSentEvent(
        _stream(channels, PING_S, since, session_check(request, ctx),
                session_digest(session_id_of(request))), headers={"cache-control": "no-store", "x-accel-buffering": "no"},
    )


ROUTES = [events]
