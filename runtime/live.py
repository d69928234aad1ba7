"""Live push to agents' browsers: committed events (`hub.events`) become small JSON notices.

A notice is the event's tagged encoding with a `ticket_id` always present (null for events of
no ticket): `{"type": "assigned", "ticket_id": 7, "assignee_id": 3, "agent_id": 3}`. Ids only;
the browser re-fetches what it shows (agent_ui/static/hub.js). Which events are pushed is the
reaction table's say (`runtime.reactions`).

The web app installs the publisher: in memory on embedded defaults (thread-safe hop onto the
web server's loop), or Redis pub/sub when `HUB_REDIS_URL` is set, so a change made by a worker
or another web instance reaches every open tab.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from hub.events import Announcement
from runtime import offload

log = logging.getLogger(__name__)

CHANNEL = "hub-live"
_publishers: list[Callable[[dict[str, Any]], None]] = []


def add_publisher(publisher: Callable[[dict[str, Any]], None]) -> None:
    _publishers.append(publisher)


def clear_publishers() -> None:
    _publishers.clear()


def redis_publisher(url: str) -> Callable[[dict[str, Any]], None]:
    import redis

    client = redis.Redis.from_url(url)

    def publish(notice: dict[str, Any]) -> None:
        # A network round trip: off the event loop (runtime.offload), in order.
        data = json.dumps(notice)
        offload.submit(lambda: client.publish(CHANNEL, data))

    return publish


def publish_from_background(redis_url: str) -> None:
    """For `hub worker`, `hub scheduler`, `hub mailbox`: their changes (a new ticket from a
    WhatsApp message or a mail, a timer that fired) reach the browsers through Redis, where every
    web instance's relay picks them up. Without HUB_REDIS_URL nobody listens in another process."""
    clear_publishers()
    if redis_url:
        add_publisher(redis_publisher(redis_url))


def notice(event: Announcement) -> dict[str, Any]:
    """What browsers receive for this event (a public interface: keep its names)."""
    payload: dict[str, Any] = msgspec.to_builtins(event)
    payload.setdefault("ticket_id", None)
    return payload


def push(events: Sequence[Announcement]) -> None:
    for event in events:
        announce(notice(event))


def announce(payload: dict[str, Any]) -> None:
    """Hand one notice to every publisher (this process's tabs, or Redis for every instance)."""
    for publisher in list(_publishers):
        try:
            publisher(payload)
        except Exception:
            log.exception("live push failed")


async def relay_from_redis(url: str, deliver: Callable[[dict[str, Any]], None], ready: "asyncio.Event | None" = None) -> None:
    """Forward every notice published on Redis (by any process) to this web process's tabs.

    Each web instance keeps its browsers' subscriptions in memory and runs this one task;
    workers, schedulers and other instances publish with a plain Redis PUBLISH. On a dropped
    connection it reconnects with backoff; browsers re-fetch on their own reconnect, so a
    notice lost in between only delays a refresh. Cancel the task to stop it.
    """
    import asyncio

    from redis.asyncio import Redis

    delay = 0.5
    while True:
        client = Redis.from_url(url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(CHANNEL)
            if ready is not None:
                ready.set()
            delay = 0.5
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                try:
                    deliver(json.loads(message["data"]))
                except Exception:
                    log.exception("could not relay a live notice")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("live relay from Redis interrupted (%s); reconnecting in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
        finally:
            try:
                await pubsub.aclose()
                await client.aclose()
            except Exception:
                pass
