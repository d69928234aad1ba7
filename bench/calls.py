"""Call logging figures on SQLite and PostgreSQL: Twilio voice callbacks folded per second, and
how long a caller lookup takes with many contacts stored.

    .venv/bin/python bench/calls.py [--calls 500] [--contacts 20000] [--concurrency 8] [--skip-postgres]

Each call sends its 3 progress signals (ringing, answered, completed) in a shuffled order, one
`do_record_call_signal` each (the webhook's work after the signature check); one call in four is
missed and opens a call-back task. The lookup is `lookup_caller` (normalise, find the contact by
its phone identity, its tickets and calls), what the log-a-call form asks on every keystroke.
Prints throughput and latency percentiles. Nothing but 127.0.0.1 is contacted; the PostgreSQL
database created for the run is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

from hub.actions.calls import do_record_call_signal, lookup_caller
from hub.calls import CallSignal, Signal
from hub.config import load_settings
from hub.context import HubContext
from hub.db.migrate import upgrade
from hub.db.tables import Contact, Identity


def _pct(values: list[float]) -> tuple[float, float]:
    values.sort()
    q = statistics.quantiles(values, n=100)
    return q[49] * 1000, q[98] * 1000


async def bench_signals(ctx: HubContext, calls: int, concurrency: int) -> str:
    rnd = random.Random(7)
    run = uuid.uuid4().hex[:6]
    t = ctx.clock.now()
    jobs: asyncio.Queue[list[CallSignal]] = asyncio.Queue()
    for i in range(calls):
        sid, number = f"CA{run}{i:06d}", f"+34{610000000 + i}"
        if i % 4 == 0:
            signals = [CallSignal(sid, Signal.RINGING, t, "inbound", number, None, 0),
                       CallSignal(sid, Signal.NO_ANSWER, t + timedelta(seconds=30), "inbound", number, 0, 1)]
        else:
            signals = [CallSignal(sid, Signal.RINGING, t, "inbound", number, None, 0),
                       CallSignal(sid, Signal.ANSWERED, t + timedelta(seconds=6), "inbound", number, None, 1),
                       CallSignal(sid, Signal.COMPLETED, t + timedelta(seconds=96), "inbound", number, 90, 2)]
        rnd.shuffle(signals)
        jobs.put_nowait(signals)
    latencies: list[float] = []

    async def worker() -> None:
        while not jobs.empty():
            for signal in jobs.get_nowait():  # one call's signals in order of arrival
                t0 = time.perf_counter()
                await do_record_call_signal(ctx, signal)
                latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - t0
    p50, p99 = _pct(latencies)
    return (f"{len(latencies)} voice callbacks ({calls} calls) in {elapsed:.2f} s = {len(latencies) / elapsed:.0f}/s;"
            f" latency p50 {p50:.1f} ms, p99 {p99:.1f} ms (concurrency {concurrency})")


async def bench_lookup(ctx: HubContext, contacts: int, lookups: int = 300) -> str:
    now = ctx.clock.now()
    ids: list[int] = []
    async with ctx.sessionmaker() as session:
        for start in range(0, contacts, 1000):
            rows = [Contact(name=f"Citizen {i}", created_at=now, updated_at=now) for i in range(start, min(contacts, start + 1000))]
            session.add_all(rows)
            await session.flush()
            session.add_all(Identity(contact_id=c.id, kind="phone", value=f"+34{622000000 + c.id}", created_at=now)
                            for c in rows)
            ids.extend(c.id for c in rows if c.id is not None)
        await session.commit()
    rnd = random.Random(11)
    latencies = []
    for _ in range(lookups):
        national = str(622000000 + rnd.choice(ids))
        t0 = time.perf_counter()
        found = await lookup_caller(ctx, f"{national[:3]} {national[3:5]} {national[5:7]} {national[7:]}")
        latencies.append(time.perf_counter() - t0)
        assert found.contact is not None
    p50, p99 = _pct(latencies)
    return f"caller lookup with {contacts} contacts: p50 {p50:.1f} ms, p99 {p99:.1f} ms ({lookups} lookups)"


async def run(url: str, calls: int, contacts: int, concurrency: int) -> list[str]:
    ctx = HubContext.create(load_settings(_env_file=None, database_url=url, auto_assign=False))
    try:
        return [await bench_signals(ctx, calls, concurrency), await bench_lookup(ctx, contacts)]
    finally:
        await ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--contacts", type=int, default=20000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
        upgrade(sqlite)
        targets = [("SQLite", sqlite, None)]
        if not args.skip_postgres:
            targets.append(("PostgreSQL", *_fresh_pg(args.postgres)))
        for name, url, drop in targets:
            try:
                for line in asyncio.run(run(url, args.calls, args.contacts, args.concurrency)):
                    print(f"{name:>10}: {line}")
            finally:
                if drop is not None:
                    drop()


def _fresh_pg(base: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"hub_bench_calls_{uuid.uuid4().hex[:6]}"
    admin = base.rsplit("/", 1)[0] + "/postgres"

    async def sql(statement: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(statement))
        await engine.dispose()

    asyncio.run(sql(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url)
    return url, lambda: asyncio.run(sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
