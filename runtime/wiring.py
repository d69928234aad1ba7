"""What happens after commit: enqueue the background work and push the change to agents."""

from __future__ import annotations

import threading

from hub.bus import Published
from hub.context import HubContext
from runtime import live, offload

# Notices that free capacity or add it (presence or capacity changed, a ticket resolved,
# handed back or moved to a colleague): the queue may now be drained.
_DRAIN_ON = {"agent_changed", "resolved", "unassigned", "transferred", "closed_unidentified"}


def enqueue_work(notices: list[Published]) -> None:
    from runtime import tasks

    sends: list[tuple[object, tuple[object, ...]]] = []
    drain = False
    for notice in notices:
        if notice.kind == "outbox":
            sends.append((tasks.deliver, (notice.data["outbox_id"],)))
        elif notice.kind == "inbox":
            _INBOX.add(notice.data["inbox_id"])
        elif notice.kind in _DRAIN_ON:
            drain = True
    if drain:
        sends.append((tasks.drain_queue, ()))
    if not sends:
        return

    def send_all() -> None:
        for actor, args in sends:
            actor.send(*args)  # type: ignore[attr-defined]

    if _in_process_broker():
        send_all()  # memory only: cheap, and tests see the message at once
    else:
        offload.submit(send_all)


class _InboxCoalescer:
    """Inbox ids accepted meanwhile leave in one `process_inbox_many` message.

    One webhook at a time, each id gets its own message at once. Under a burst, the ids that
    arrive while the previous enqueue is on its way wait for the next one together: fewer
    broker round trips for the web process, one transaction per group for the worker.
    """

    MAX = 100

    def __init__(self) -> None:
        self._ids: list[int] = []
        self._lock = threading.Lock()

    def add(self, inbox_id: int) -> None:
        with self._lock:
            self._ids.append(inbox_id)
            first = len(self._ids) == 1
        if _in_process_broker():
            self.send()  # memory only: cheap, and tests see the message at once
        elif first:
            offload.submit(self.send)

    def send(self) -> None:
        from runtime import tasks

        with self._lock:
            ids, self._ids = self._ids, []
        for start in range(0, len(ids), self.MAX):
            tasks.process_inbox_many.send(ids[start:start + self.MAX])


_INBOX = _InboxCoalescer()


def _in_process_broker() -> bool:
    import dramatiq

    return type(dramatiq.get_broker()).__name__ == "StubBroker"


def wire(ctx: HubContext) -> None:
    ctx.bus.subscribe(enqueue_work)
    ctx.bus.subscribe(live.push)
