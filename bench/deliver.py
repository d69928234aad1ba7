"""Outbox rows -> Twilio sends per second, and the CPU each costs the worker's event loop.

    .venv/bin/python bench/deliver.py [--n 2000] [--concurrency 8] [--batch 0] [--postgres URL]
        [--skip-sqlite] [--skip-postgres]

Queues `--n` welcomes (new citizens writing "Hola", through `do_receive_batch`, not timed), then
delivers them through the worker's path to a local Twilio stand-in (tests/support/fake_twilio.py,
answering at once, in threads of this process): with `--batch 0` one `do_deliver` per outbox row
(`--concurrency` at a time, as `hub worker`'s threads do), else `do_deliver_many` on jobs of
`--batch` rows in id order (`--concurrency` jobs at a time, as the worker takes the jobs of
several commits). Every row must end `sent`. Prints sends per second and the event loop
thread's CPU per row (`time.thread_time`: the fake's threads are not counted), per backend.
Nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.receive import _drop_pg, _fresh_pg  # noqa: E402
from hub.db.migrate import upgrade  # noqa: E402


async def run(url: str, n: int, concurrency: int, batch: int, twilio_url: str, sid: str, token: str) -> dict[str, float]:
    from sqlalchemy import text

    from channels.whatsapp.config import WhatsAppSettings
    from channels.whatsapp.sender import TwilioSender
    from hub.actions import deliver
    from hub.actions.messages import do_receive_batch
    from hub.config import load_settings
    from hub.context import HubContext
    from hub.delivery import register_sender
    from hub.inbound import IdentityIn, InboundMessage

    settings = load_settings(_env_file=None, database_url=url, auto_assign=False, public_url="https://hub.example.org")
    ctx = HubContext.create(settings)
    twilio = WhatsAppSettings(_env_file=None, twilio_account_sid=sid, twilio_auth_token=token,  # type: ignore[call-arg]
                              twilio_whatsapp_from="whatsapp:+14155238886", twilio_api_url=twilio_url,
                              twilio_rate_per_second=2000)
    sender = TwilioSender(settings, twilio)
    register_sender("whatsapp", sender)
    run_id = os.urandom(4).hex()
    for start in range(0, n, 200):
        await do_receive_batch(ctx, [InboundMessage(
            channel="whatsapp", provider_id=f"SM{run_id}{c:08d}", received_at=ctx.clock.now(), body="Hola",
            identities=[IdentityIn("phone", f"+34{700000000 + c}")],
        ) for c in range(start, min(n, start + 200))])
    async with ctx.engine.connect() as conn:
        ids = list((await conn.execute(text("SELECT id FROM outbox WHERE status = 'pending' ORDER BY id"))).scalars())
    assert len(ids) == n, (len(ids), n)
    gc.collect()
    gc.freeze()  # as `hub worker` does once started
    queue: asyncio.Queue[list[int]] = asyncio.Queue()
    step = batch or 1
    for start in range(0, n, step):
        queue.put_nowait(ids[start:start + step])

    async def worker() -> None:
        while not queue.empty():
            job = queue.get_nowait()
            if batch:
                await deliver.do_deliver_many(ctx, job)
            else:
                await deliver.do_deliver(ctx, job[0])

    t0, cpu0 = time.perf_counter(), time.thread_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - t0, time.thread_time() - cpu0
    async with ctx.engine.connect() as conn:
        sent = (await conn.execute(text("SELECT count(*) FROM outbox WHERE status = 'sent'"))).scalar()
    await sender.close()
    await ctx.close()
    assert sent == n, f"{sent} of {n} sent"
    return {"seconds": elapsed, "per_second": n / elapsed, "cpu_ms": cpu / n * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--batch", type=int, default=0, help="rows per do_deliver_many job (0: do_deliver per row)")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    from tests.support.fake_twilio import FakeTwilio

    fake = FakeTwilio().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            targets = []
            if not args.skip_sqlite:
                sqlite = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
                upgrade(sqlite)
                targets.append(("SQLite (WAL)", sqlite))
            pg = _fresh_pg(args.postgres) if not args.skip_postgres else ""
            if pg:
                targets.append(("PostgreSQL", pg))
            try:
                for name, url in targets:
                    r = asyncio.run(run(url, args.n, args.concurrency, args.batch, fake.url, fake.account_sid,
                                        fake.auth_token))
                    how = f"jobs of {args.batch}, do_deliver_many" if args.batch else "one do_deliver per row"
                    print(f"{name:>13}: {args.n} sends in {r['seconds']:.2f} s = {r['per_second']:.0f}/s "
                          f"({how}, {args.concurrency} at a time); event loop CPU {r['cpu_ms']:.2f} ms per row "
                          f"(load {os.getloadavg()[0]:.1f})")
            finally:
                if pg:
                    _drop_pg(args.postgres, pg)
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
