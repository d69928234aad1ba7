"""What happens after commit: enqueue the background work and push the change to agents."""

from __future__ import annotations

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
            sends.append((tasks.process_inbox, (notice.data["inbox_id"],)))
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


def _in_process_broker() -> bool:
    import dramatiq

    return type(dramatiq.get_broker()).__name__ == "StubBroker"


def wire(ctx: HubContext) -> None:
    ctx.bus.subscribe(enqueue_work)
    ctx.bus.subscribe(live.push)
