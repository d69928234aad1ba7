"""After-commit dispatch of events (`hub.events`) to their reactions.

`hub.actions.unit.UnitOfWork` publishes what an action emitted only after its transaction has
committed, so no reaction hears of a change that was rolled back. Which reactions an event type
sets off is one table, given by the process's composition root (`runtime.reactions.REACTIONS`
plus the channels' own, wired by `entrypoints.bootstrap`). A reaction is called once per
publication with its events of that publication, in order (a queue drain is enqueued once for
a batch, inbox ids travel together); a failing reaction is logged and the others still run.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from hub.events import Announcement

log = logging.getLogger(__name__)

# Called with the events of one publication it reacts to (at least one).
Reaction = Callable[[Sequence[Any]], Awaitable[None] | None]
Reactions = Mapping[type[Announcement], Iterable[Reaction]]


class Bus:
    def __init__(self) -> None:
        self._reactions: dict[type[Announcement], list[Reaction]] = {}
        self._listeners: list[Reaction] = []

    def react(self, table: Reactions) -> None:
        """Add these reactions (event type -> reactions, in order) to what the bus runs."""
        for event_type, reactions in table.items():
            known = self._reactions.setdefault(event_type, [])
            for reaction in reactions:
                if reaction not in known:
                    known.append(reaction)

    def reactions(self, event_type: type[Announcement]) -> list[Reaction]:
        return list(self._reactions.get(event_type, ()))

    def listen(self, listener: Reaction) -> None:
        """Hear every event, before the reactions (tests, benches); the work goes through `react`."""
        self._listeners.append(listener)

    async def publish(self, events: Sequence[Announcement]) -> None:
        if not events:
            return
        grouped: dict[int, tuple[Reaction, list[Announcement]]] = {}
        for event in events:
            for reaction in self._reactions.get(type(event), ()):
                grouped.setdefault(id(reaction), (reaction, []))[1].append(event)
        calls = [(listener, list(events)) for listener in self._listeners] + list(grouped.values())
        for reaction, heard in calls:
            try:
                result = reaction(heard)
                if result is not None:
                    await result
            except Exception:  # a failing reaction must not undo a committed change, nor stop the others
                log.exception("after-commit reaction %r failed", reaction)
