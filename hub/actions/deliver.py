"""Delivering one outbox row: the delivery policy, whatever carries the job.

- A sender's `PermanentError` fails the message for good, with the provider's code: the agent
  sees why.
- A `TransientError`, or anything unexpected (logged), is another attempt later: after the
  provider's `retry_after`, else by the backoff schedule (`hub.actions.outbox.backoff`), until
  `HUB_OUTBOX_MAX_ATTEMPTS` attempts are used; then the message fails.
- An interrupted earlier attempt (its worker died, or it ended in a doubtful error) that the
  provider shows it received is adopted, not sent again (`hub.delivery.Lookup`).
- The row's lease is renewed every third of `HUB_OUTBOX_LEASE` while the attempt lasts.

The broker only carries the outbox id; for a retry it waits `Attempt.retry_in` (the row records
the same moment, so the scheduler's relay would find it even if the broker lost the job).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from hub.actions.outbox import (
    backoff, claim_delivery, complete_delivery, extend_lease, fail_delivery, provider_message_exists, retry_delivery,
)
from hub.context import HubContext
from hub.delivery import Delivered, Lookup, OutboundMessage, PermanentError, Sender, TransientError, sender_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """What one delivery attempt came to; `retry_in`: when to try again (a retry only)."""

    outcome: Literal["sent", "failed", "retrying", "skipped"]
    retry_in: timedelta | None = None


async def do_deliver(ctx: HubContext, outbox_id: int) -> Attempt:
    """Send one outbox row through its channel's sender, by the policy above."""
    message = await claim_delivery(ctx, outbox_id)
    if message is None:
        return Attempt("skipped")  # not due, sent already, or another worker holds it
    sender = sender_for(message.channel)
    if sender is None:
        await fail_delivery(ctx, outbox_id, None, f"no sender is configured for the {message.channel} channel")
        return Attempt("failed")
    try:
        delivered = await _holding_lease(ctx, message, _attempt(ctx, sender, message))
    except PermanentError as exc:
        log.warning("outbox %s failed for good: %s", outbox_id, exc)
        await fail_delivery(ctx, outbox_id, exc.code, str(exc))
        return Attempt("failed")
    except TransientError as exc:
        return await _retry(ctx, outbox_id, str(exc), exc.retry_after)
    except Exception as exc:  # an unexpected error is treated as transient, and logged
        log.exception("outbox %s: unexpected error while sending", outbox_id)
        return await _retry(ctx, outbox_id, f"{type(exc).__name__}: {exc}", None)
    await complete_delivery(ctx, outbox_id, delivered.provider_id, delivered.status, delivered.meta)
    return Attempt("sent")


async def _attempt(ctx: HubContext, sender: Sender, message: OutboundMessage) -> Delivered:
    """Send, unless the provider shows that the interrupted earlier attempt arrived (then adopt it)."""
    if message.interrupted and isinstance(sender, Lookup):
        for found in await sender.already_sent(message, ctx):
            if found.provider_id and not await provider_message_exists(ctx, message.channel, found.provider_id):
                log.info("outbox %s: the interrupted attempt reached the provider as %s; not sent again",
                         message.outbox_id, found.provider_id)
                return Delivered(found.provider_id, found.status, {**found.meta, "recovered": True})
    return await sender.deliver(message, ctx)


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


async def _retry(ctx: HubContext, outbox_id: int, error: str, retry_after: float | None) -> Attempt:
    delay = timedelta(seconds=retry_after) if retry_after else None
    if await retry_delivery(ctx, outbox_id, error, delay):
        return Attempt("retrying", delay or backoff(1))
    return Attempt("failed")
