"""The scheduler: fires due timers, relays stuck outbox rows and unprocessed inbox rows (each second).

Only one scheduler is active at a time: a PostgreSQL advisory lock, or a file lock next to
the SQLite database. A second one waits, and takes over when the first stops. Even if two
ran at once, firing a timer is idempotent (row lock plus a due-time check), so nothing fires
twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import timedelta
from pathlib import Path

from filelock import FileLock, Timeout
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from hub.actions.lifecycle import do_drain_queue, do_fire_timer, due_ticket_ids
from hub.actions.office import do_follow_the_calendar
from hub.actions.messages import pending_inbox_ids
from hub.actions.outbox import stuck_deliveries
from hub.actions.privacy import do_anonymise_expired
from hub.context import HubContext

log = logging.getLogger(__name__)

ADVISORY_KEY = 0x48554253  # "HUBS"
INBOX_GRACE = timedelta(seconds=2)  # a job is normally taken within milliseconds


class LeaderLock:
    """Held while this process is the active scheduler."""

    def __init__(self, ctx: HubContext, name: str = "scheduler") -> None:
        self.ctx = ctx
        self.name = name
        self._file: FileLock | None = None
        self._conn: AsyncConnection | None = None

    async def acquire(self) -> bool:
        if self.ctx.engine.dialect.name == "sqlite":
            if self._file is None:
                db = Path(self.ctx.engine.url.database or "hub.sqlite3")
                self._file = FileLock(str(db) + f".{self.name}.lock")
            if self._file.is_locked:
                return True
            try:
                self._file.acquire(timeout=0)
                return True
            except Timeout:
                return False
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                return True
            except Exception:
                log.warning("scheduler lost its database connection; re-electing")
                await self.release()
        conn = await self.ctx.engine.connect()
        # A stable key (str hashes differ between processes, crc32 does not).
        key = ADVISORY_KEY ^ (zlib.crc32(self.name.encode()) & 0xFFFF)
        got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
        await conn.commit()
        if got:
            self._conn = conn
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        if self._file is not None and self._file.is_locked:
            self._file.release(force=True)
        if self._conn is not None:
            # The connection goes back to the pool, so the session-level lock must be dropped
            # explicitly; if that fails, discard the connection so the server ends the session.
            try:
                await self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
                await self._conn.commit()
                await self._conn.close()
            except Exception:
                with suppress(Exception):
                    await self._conn.invalidate()
            self._conn = None


RELAY_EVERY_S = 1.0  # look for lost work this often (two cheap index probes)
HOUSEKEEPING_EVERY_S = 10.0  # the office calendar, statistics roll-ups, sweep jobs, retention

# A job the composition root adds to every sweep (e.g. the managers' weekly summaries): a name
# for the logs, and the coroutine function. A failing job is logged and the sweep goes on.
SweepJob = tuple[str, Callable[[HubContext], Awaitable[object]]]


class Relays:
    """When to hand a stuck row to a worker again: at once, then after 2, 4, 8 ... s, at most 30 s.

    A row stays stuck while no worker runs, or while a backlog keeps workers busy; relaying it
    on every pass would flood the broker with copies. A copy is harmless (the database claim
    lets one worker do the work and the others find nothing), so the backoff is only about cost.
    """

    FIRST_S, MAX_S = 2.0, 30.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._next: dict[tuple[str, int], tuple[float, float]] = {}  # row -> (not before, next gap)

    def due(self, kind: str, ids: list[int]) -> list[int]:
        """Of the rows stuck now, those to relay now (forgets the rows no longer stuck)."""
        now = self._clock()
        keep = {(kind, i) for i in ids}
        for key in [k for k in self._next if k[0] == kind and k not in keep]:
            del self._next[key]  # done, or no longer stuck
        return [i for i in ids if now >= self._next.get((kind, i), (0.0, 0.0))[0]]

    def relayed(self, kind: str, ids: list[int]) -> None:
        """These reached the broker (a relay that failed with the broker is tried again next pass)."""
        now = self._clock()
        for i in ids:
            gap = self._next.get((kind, i), (0.0, self.FIRST_S))[1]
            self._next[(kind, i)] = (now + gap, min(gap * 2, self.MAX_S))


async def tick(ctx: HubContext, sweep: bool = True, jobs: Sequence[SweepJob] = (), relays: Relays | None = None,
               housekeeping: bool = True) -> dict[str, int]:
    """One pass: fire due timers; with `sweep`, also hand lost work to the workers again.

    Returns the counts (for logs and tests). Lost work is an outbox row pending past its time
    by HUB_OUTBOX_STUCK_AFTER or `sending` past its lease (its worker died), and a sender whose
    oldest unprocessed inbox row waits longer than INBOX_GRACE (its job was lost with a worker
    or the broker). The claims in the database make a relay of work that was only slow
    harmless. `relays` spaces out the relays of rows that stay stuck (see `Relays`). With
    `housekeeping` too, the slower chores (calendar, roll-ups, `jobs`, retention).
    """
    from runtime import tasks

    fired = 0
    for ticket_id in await due_ticket_ids(ctx):
        try:
            if await do_fire_timer(ctx, ticket_id):
                fired += 1
        except Exception:
            log.exception("timer of ticket %s failed", ticket_id)
    relayed = inbox = 0
    if not sweep:
        return {"fired": fired, "relayed": relayed, "inbox": inbox}
    relays = relays or Relays()
    lost = relays.due("outbox", await stuck_deliveries(ctx, ctx.settings.outbox_stuck_after))
    for start in range(0, len(lost), 50):  # the rows of one job go in order per citizen (hub.actions.deliver)
        tasks.deliver_many.send(lost[start:start + 50])
        relays.relayed("outbox", lost[start:start + 50])
    relayed += len(lost)
    stuck = relays.due("inbox", await pending_inbox_ids(ctx, older_than_s=INBOX_GRACE.total_seconds()))
    for start in range(0, len(stuck), 100):
        tasks.process_inbox_many.send(stuck[start:start + 100])
        relays.relayed("inbox", stuck[start:start + 100])
    inbox += len(stuck)
    if not housekeeping:
        return {"fired": fired, "relayed": relayed, "inbox": inbox}
    try:  # the office calendar: away at closing for idle agents, drain the queue at opening
        if await do_follow_the_calendar(ctx) == "opened":
            await do_drain_queue(ctx)
    except Exception:
        log.exception("office calendar step failed")
    try:  # statistics: roll up the finished days, a few per sweep (hub/rollups.py)
        from hub.rollups import build_due

        await build_due(ctx, max_days=7)
    except Exception:
        log.exception("statistics roll-up failed")
    for name, job in jobs:  # e.g. the managers' weekly summaries (entrypoints/weekly_summary.py)
        try:
            await job(ctx)
        except Exception:
            log.exception("%s failed", name)
    try:  # retention: a small batch per sweep (hub/actions/privacy.py)
        anonymised = (await do_anonymise_expired(ctx)).tickets
    except Exception:
        log.exception("retention sweep failed")
        anonymised = 0
    return {"fired": fired, "relayed": relayed, "inbox": inbox, "anonymised": anonymised}


async def run_scheduler(ctx: HubContext, stop: asyncio.Event, jobs: Sequence[SweepJob] = ()) -> None:
    lock = LeaderLock(ctx)
    interval = ctx.settings.scheduler_interval.total_seconds()
    leading = False
    last_relay = last_housekeeping = 0.0
    relays = Relays()
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set():
            try:
                if await lock.acquire():
                    if not leading:
                        log.info("scheduler active")
                        leading = True
                    now = loop.time()
                    sweep = now - last_relay >= RELAY_EVERY_S
                    housekeeping = now - last_housekeeping >= HOUSEKEEPING_EVERY_S
                    await tick(ctx, sweep=sweep, jobs=jobs, relays=relays, housekeeping=housekeeping)
                    if sweep:
                        last_relay = now
                    if housekeeping:
                        last_housekeeping = now
                elif leading:
                    leading = False
            except Exception:
                log.exception("scheduler tick failed")
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)
    finally:
        await lock.release()
