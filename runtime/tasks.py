"""dramatiq actors: the background work. Imported by `runtime.broker.setup_broker` only.

Each actor is a few lines: the work and its rules are the core's. Retries of deliveries are
bookkept in the outbox table (attempts, next_attempt_at), not in broker messages, so a restarted
broker or a lost message delays a send but never drops it: the scheduler's relay re-enqueues
whatever is due and unclaimed.
"""

from __future__ import annotations

import logging

import dramatiq

from hub.actions.deliver import do_deliver
from hub.actions.lifecycle import do_drain_queue
from hub.actions.messages import do_process_inbox, do_process_inbox_batch
from runtime import state

log = logging.getLogger(__name__)


@dramatiq.actor(queue_name="outbox", max_retries=0, time_limit=120_000)
async def deliver(outbox_id: int) -> None:
    await deliver_one(outbox_id)


async def deliver_one(outbox_id: int) -> str:
    """One attempt by the core's delivery policy (`hub.actions.deliver`); a retry waits in the
    broker as long as the policy says. Returns what happened (for tests)."""
    attempt = await do_deliver(state.context(), outbox_id)
    if attempt.retry_in is not None:
        deliver.send_with_options(args=(outbox_id,), delay=int(attempt.retry_in.total_seconds() * 1000))
    return attempt.outcome


@dramatiq.actor(queue_name="inbox", max_retries=5, min_backoff=200, max_backoff=10_000)
async def process_inbox(inbox_id: int) -> None:
    await do_process_inbox(state.context(), inbox_id)


@dramatiq.actor(queue_name="inbox", max_retries=5, min_backoff=200, max_backoff=10_000)
async def process_inbox_many(inbox_ids: list[int]) -> None:
    await process_inbox_rows(inbox_ids)


async def process_inbox_rows(inbox_ids: list[int]) -> None:
    """Accepted webhooks that arrived together, turned into ticket messages in one transaction.

    If that fails, each row is tried on its own, so one bad row cannot hold the others back;
    the first error is raised afterwards and dramatiq retries (rows done are skipped).
    """
    ctx = state.context()
    try:
        await do_process_inbox_batch(ctx, inbox_ids)
        return
    except Exception:
        if len(inbox_ids) == 1:
            raise
        log.warning("processing %d inbox rows together failed; trying them one by one", len(inbox_ids))
    first: Exception | None = None
    for inbox_id in inbox_ids:
        try:
            await do_process_inbox(ctx, inbox_id)
        except Exception as exc:
            first = first or exc
    if first is not None:
        raise first


@dramatiq.actor(queue_name="routing", max_retries=3, min_backoff=100, max_backoff=2_000)
async def drain_queue() -> None:
    await do_drain_queue(state.context())
