"""Actions per second for "receive a message -> ticket" on SQLite and PostgreSQL.

    .venv/bin/python bench/receive.py [--n 2000] [--concurrency 8] [--batch 0] [--inbox] [--postgres URL]

Each action is the full core path (`do_receive_message`): contact lookup or creation, ticket
open or continue, message, events, automatic welcome in the outbox, one transaction. Half of
the messages open a consultation, half continue one (the citizen answering with a name).
With `--batch N`, messages go through `do_receive_batch`, N per transaction (what the worker
does with webhooks that arrived together, and the mailbox with unrelated mails); latency is
then per batch. With `--inbox` too, the messages are first accepted into the inbox (as webhooks
do; not timed), then processed as the worker does: `do_process_inbox_batch` on N inbox ids at a
time, each sender's rows claimed in arrival order. Prints throughput and latency percentiles per
backend. What is loaded before the run is frozen out of the garbage collector's sight, as
`hub worker` does (`--no-freeze`: left to it). Nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from hub.actions.messages import do_accept_inbound, do_process_inbox_batch, do_receive_batch, do_receive_message
from hub.config import load_settings
from hub.context import HubContext
from hub.db.migrate import upgrade
from hub.inbound import IdentityIn, InboundMessage


async def run(url: str, n: int, concurrency: int, batch: int = 0, inbox: bool = False,
              freeze: bool = True) -> dict[str, float]:
    settings = load_settings(_env_file=None, database_url=url, auto_assign=False)
    ctx = HubContext.create(settings)
    if freeze:  # as `hub worker` does once started (entrypoints.cli.settle_heap)
        gc.collect()
        gc.freeze()
    run_id = uuid.uuid4().hex[:8]
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for citizen in range(n // 2):
        queue.put_nowait(citizen)

    def message(citizen: int, step: int, body: str) -> InboundMessage:
        return InboundMessage(
            channel="whatsapp", provider_id=f"SM{run_id}{citizen:08d}{step}", received_at=ctx.clock.now(),
            body=body, identities=[IdentityIn("phone", f"+34{600000000 + citizen}")],
        )

    async def batch_worker() -> None:
        # Whole citizens per batch: their two messages in order, in the same transaction.
        while True:
            group: list[InboundMessage] = []
            while len(group) < batch and not queue.empty():
                citizen = queue.get_nowait()
                group += [message(citizen, 0, "Hola"), message(citizen, 1, "Em dic Anna")]
            if not group:
                return
            t0 = time.perf_counter()
            await do_receive_batch(ctx, group)
            latencies.append(time.perf_counter() - t0)

    accepted: asyncio.Queue[int] = asyncio.Queue()
    if inbox:
        for citizen in range(n // 2):
            for step, body in enumerate(("Hola", "Em dic Anna")):
                inbox_id = await do_accept_inbound(ctx, message(citizen, step, body))
                assert inbox_id is not None
                accepted.put_nowait(inbox_id)

    async def inbox_worker() -> None:
        # Jobs of N ids in arrival order, as the web's coalescer sends them.
        while not accepted.empty():
            ids = [accepted.get_nowait() for _ in range(min(batch, accepted.qsize()))]
            t0 = time.perf_counter()
            await do_process_inbox_batch(ctx, ids)
            latencies.append(time.perf_counter() - t0)

    async def worker() -> None:
        # A citizen's two messages (the first opens, the second identifies) stay in order.
        while True:
            try:
                citizen = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            for step, body in enumerate(("Hola", "Em dic Anna")):
                msg = InboundMessage(
                    channel="whatsapp", provider_id=f"SM{run_id}{citizen:08d}{step}", received_at=ctx.clock.now(),
                    body=body, identities=[IdentityIn("phone", f"+34{600000000 + citizen}")],
                )
                t0 = time.perf_counter()
                await do_receive_message(ctx, msg)
                latencies.append(time.perf_counter() - t0)

    t0, cpu0 = time.perf_counter(), time.process_time()
    chosen = inbox_worker if inbox and batch else (batch_worker if batch else worker)
    await asyncio.gather(*(chosen() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await ctx.close()
    latencies.sort()
    q = statistics.quantiles(latencies, n=100)
    return {"actions": n, "seconds": elapsed, "per_second": n / elapsed, "p50_ms": q[49] * 1000, "p99_ms": q[98] * 1000,
            "cpu_ms": cpu / n * 1000}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--batch", type=int, default=0, help="messages per do_receive_batch (0: one by one)")
    parser.add_argument("--inbox", action="store_true", help="with --batch: through the inbox, as the worker does")
    parser.add_argument("--no-freeze", action="store_true", help="leave the loaded modules to the garbage collector"
                        " (hub worker freezes them: entrypoints.cli.settle_heap)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        upgrade(sqlite)
        targets = [] if args.skip_sqlite else [("SQLite (WAL)", sqlite)]
        if not args.skip_postgres:
            pg = _fresh_pg(args.postgres)
            targets.append(("PostgreSQL", pg))
        try:
            for name, url in targets:
                r = asyncio.run(run(url, args.n, args.concurrency, args.batch, args.inbox, not args.no_freeze))
                print(f"{name:>13}: {r['actions']} receive actions in {r['seconds']:.2f} s = {r['per_second']:.0f}/s;"
                      f" latency p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms (concurrency {args.concurrency}"
                      + (f", {args.batch} per transaction" + (", through the inbox)" if args.inbox else ")")
                         if args.batch else ")")
                      + f"; this process's CPU {r['cpu_ms']:.2f} ms per action (load {os.getloadavg()[0]:.1f})")
        finally:
            if not args.skip_postgres:
                _drop_pg(args.postgres, pg)


def _admin(base: str, sql: str) -> None:
    """One statement on the server's `postgres` database (CREATE/DROP DATABASE need autocommit)."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> None:
        engine = create_async_engine(base.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(run())


def _fresh_pg(base: str) -> str:
    name = f"hub_bench_{uuid.uuid4().hex[:6]}"
    _admin(base, f'CREATE DATABASE "{name}"')
    url = base.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    return url


def _drop_pg(base: str, url: str) -> None:
    _admin(base, f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


if __name__ == "__main__":
    main()
