"""Delivering outbox rows: the delivery policy, whatever carries the job.

- A sender's `PermanentError` fails the message for good, with the provider's code: the agent
  sees why.
- A `TransientError`, or anything unexpected (logged), is another attempt later: after the
  provider's `retry_after`, else by the backoff schedule (`hub.actions.outbox.backoff`), until
  `HUB_OUTBOX_MAX_ATTEMPTS` attempts are used; then the message fails.
- An interrupted earlier attempt (its worker died, or it ended in a doubtful error) that the
  provider shows it received is adopted, not sent again (`hub.delivery.Lookup`).
- The row's lease is renewed every third of `HUB_OUTBOX_LEASE` while the attempt lasts.

The broker only carries outbox ids (one job for the rows a commit queued: `do_deliver_many`);
for a retry it waits `Attempt.retry_in` (the row records the same moment, so the scheduler's
relay would find it even if the broker lost the job).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from hub.actions.outbox import (
    backoff, complete_delivery, deliveries_by_citizen, extend_lease, fail_delivery, mark_sent_and_claim,
    provider_message_exists, retry_delivery,
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
    return (await do_deliver_many(ctx, [outbox_id]))[outbox_id]


async def do_deliver_many(ctx: HubContext, outbox_ids: Sequence[int]) -> dict[int, Attempt]:
    """Several outbox rows (e.g. the welcomes one commit queued), each by the policy above.

    Each citizen's rows go one after the other, in the order they were queued; different
    citizens' at the same time, up to `AT_ONCE`. A crash repeats no more than before: a send the
    provider could not be asked about afterwards (a sender without `Lookup`, or a message it
    cannot recognise: `Lookup.finds`) waits for the job's previous such send to be marked sent,
    so at most one per job is on the wire or unmarked. Rows are claimed as their attempts start,
    and what finished meanwhile is marked sent in the same transaction: one transaction per round
    (half of `AT_ONCE` attempts) instead of two per row. A row's failure or retry is its own
    (`_settle`); if marking several rows sent at once fails, each is marked alone.
    """
    ids = sorted(set(outbox_ids))
    outcomes: dict[int, Attempt] = {}
    citizens = await _citizens(ctx, ids)
    running: dict[asyncio.Future[Delivered], tuple[OutboundMessage, _Citizen]] = {}
    sent: list[tuple[int, Delivered]] = []
    # Sends the provider could not be asked about, one at a time: whose turn it is, who waits.
    turn: int | None = None
    waiting: deque[tuple[int, asyncio.Event]] = deque()
    turn_over = False
    try:
        while True:
            unaskable = any(not citizen.can_ask for _, citizen in running.values())
            chosen = _next_rows(citizens, len(running), unaskable)
            claimed = await _mark_and_claim(ctx, sent, [outbox_id for outbox_id, _ in chosen]) if chosen or sent else []
            outcomes.update((outbox_id, Attempt("sent")) for outbox_id, _ in sent)
            sent = []
            if turn_over:  # the previous such send is marked now: the next may go
                turn, turn_over = None, False
                if waiting:
                    turn, go = waiting.popleft()
                    go.set()
            by_id = {message.outbox_id: message for message in claimed}
            for outbox_id, citizen in chosen:
                message = by_id.get(outbox_id)
                sender = sender_for(message.channel) if message is not None else None
                if message is None:
                    outcomes[outbox_id] = Attempt("skipped")  # not due, sent already, or another worker holds it
                elif sender is None:
                    await fail_delivery(ctx, outbox_id, None, f"no sender is configured for the {message.channel} channel")
                    outcomes[outbox_id] = Attempt("failed")
                else:
                    go = asyncio.Event()
                    if isinstance(sender, Lookup) and _finds(sender, message):
                        go.set()
                    elif turn is None:
                        turn = outbox_id
                        go.set()
                    else:
                        waiting.append((outbox_id, go))  # claimed: its lease is kept while it waits
                    attempt = _after(go, ctx, sender, message)
                    running[asyncio.ensure_future(_holding_lease(ctx, message, attempt))] = (message, citizen)
                    continue
                citizen.busy = False
            if not running:
                if any(citizen.rows for citizen in citizens):
                    continue
                return {outbox_id: outcomes.get(outbox_id, Attempt("skipped")) for outbox_id in ids}
            # A round ends when half the attempts are done, or all, or the one whose turn it was.
            ends_at = max(0, len(running) - AT_ONCE // 2)
            while running and len(running) > ends_at and not turn_over:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: running[t][0].outbox_id):
                    message, citizen = running.pop(task)
                    citizen.busy = False
                    turn_over = turn_over or message.outbox_id == turn
                    settled = await _settle(ctx, message, task)
                    if isinstance(settled, Delivered):
                        sent.append((message.outbox_id, settled))
                    else:
                        outcomes[message.outbox_id] = settled
    finally:
        for task in running:
            task.cancel()  # the job was stopped: those rows' leases lapse, and they are taken over


async def _after(go: asyncio.Event, ctx: HubContext, sender: Sender, message: OutboundMessage) -> Delivered:
    await go.wait()
    return await _attempt(ctx, sender, message)


def _finds(sender: Lookup, message: OutboundMessage) -> bool:
    finds = getattr(sender, "finds", None)
    return True if finds is None else bool(finds(message))


AT_ONCE = 16  # attempts of one job on their way at once


@dataclass
class _Citizen:
    """A job's rows of one citizen, in id order, and whether one of them is on its way."""

    rows: deque[int]
    can_ask: bool = True  # their channel's sender can ask its provider (`hub.delivery.Lookup`)
    busy: bool = False


async def _citizens(ctx: HubContext, ids: list[int]) -> list[_Citizen]:
    if len(ids) == 1:
        return [_Citizen(deque(ids))]
    by_contact: dict[tuple[int, str], _Citizen] = {}
    for outbox_id, contact_id, channel in await deliveries_by_citizen(ctx, ids):
        citizen = by_contact.get((contact_id, channel))
        if citizen is None:
            citizen = by_contact[(contact_id, channel)] = _Citizen(deque(), isinstance(sender_for(channel), Lookup))
        citizen.rows.append(outbox_id)
    return list(by_contact.values())


def _next_rows(citizens: list[_Citizen], running: int, cautious: bool) -> list[tuple[int, _Citizen]]:
    """The next row of each citizen with nothing on its way, up to `AT_ONCE` attempts in all and
    one at a time for senders that cannot ask their provider (`cautious`: one is running)."""
    chosen: list[tuple[int, _Citizen]] = []
    for citizen in citizens:
        if running + len(chosen) >= AT_ONCE:
            break
        if citizen.busy or not citizen.rows or (not citizen.can_ask and cautious):
            continue
        cautious = cautious or not citizen.can_ask
        citizen.busy = True
        chosen.append((citizen.rows.popleft(), citizen))
    return chosen


async def _mark_and_claim(ctx: HubContext, sent: list[tuple[int, Delivered]], claim: list[int]) -> list[OutboundMessage]:
    """One transaction: mark `sent` as sent, claim the rows in `claim`."""
    try:
        return await mark_sent_and_claim(ctx, sent, claim)
    except Exception:
        if not sent:
            raise
        log.warning("marking %d outbox rows sent together failed; marking them one by one", len(sent), exc_info=True)
    for outbox_id, delivered in sent:
        try:
            await complete_delivery(ctx, outbox_id, delivered.provider_id, delivered.status, delivered.meta)
        except Exception:  # its lease lapses; the next attempt finds what reached the provider (Lookup)
            log.exception("outbox %s: could not mark it sent", outbox_id)
    return await mark_sent_and_claim(ctx, [], claim)


async def _settle(ctx: HubContext, message: OutboundMessage, task: asyncio.Future[Delivered]) -> Delivered | Attempt:
    """What a finished attempt came to: the sender's answer, or the failure or retry written."""
    outbox_id = message.outbox_id
    try:
        return task.result()
    except PermanentError as exc:
        log.warning("outbox %s failed for good: %s", outbox_id, exc)
        await fail_delivery(ctx, outbox_id, exc.code, str(exc))
        return Attempt("failed")
    except TransientError as exc:
        return await _retry(ctx, outbox_id, str(exc), exc.retry_after)
    except Exception as exc:  # an unexpected error is treated as transient, and logged
        log.exception("outbox %s: unexpected error while sending", outbox_id, exc_info=exc)
        return await _retry(ctx, outbox_id, f"{type(exc).__name__}: {exc}", None)


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
