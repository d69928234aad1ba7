"""The one reaction table: what each event (`hub.events`) sets off after commit.

Background work goes to the broker (deliver a message, turn accepted inbox rows into ticket
messages, drain the queue when capacity may have been freed); changes agents' screens follow go
to their browsers (`runtime.live.push`). Channels add their own reactions (the WhatsApp channel
fetches a pending attachment's file: `Channel.reactions`), merged in by the composition root.
Reactions run only after commit, never undo it, and one failing does not stop the others
(`hub.bus`). Every event type has an entry here, if only an empty one: a test checks it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence

from hub import events as ev
from hub.bus import Reaction, Reactions
from hub.context import HubContext
from runtime import live, offload


DELIVER_MANY = 50  # outbox rows per `deliver_many` job


def deliver(queued: Sequence[ev.MessageQueued]) -> None:
    """The outbox rows one commit queued: one `deliver` job for one row, else `deliver_many`
    jobs of up to `DELIVER_MANY` (a broker message each, instead of one per row)."""
    from runtime import tasks

    ids = [event.outbox_id for event in queued]
    if len(ids) == 1:
        _send([(tasks.deliver, (ids[0],))])
    else:
        _send([(tasks.deliver_many, (ids[i:i + DELIVER_MANY],)) for i in range(0, len(ids), DELIVER_MANY)])


def drain_queue(freed: Sequence[ev.Announcement]) -> None:
    """Capacity was freed or added: one `drain_queue` job for the whole publication."""
    from runtime import tasks

    _send([(tasks.drain_queue, ())])


def process_inbox(accepted: Sequence[ev.InboxAccepted]) -> None:
    """Accepted inbound messages are processed in groups (`_InboxCoalescer`)."""
    for event in accepted:
        _INBOX.add(event.inbox_id)


push = live.push

REACTIONS: dict[type[ev.Announcement], tuple[Reaction, ...]] = {
    # Background work, never shown to browsers.
    ev.MessageQueued: (deliver,),
    ev.InboxAccepted: (process_inbox,),
    ev.AttachmentPending: (),  # fetched by the channel that has the file (Channel.reactions)
    # Capacity freed or added (presence or capacity changed, a ticket resolved, handed back,
    # moved to a colleague or closed): the queue may now be drained.
    ev.AgentChanged: (drain_queue, push),
    ev.Resolved: (drain_queue, push),
    ev.Unassigned: (drain_queue, push),
    ev.Transferred: (drain_queue, push),
    ev.ClosedUnidentified: (drain_queue, push),
    # What agents' screens follow.
    ev.TicketChanged: (push,),
    ev.TicketSeen: (push,),
    ev.ContactChanged: (push,),
    ev.CalendarChanged: (push,),
    ev.TopicsChanged: (push,),
    ev.AttachmentChanged: (push,),
    ev.CallRinging: (push,),
    ev.CallChanged: (push,),
    ev.TicketCreated: (push,),
    ev.MessageReceived: (push,),
    ev.Identified: (push,),
    ev.Queued: (push,),
    ev.Assigned: (push,),
    ev.AgentReplied: (push,),
    ev.FirstAgentReply: (push,),
    ev.CitizenReplied: (push,),
    ev.ReminderSent: (push,),
    ev.Reopened: (push,),
    ev.NoteAdded: (push,),
    ev.NameChanged: (push,),
    ev.AutoMessageSent: (push,),
    ev.SurveySent: (push,),
    ev.SurveyAnswered: (push,),
    ev.CallLogged: (push,),
    ev.CallAttached: (push,),
    ev.CalledBack: (push,),
    ev.MessageStatusChanged: (push,),
    ev.ReplyOutsideWindow: (push,),
}


def wire(ctx: HubContext, extra: Iterable[Reactions] = ()) -> None:
    """Give this context's bus the table, and the channels' reactions after it."""
    ctx.bus.react(REACTIONS)
    for table in extra:
        ctx.bus.react(table)


def wire_live_only(ctx: HubContext) -> None:
    """Only the live push (a context that stands for a worker in a web test: no broker)."""
    ctx.bus.react({event_type: [push] for event_type, reactions in REACTIONS.items() if push in reactions})


def _send(sends: list[tuple[object, tuple[object, ...]]]) -> None:
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
    arrive while the previous enqueue is on its way wait for the next one together, and
    messages leave at most one per `WINDOW`: fewer broker round trips for the web process (an
    enqueue costs about as much CPU as the webhook's own INSERT), one transaction per group
    for the worker. The webhook's answer never waits for this: its row is committed already.
    """

    MAX = 100
    WINDOW = 0.02  # seconds between two messages under a burst (at 1,000/s: ~20 ids each)

    def __init__(self, enqueue: Callable[[list[int]], object] | None = None,
                 in_memory: Callable[[], bool] | None = None) -> None:
        self._ids: list[int] = []
        self._lock = threading.Lock()
        self._last = 0.0
        self._enqueue = enqueue or _process_inbox_many
        self._in_memory = in_memory or _in_process_broker

    def add(self, inbox_id: int) -> None:
        with self._lock:
            self._ids.append(inbox_id)
            first = len(self._ids) == 1
        if self._in_memory():
            self.send()  # memory only: cheap, and tests see the message at once
        elif first:
            offload.submit(self.send)

    def send(self) -> None:
        if not self._in_memory():
            wait = self._last + self.WINDOW - time.monotonic()
            if wait > 0:  # busy: let the next few webhooks' ids join this message
                time.sleep(wait)
            self._last = time.monotonic()
        with self._lock:
            ids, self._ids = self._ids, []
        for start in range(0, len(ids), self.MAX):
            self._enqueue(ids[start:start + self.MAX])


def _process_inbox_many(ids: list[int]) -> None:
    from runtime import tasks

    tasks.process_inbox_many.send(ids)


def _in_process_broker() -> bool:
    import dramatiq

    return type(dramatiq.get_broker()).__name__ == "StubBroker"


_INBOX = _InboxCoalescer()
