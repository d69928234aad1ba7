"""Does one `hub worker` keep up with a sustained stream of webhooks? The inbox backlog over time.

    .venv/bin/python bench/backlog.py [--rate 1000] [--duration 60] [--postgres URL] [--threads 8]
        [--port 18941] [--redis-db 13]

Starts `hub web`, one `hub worker` and `hub scheduler` on a fresh PostgreSQL database with
dramatiq on Redis, as in production, and a local Twilio stand-in (tests/support/fake_twilio.py)
for the welcomes the worker sends back (`HUB_TWILIO_RATE_PER_SECOND` at its maximum). Then
sends signed WhatsApp webhooks (bench/webhooks.py's generator: each a new citizen, so each
opens a consultation and queues a welcome) at a fixed rate (open loop) for `--duration`
seconds, and reads `hub_inbox_pending`'s query (`runtime.metrics`: unprocessed inbox rows)
every 0.25 s, and the outbox rows not sent yet. Prints the backlog's peak, the backlog when
the last webhook was answered, how long after that it took to reach 0 (the issue's target: 0
within 5 s) and every welcome to be sent, and the worker's CPU per processed row until both
(welcomes included). Only 127.0.0.1 is contacted; bounded by --duration (max 300 s) plus --drain.
The three processes hold up to ~100 PostgreSQL connections at their pools' peak: on a shared
server with the default max_connections (100), run it alone. Processes' logs: HUB_DATA_DIR below.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.queue_api import fresh_database  # noqa: E402
from bench.webhooks import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, load, make_requests, pct, wait_port  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/{db}"
PENDING = "SELECT count(*) FROM inbox WHERE processed_at IS NULL"  # what hub_inbox_pending reports
UNSENT = "SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')"  # welcomes not sent yet


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def watch(url: str, stop: asyncio.Event, samples: list[tuple[float, int, int, int]], t0: float) -> None:
    """(seconds since t0, pending rows, all rows, unsent outbox rows) every 0.25 s until `stop`."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url, pool_size=1)
    try:
        async with engine.connect() as conn:
            while not stop.is_set():
                pending = int((await conn.execute(text(PENDING))).scalar() or 0)
                total = int((await conn.execute(text("SELECT count(*) FROM inbox"))).scalar() or 0)
                unsent = int((await conn.execute(text(UNSENT))).scalar() or 0)
                await conn.commit()
                samples.append((time.perf_counter() - t0, pending, total, unsent))
                try:
                    await asyncio.wait_for(stop.wait(), 0.25)
                except asyncio.TimeoutError:
                    pass
    finally:
        await engine.dispose()


async def run(port: int, url: str, requests: list[tuple[bytes, str]], rate: float, duration: float,
              drain: float) -> dict[str, object]:
    samples: list[tuple[float, int, int, int]] = []
    stop = asyncio.Event()
    t0 = time.perf_counter()
    watcher = asyncio.create_task(watch(url, stop, samples, t0))
    result = await load(port, requests, rate, duration)
    answered_at = time.perf_counter() - t0
    # Wait for the backlog to reach 0 and every welcome to be sent (or give up after `drain` seconds).
    while time.perf_counter() - t0 < answered_at + drain:
        await asyncio.sleep(0.25)
        if samples and samples[-1][0] > answered_at and samples[-1][1] == 0 and samples[-1][3] == 0:
            break
    stop.set()
    await watcher
    return {**result, "samples": samples, "answered_at": answered_at}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000, help="webhooks per second (default 1000)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (default 60, max 300)")
    parser.add_argument("--drain", type=float, default=60, help="seconds to wait for the backlog to clear")
    parser.add_argument("--threads", type=int, default=8, help="the worker's threads (hub worker --threads)")
    parser.add_argument("--port", type=int, default=18941,
                        help="hub web's port; also names the database and the data directory (two runs on one box)")
    parser.add_argument("--redis-db", type=int, default=13, help="the Redis database the broker uses (flushed)")
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    duration = min(args.duration, 300.0)

    import redis

    from hub.db.migrate import upgrade
    from tests.support.fake_twilio import FakeTwilio

    redis_url = REDIS_URL.format(db=args.redis_db)
    import socket

    with socket.socket() as probe:  # another run (or another bench) on this port would answer instead
        if probe.connect_ex(("127.0.0.1", args.port)) == 0:
            raise SystemExit(f"port {args.port} is taken: choose another with --port")
    db_url = asyncio.run(fresh_database(args.postgres, f"hub_bench_backlog_{args.port}"))
    upgrade(db_url)
    redis.Redis.from_url(redis_url).flushdb()
    print(f"preparing {int(args.rate * duration)} distinct signed webhooks ...", flush=True)
    requests = make_requests(int(args.rate * duration))
    twilio = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        PYTHONPATH=str(ROOT), HUB_DATABASE_URL=db_url, HUB_BROKER_URL=redis_url, HUB_PUBLIC_URL=PUBLIC_URL,
        HUB_SECRET_KEY="bench-secret-key-0123456789abcdef", HUB_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        HUB_TWILIO_AUTH_TOKEN=AUTH_TOKEN, HUB_TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
        HUB_TWILIO_API_URL=twilio.url, HUB_TWILIO_RATE_PER_SECOND="2000",
        HUB_LOG_LEVEL="WARNING", HUB_DATA_DIR=f"/tmp/hub-bench-backlog-{args.port}",
    )
    hub = str(Path(sys.executable).with_name("hub"))
    processes: list[subprocess.Popen[bytes]] = []

    logs = Path(env["HUB_DATA_DIR"])
    logs.mkdir(parents=True, exist_ok=True)

    def start(*argv: str) -> subprocess.Popen[bytes]:
        with open(logs / f"{argv[0]}.log", "wb") as log:  # read them if something looks wrong
            proc = subprocess.Popen([hub, *argv], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        processes.append(proc)
        return proc

    try:
        web = start("web", "--host", "127.0.0.1", "--port", str(args.port))
        worker = start("worker", "--threads", str(args.threads))
        start("scheduler")  # as deployed: it re-enqueues inbox rows whose job was lost
        wait_port(args.port, web)
        time.sleep(2.0)  # the worker connected to the broker
        asyncio.run(load(args.port, make_requests(200), 100, 2))  # warm-up (pools, imports)
        time.sleep(2.0)
        cpu0 = cpu_seconds(worker.pid)
        print(f"load: {args.rate:.0f}/s for {duration:.0f} s; one hub worker ({args.threads} threads) ...", flush=True)
        result = asyncio.run(run(args.port, db_url, requests, args.rate, duration, args.drain))
        worker_cpu = cpu_seconds(worker.pid) - cpu0
        if worker.poll() is not None:
            print(f"the worker exited: see {logs / 'worker.log'}")
    finally:
        for proc in processes:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for proc in processes:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        twilio.stop()
        redis.Redis.from_url(redis_url).flushdb()

    samples: list[tuple[float, int, int, int]] = result["samples"]  # type: ignore[assignment]
    lat: list[float] = result["latencies"]  # type: ignore[assignment]
    answered_at: float = result["answered_at"]  # type: ignore[assignment]
    at_end = next((p for t, p, _, _ in samples if t >= answered_at), samples[-1][1] if samples else -1)
    cleared = next((t for t, p, _, _ in samples if t >= answered_at and p == 0), None)
    sent = next((t for t, _, _, u in samples if t >= answered_at and u == 0), None)
    rows = samples[-1][2] - samples[0][2] + samples[0][1] if samples else 0
    print()
    print(f"webhooks sent         {result['sent']} (arrivals over {result['arrival_window']:.1f} s)")
    print(f"answered 200          {len(lat)}   errors {result['errors'] or 'none'}   p99 {pct(lat, 99) * 1000:.1f} ms")
    print(f"backlog peak          {max((p for _, p, _, _ in samples), default=0)} rows")
    print(f"backlog at last 200   {at_end} rows")
    if cleared is None:
        print(f"backlog cleared       NOT within {args.drain:.0f} s of the last answer (still {samples[-1][1]} rows)")
    else:
        verdict = "target met" if cleared - answered_at <= 5 else "target (5 s) missed"
        print(f"backlog cleared       {max(0.0, cleared - answered_at):.1f} s after the last answer ({verdict})")
    print(f"worker CPU            {worker_cpu:.1f} s, {worker_cpu / max(rows, 1) * 1000:.2f} ms per inbox row "
          f"({rows} rows; includes sending the welcomes)")
    if sent is None:
        print(f"welcomes sent         NOT within {args.drain:.0f} s of the last answer (still {samples[-1][3]} unsent)")
    else:
        print(f"welcomes sent         all {max(0.0, sent - answered_at):.1f} s after the last answer "
              f"(unsent peak {max((u for _, _, _, u in samples), default=0)})")
    print("backlog every 5 s     " + " ".join(f"{t:.0f}s:{p}" for t, p, _, _ in samples[::20]))
    print("unsent every 5 s      " + " ".join(f"{t:.0f}s:{u}" for t, _, _, u in samples[::20]))
    print(f"load average          {os.getloadavg()[0]:.1f} (2 cores; above 2 the figures are not the code's)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
