"""dramatiq actors: the background work. Imported by `runtime.broker.setup_broker` only.

Retries of deliveries are bookkept in the outbox table (attempts, next_attempt_at), not in
broker messages, so a restarted broker or a lost message delays a send but never drops it:
the scheduler's relay re-enqueues whatever is due and unclaimed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import dramatiq

from hub.actions.lifecycle import do_drain_queue
from hub.actions.messages import do_process_inbox, do_process_inbox_batch
from hub.actions.outbox import (
    claim_delivery, complete_delivery, extend_lease, fail_delivery, provider_message_exists, retry_delivery,
)
from hub.context import HubContext
from hub.delivery import Delivered, Lookup, OutboundMessage, PermanentError, Sender, TransientError, sender_for
from runtime import state

log = logging.getLogger(__name__)


@dramatiq.actor(queue_name="outbox", max_retries=0, time_limit=120_000)
async def deliver(outbox_id: int) -> None:
    await deliver_one(outbox_id)


async def deliver_one(outbox_id: int) -> str:
    """Send one outbox row through its channel's sender. Returns what happened (for tests)."""
    ctx = state.context()
    message = await claim_delivery(ctx, outbox_id)
    if message is None:
        return "skipped"
    sender = sender_for(message.channel)
    if sender is None:
        await fail_delivery(ctx, outbox_id, None, f"no sender is configured for the {message.channel} channel")
        return "failed"
    try:
        delivered = await _holding_lease(ctx, message, _attempt(ctx, sender, message))
    except PermanentError as exc:
        log.warning("outbox %s failed for good: %s", outbox_id, exc)
        await fail_delivery(ctx, outbox_id, exc.code, str(exc))
        return "failed"
    except TransientError as exc:
        return await _retry(outbox_id, str(exc), exc.retry_after)
    except Exception as exc:  # an unexpected error is treated as transient, and logged
        log.exception("outbox %s: unexpected error while sending", outbox_id)
        return await _retry(outbox_id, f"{type(exc).__name__}: {exc}", None)
    await complete_delivery(ctx, outbox_id, delivered.provider_id, delivered.status, delivered.meta)
    return "sent"


async def _attempt(ctx: HubContext, sender: Sender, message: OutboundMessage) -> Delivered:
    """Send, unless the provider shows that the interrupted earlier attempt arrived (then adopt it)."""
    if message.interrupted and isinstance(sender, Lookup):
        for found in await sender.already_sent(message):
            if found.provider_id and not await provider_message_exists(ctx, message.channel, found.provider_id):
                log.info("outbox %s: the interrupted attempt reached the provider as %s; not sent again",
                         message.outbox_id, found.provider_id)
                return Delivered(found.provider_id, found.status, {**found.meta, "recovered": True})
    return await sender.deliver(message)


async def _holding_lease(ctx: HubContext, message: OutboundMessage, attempt: Coroutine[Any, Any, Delivered]) -> Delivered:
    """Run the attempt, renewing the row's lease every third of it while the attempt lasts."""
    task = asyncio.ensure_future(attempt)
    every = ctx.settings.outbox_lease.total_seconds() / 3
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=every)
            if done:
                return task.result()
            try:
                await extend_lease(ctx, message.outbox_id, message.attempt)
            except Exception:  # the database is away: the attempt goes on; its lease may lapse
                log.warning("outbox %s: could not renew the lease", message.outbox_id, exc_info=True)
    finally:
        if not task.done():
            task.cancel()


async def _retry(outbox_id: int, error: str, retry_after: float | None) -> str:
    ctx = state.context()
    delay = timedelta(seconds=retry_after) if retry_after else None
    if await retry_delivery(ctx, outbox_id, error, delay):
        from hub.actions.outbox import backoff  # the same schedule the row records

        wait = delay or backoff(1)
        deliver.send_with_options(args=(outbox_id,), delay=int(wait.total_seconds() * 1000))
        return "retrying"
    return "failed"


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
