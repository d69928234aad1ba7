"""dramatiq actors: the background work. Imported by `runtime.broker.setup_broker` only.

Each actor is a few lines: the work and its rules are the core's. Retries of deliveries are
bookkept in the outbox table (attempts, next_attempt_at), not in broker messages, so a restarted
broker or a lost message delays a send but never drops it: the scheduler's relay re-enqueues
whatever is due and unclaimed.
"""

from __future__ import annotations

import dramatiq

from hub.actions.deliver import do_deliver_many
from hub.actions.lifecycle import do_drain_queue
from hub.actions.messages import do_process_inbox, do_process_inbox_group
from runtime import state

@dramatiq.actor(queue_name="outbox", max_retries=0, time_limit=120_000)
async def deliver(outbox_id: int) -> None:
    await deliver_one(outbox_id)


# A job's rows go AT_ONCE at a time (hub.actions.deliver), each send within Twilio's 15 s timeout.
@dramatiq.actor(queue_name="outbox", max_retries=0, time_limit=300_000)
async def deliver_many(outbox_ids: list[int]) -> None:
    """The rows one commit queued (runtime.reactions), or that the scheduler relays, in one job."""
    await deliver_all(outbox_ids)


async def deliver_one(outbox_id: int) -> str:
    """One attempt by the core's delivery policy (`hub.actions.deliver`); a retry waits in the
    broker as long as the policy says. Returns what happened (for tests)."""
    return (await deliver_all([outbox_id]))[outbox_id]


async def deliver_all(outbox_ids: list[int]) -> dict[int, str]:
    """`deliver_one` for several rows in one go; what happened to each (for tests)."""
    attempts = await do_deliver_many(state.context(), outbox_ids)
    for outbox_id, attempt in attempts.items():
        if attempt.retry_in is not None:
            deliver.send_with_options(args=(outbox_id,), delay=int(attempt.retry_in.total_seconds() * 1000))
    return {outbox_id: attempt.outcome for outbox_id, attempt in attempts.items()}


@dramatiq.actor(queue_name="inbox", max_retries=5, min_backoff=200, max_backoff=10_000)
async def process_inbox(inbox_id: int) -> None:
    await do_process_inbox(state.context(), inbox_id)


@dramatiq.actor(queue_name="inbox", max_retries=5, min_backoff=200, max_backoff=10_000)
async def process_inbox_many(inbox_ids: list[int]) -> None:
    """Rows that arrived together (runtime.reactions); a failure is raised and dramatiq retries."""
    await do_process_inbox_group(state.context(), inbox_ids)


@dramatiq.actor(queue_name="routing", max_retries=3, min_backoff=100, max_backoff=2_000)
async def drain_queue() -> None:
    await do_drain_queue(state.context())
