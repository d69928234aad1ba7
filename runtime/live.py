"""Live push to agents' browsers: committed changes become small JSON notices.

The web app installs the publisher: in memory on embedded defaults (thread-safe hop onto the
web server's loop), or Redis pub/sub when `HUB_REDIS_URL` is set, so a change made by a worker
or another web instance reaches every open tab.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

from hub.bus import Published

log = logging.getLogger(__name__)

CHANNEL = "hub-live"
_publishers: list[Callable[[dict[str, Any]], None]] = []

# Notices worth a browser's attention; internal plumbing (outbox, inbox) stays server-side.
_SKIP = {"outbox", "inbox", "attachment_pending"}


def add_publisher(publisher: Callable[[dict[str, Any]], None]) -> None:
    _publishers.append(publisher)


def clear_publishers() -> None:
    _publishers.clear()


def redis_publisher(url: str) -> Callable[[dict[str, Any]], None]:
    import redis

    client = redis.Redis.from_url(url)

    def publish(notice: dict[str, Any]) -> None:
        client.publish(CHANNEL, json.dumps(notice))

    return publish


def push(notices: list[Published]) -> None:
    for notice in notices:
        if notice.kind in _SKIP:
            continue
        payload = {"type": notice.kind, "ticket_id": notice.ticket_id, **notice.data}
        for publisher in list(_publishers):
            try:
                publisher(payload)
            except Exception:
                log.exception("live push failed")
