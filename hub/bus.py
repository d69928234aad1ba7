"""After-commit publication of what happened.

Actions collect `Published` notices while they work; `hub.actions.unit.UnitOfWork` hands them
to the bus only after the transaction has committed, so nobody hears of a change that was
rolled back. The runtime subscribes the real consumers (outbox delivery, live push to agents).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Published:
    """A committed change, as subscribers see it: ids only, subscribers reload what they need."""

    kind: str  # an EventKind value, or "outbox" / "inbox" / "ticket_changed" / "agent_changed"
    ticket_id: int | None = None
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[list[Published]], Awaitable[None] | None]


class Bus:
    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.append(subscriber)

    async def publish(self, notices: list[Published]) -> None:
        if not notices:
            return
        for subscriber in list(self._subscribers):
            try:
                result = subscriber(notices)
                if result is not None:
                    await result
            except Exception:  # a failing subscriber must not undo a committed change
                log.exception("bus subscriber %r failed", subscriber)
