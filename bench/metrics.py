"""How much a /metrics scrape costs the database at size: the database-derived gauges on a
PostgreSQL database with many tickets, messages and outbox rows.

    .venv/bin/python bench/metrics.py [--tickets 1000000] [--open 5000] [--timers 100000]

Seeds a fresh database with generate_series (closed tickets with one inbound and one delivered
outbound message each, `--open` tickets waiting, `--timers` unidentified tickets with a
pending reminder, a few hundred undelivered and failed outbox rows), then times
`runtime.metrics.refresh` without its cache and prints the figures. The database is dropped at
the end.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from hub.config import load_settings  # noqa: E402
from hub.context import HubContext  # noqa: E402
from hub.db.migrate import upgrade  # noqa: E402
from runtime import metrics  # noqa: E402

BASE = "postgresql+asyncpg://postgres@127.0.0.1:5432"

SEED = [
    """INSERT INTO contacts (name, display_hint, language, created_at, updated_at)
       SELECT 'Citizen ' || g, '', 'ca', now(), now() FROM generate_series(1, :n) g""",
    # Closed history, then waiting tickets, then unidentified ones with a reminder timer.
    """INSERT INTO tickets (contact_id, channel, kind, status, priority, subject, created_at, updated_at,
                            queued_at, resolved_at, version)
       SELECT g, CASE WHEN g % 3 = 0 THEN 'email' ELSE 'whatsapp' END, 'consultation', 'resolved', 0, '',
              now() - (g || ' seconds')::interval, now(), now() - (g || ' seconds')::interval, now(), 1
       FROM generate_series(1, :n - :open - :timers) g""",
    """INSERT INTO tickets (contact_id, channel, kind, status, priority, subject, created_at, updated_at,
                            queued_at, version)
       SELECT g, 'whatsapp', 'consultation', 'waiting', 0, '', now() - interval '1 hour',
              now(), now() - ((g % 3600) || ' seconds')::interval, 1
       FROM generate_series(:n - :open - :timers + 1, :n - :timers) g""",
    """INSERT INTO tickets (contact_id, channel, kind, status, priority, subject, created_at, updated_at,
                            due_at, due_kind, version)
       SELECT g, 'whatsapp', 'consultation', 'identifying', 0, '', now(), now(),
              now() + ((g % 1200) || ' seconds')::interval, 'reminder', 1
       FROM generate_series(:n - :timers + 1, :n) g""",
    """INSERT INTO messages (ticket_id, contact_id, channel, direction, kind, body, body_html, status, meta,
                             created_at)
       SELECT t.id, t.contact_id, t.channel, d.direction, 'text', 'Hola', '',
              CASE d.direction WHEN 'in' THEN 'received' ELSE 'sent' END, '{}'::jsonb, t.created_at
       FROM tickets t CROSS JOIN (VALUES ('in'), ('out')) AS d(direction)""",
    """INSERT INTO outbox (message_id, channel, status, attempts, next_attempt_at, created_at, sent_at)
       SELECT m.id, m.channel,
              CASE WHEN m.id % 5000 = 0 THEN 'pending' WHEN m.id % 7919 = 0 THEN 'failed' ELSE 'sent' END,
              1, m.created_at, m.created_at, m.created_at
       FROM messages m WHERE m.direction = 'out'""",
    "UPDATE messages SET error_code = '63016', status = 'failed' "
    "WHERE id IN (SELECT message_id FROM outbox WHERE status = 'failed')",
    "ANALYZE",
]


def _index_of(node: dict) -> str:
    """The first index a plan reads, if any (to show no query scans a whole table)."""
    if "Index Name" in node:
        return str(node["Index Name"])
    for child in node.get("Plans", []):
        found = _index_of(child)
        if found:
            return found
    return ""


async def main(args: argparse.Namespace) -> None:
    name = f"hub_bench_metrics_{uuid.uuid4().hex[:6]}"
    admin = create_async_engine(f"{BASE}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{BASE}/{name}"
    try:
        await asyncio.to_thread(upgrade, url)
        started = time.perf_counter()
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            for sql in SEED:  # plain integers, inlined: asyncpg cannot type `$1 - $2` in generate_series
                sql = sql.replace(":open", str(args.open)).replace(":timers", str(args.timers))
                await conn.execute(text(sql.replace(":n", str(args.tickets))))
        await engine.dispose()
        print(f"seeded {args.tickets:,} tickets ({args.open:,} waiting, {args.timers:,} with a timer), "
              f"{2 * args.tickets:,} messages in {time.perf_counter() - started:.1f} s")
        ctx = HubContext.create(load_settings(_env_file=None, database_url=url))
        try:
            timings = []
            for _ in range(args.rounds):
                metrics._refreshed_at = 0.0  # no cache: every round reads the database
                began = time.perf_counter()
                await metrics.refresh(ctx)
                timings.append((time.perf_counter() - began) * 1000)
            timings.sort()
            print(f"metrics refresh (uncached), {args.rounds} rounds: median {statistics.median(timings):.1f} ms, "
                  f"p95 {timings[int(len(timings) * 0.95) - 1]:.1f} ms, max {timings[-1]:.1f} ms")
            print(f"  queue length {metrics.QUEUE_LENGTH.labels('whatsapp')._value.get():.0f}, "
                  f"outbox pending {sum(s.value for s in metrics.OUTBOX_DEPTH.collect()[0].samples):.0f}, "
                  f"failures {sum(s.value for s in metrics.DELIVERY_FAILURES.collect()[0].samples):.0f}, "
                  f"db errors {metrics.SCRAPE_ERRORS._value.get():.0f}")
            # Where the time goes: each query's own execution time as PostgreSQL measures it.
            from datetime import UTC, datetime, timedelta

            now = datetime.now(UTC)
            params = {"now": now, "late": now - timedelta(seconds=2), "after": 0, "top": 1000}
            async with ctx.engine.connect() as conn:
                for key, sql in metrics.QUERIES.items():
                    used = {k: v for k, v in params.items() if f":{k}" in sql}
                    plan = (await conn.execute(text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), used)).scalar()
                    top_node = plan[0]["Plan"]
                    print(f"  {key:<13} {plan[0]['Execution Time']:7.2f} ms  {top_node['Node Type']}"
                          f"{' on ' + _index_of(top_node) if _index_of(top_node) else ''}")
        finally:
            await ctx.close()
    finally:
        async with admin.connect() as conn:
            await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=5_000)
    parser.add_argument("--timers", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
