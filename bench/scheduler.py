"""What the scheduler costs with many pending timers (PostgreSQL): a timer pass with nothing
due, a pass that fires one due timer, and a sweep (which also follows the office calendar).

    .venv/bin/python bench/scheduler.py [--tickets 110000] [--open 5000] [--timers 100000] [--rounds 50]

Seeds a fresh database like bench/metrics.py (`--timers` unidentified WhatsApp tickets whose
reminder is due within the next 20 minutes), then times `runtime.scheduler.tick` and prints
the figures. The database is dropped at the end. PRODUCT.md §6: timers fire within 2 s of due
time; 100,000 pending timers cost nothing until due.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bench.metrics import BASE, SEED  # noqa: E402
from hub.config import load_settings  # noqa: E402
from hub.context import HubContext  # noqa: E402
from hub.db.migrate import upgrade  # noqa: E402
from runtime.scheduler import tick  # noqa: E402


def _figures(label: str, timings: list[float]) -> None:
    timings.sort()
    print(f"{label}: median {statistics.median(timings):.1f} ms, "
          f"p95 {timings[max(0, int(len(timings) * 0.95) - 1)]:.1f} ms, max {timings[-1]:.1f} ms")


async def main(args: argparse.Namespace) -> None:
    name = f"hub_bench_scheduler_{uuid.uuid4().hex[:6]}"
    admin = create_async_engine(f"{BASE}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{BASE}/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        started = time.perf_counter()
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            for sql in SEED:
                sql = sql.replace(":open", str(args.open)).replace(":timers", str(args.timers))
                await conn.execute(text(sql.replace(":n", str(args.tickets))))
            # Nothing due yet: the earliest timer is a minute away.
            await conn.execute(text("UPDATE tickets SET due_at = now() + interval '1 minute' + (id % 1200) * interval '1 second'"
                                    " WHERE due_at IS NOT NULL"))
        print(f"seeded {args.tickets:,} tickets, {args.timers:,} pending timers in {time.perf_counter() - started:.1f} s")
        ctx = HubContext.create(load_settings(_env_file=None, database_url=url, office_hours="mon-fri 08:30-14:30"))
        try:
            idle = []
            for _ in range(args.rounds):
                began = time.perf_counter()
                counts = await tick(ctx, sweep=False)
                idle.append((time.perf_counter() - began) * 1000)
                assert counts["fired"] == 0
            _figures(f"timer pass, nothing due ({args.timers:,} pending)", idle)
            firing = []
            for _ in range(min(args.rounds, 20)):
                async with engine.begin() as conn:
                    await conn.execute(text(
                        "UPDATE tickets SET due_at = now() - interval '1 second' WHERE id = ("
                        "SELECT id FROM tickets WHERE status = 'identifying' AND due_kind = 'reminder' "
                        "AND due_at > now() ORDER BY id LIMIT 1)"))
                began = time.perf_counter()
                counts = await tick(ctx, sweep=False)
                firing.append((time.perf_counter() - began) * 1000)
                assert counts["fired"] == 1, counts
            _figures("timer pass firing one due reminder", firing)
            sweeps = []
            await tick(ctx, sweep=True)  # the first sweep also rolls up past days
            for _ in range(min(args.rounds, 10)):
                began = time.perf_counter()
                await tick(ctx, sweep=True)
                sweeps.append((time.perf_counter() - began) * 1000)
            _figures("sweep (relays, office calendar, roll-ups, retention)", sweeps)
            print(f"  scheduler interval {ctx.settings.scheduler_interval.total_seconds():.1f} s; "
                  f"bound 2 s: {'met' if max(firing) + ctx.settings.scheduler_interval / timedelta(milliseconds=1) < 2000 else 'NOT met'}")
        finally:
            await ctx.close()
            await engine.dispose()
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=110_000)
    parser.add_argument("--open", type=int, default=5_000)
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
