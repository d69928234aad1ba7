"""What happens after commit: enqueue the background work and push the change to agents."""

from __future__ import annotations

from hub.bus import Published
from hub.context import HubContext
from runtime import live

# Notices that free capacity or add it (presence or capacity changed, a ticket resolved,
# handed back or moved to a colleague): the queue may now be drained.
_DRAIN_ON = {"agent_changed", "resolved", "unassigned", "transferred", "closed_unidentified"}


def enqueue_work(notices: list[Published]) -> None:
    from runtime import tasks

    drain = False
    for notice in notices:
        if notice.kind == "outbox":
            tasks.deliver.send(notice.data["outbox_id"])
        elif notice.kind == "inbox":
            tasks.process_inbox.send(notice.data["inbox_id"])
        elif notice.kind in _DRAIN_ON:
            drain = True
    if drain:
        tasks.drain_queue.send()


def wire(ctx: HubContext) -> None:
    ctx.bus.subscribe(enqueue_work)
    ctx.bus.subscribe(live.push)
