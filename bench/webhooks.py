"""Signed inbound WhatsApp webhooks per second, and their latency, against the web process.

    .venv/bin/python bench/webhooks.py [--rate 1000] [--duration 60] [--workers 2] [--postgres URL]

Starts the web app (uvicorn running `entrypoints.web.create_app`, what `hub web` serves, with
`--workers` processes on one port) on a fresh PostgreSQL database, with dramatiq on Redis as in
production (nothing consumes the queue: this measures the webhook alone). The load generator
(same machine) sends Twilio-signed forms, each with its own MessageSid (Litestar caches form
parsing, so replayed bodies would flatter the figures), at a fixed arrival rate (open loop:
a slow answer does not slow the arrivals down). Every 200 means the row was committed; the
script checks the inbox holds exactly as many rows as 200s. Prints achieved rate, p50/p90/
p99/max latency and errors. Bounded by --duration; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.queue_api import fresh_database  # noqa: E402

ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token-0123456789abcdef"
PUBLIC_URL = "https://hub.example.org"
PATH = "/webhooks/twilio/whatsapp"
REDIS_URL = "redis://127.0.0.1:6379/14"


def app_factory():  # type: ignore[no-untyped-def]
    """What `hub web` serves, built from the HUB_* environment (uvicorn --factory)."""
    from entrypoints.bootstrap import settle_heap
    from entrypoints.web import create_app
    from hub.config import load_settings

    app = create_app(load_settings())
    settle_heap()  # as `hub web` does (entrypoints.cli._serve)
    return app


def make_requests(n: int) -> list[tuple[bytes, str]]:
    from twilio.request_validator import RequestValidator

    validator = RequestValidator(AUTH_TOKEN)
    out = []
    run = uuid.uuid4().hex[:6]
    for i in range(n):
        sid = f"SM{run}{i:026x}"
        number = f"+346{i % 10_000_000:08d}"
        form = {
            "SmsMessageSid": sid, "NumMedia": "0", "ProfileName": f"Citizen {i}", "MessageType": "text",
            "SmsSid": sid, "WaId": number[1:], "SmsStatus": "received", "Body": f"Hola, missatge {i}",
            "To": "whatsapp:+14155238886", "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid,
            "AccountSid": ACCOUNT_SID, "From": f"whatsapp:{number}", "ApiVersion": "2010-04-01",
        }
        out.append((urlencode(form).encode(), validator.compute_signature(PUBLIC_URL + PATH, form)))
    return out


async def load(port: int, requests: list[tuple[bytes, str]], rate: float, duration: float) -> dict[str, object]:
    import aiohttp

    url = f"http://127.0.0.1:{port}{PATH}"
    latencies: list[float] = []
    errors: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=256)
    timeout = aiohttp.ClientTimeout(total=15)  # Twilio gives up after 15 s
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(body: bytes, signature: str) -> None:
            headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature}
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers, timeout=timeout) as response:
                    await response.read()
                    status = response.status
            except Exception as exc:  # connection refused, reset, ...
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
            if status == 200:
                latencies.append(time.perf_counter() - started)
            else:
                errors[f"HTTP {status}"] = errors.get(f"HTTP {status}", 0) + 1

        tasks: set[asyncio.Task[None]] = set()
        start = time.perf_counter()
        sent = 0
        total = min(len(requests), int(rate * duration))
        while sent < total:
            due = start + sent / rate
            now = time.perf_counter()
            if due > now:
                await asyncio.sleep(due - now)
            # Send everything that is due (the loop may wake late under load).
            now = time.perf_counter()
            while sent < total and start + sent / rate <= now:
                task = asyncio.create_task(one(*requests[sent]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                sent += 1
        arrivals_end = time.perf_counter()
        if tasks:
            await asyncio.wait(tasks, timeout=20)
        end = time.perf_counter()
        unanswered = len(tasks)
        for task in list(tasks):
            task.cancel()
    if unanswered:
        errors["still waiting at the end"] = unanswered
    return {"sent": sent, "latencies": latencies, "errors": errors, "elapsed": end - start,
            "arrival_window": arrivals_end - start}


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def count_inbox(url: str) -> int:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT count(*) FROM inbox"))).scalar() or 0)
    finally:
        await engine.dispose()


def server_cpu(pid: int) -> str:
    """CPU seconds used so far by the server processes (to tell a busy server from a waiting one)."""
    out = subprocess.run(["ps", "-o", "pid=,ppid=,time=,args=", "-g", str(pid)], capture_output=True, text=True)
    return "; ".join(" ".join(line.split()[:3]) for line in out.stdout.splitlines() if "uvicorn" in line or "multiprocessing" in line)


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the web server exited: {proc.stderr.read().decode() if proc.stderr else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the web server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=1000, help="arrivals per second (default 1000)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of load (default 60, max 300)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (default 2)")
    parser.add_argument("--port", type=int, default=18931)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    duration = min(args.duration, 300.0)

    import redis

    from hub.db.migrate import upgrade

    db_url = asyncio.run(fresh_database(args.postgres, "hub_bench_webhooks"))
    upgrade(db_url)
    redis.Redis.from_url(REDIS_URL).flushdb()
    print(f"preparing {int(args.rate * duration)} distinct signed webhooks ...", flush=True)
    requests = make_requests(int(args.rate * duration))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        PYTHONPATH=str(ROOT), HUB_DATABASE_URL=db_url, HUB_BROKER_URL=REDIS_URL, HUB_PUBLIC_URL=PUBLIC_URL,
        HUB_SECRET_KEY="bench-secret-key-0123456789abcdef", HUB_TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        HUB_TWILIO_AUTH_TOKEN=AUTH_TOKEN, HUB_TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
        HUB_LOG_LEVEL="WARNING", HUB_DATA_DIR="/tmp/hub-bench-webhooks",
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.webhooks:app_factory", "--host", "127.0.0.1",
         "--port", str(args.port), "--workers", str(args.workers), "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        wait_port(args.port, server)
        time.sleep(1.0 + args.workers * 0.5)  # every worker process up
        asyncio.run(load(args.port, make_requests(200), 100, 2))  # warm-up (pools, imports)
        warm = asyncio.run(count_inbox(db_url))
        print(f"load: {args.rate:.0f}/s for {duration:.0f} s against {args.workers} uvicorn workers ...", flush=True)
        result = asyncio.run(load(args.port, requests, args.rate, duration))
        stored = asyncio.run(count_inbox(db_url)) - warm
        cpu = server_cpu(server.pid)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        redis.Redis.from_url(REDIS_URL).flushdb()

    lat: list[float] = result["latencies"]  # type: ignore[assignment]
    ok = len(lat)
    print()
    print(f"requests sent        {result['sent']}  (arrivals over {result['arrival_window']:.1f} s)")
    print(f"answered 200         {ok}   errors {result['errors'] or 'none'}")
    # Every 200 must have its row; rows without a 200 are requests the client gave up on.
    verdict = "every 200 has its row" if stored >= ok else "ROWS MISSING FOR SOME 200s"
    print(f"committed rows       {stored}  ({verdict})")
    print(f"throughput           {ok / result['elapsed']:.0f}/s  (answers / wall time incl. drain)")
    print(f"latency p50          {pct(lat, 50) * 1000:.1f} ms")
    print(f"latency p90          {pct(lat, 90) * 1000:.1f} ms")
    print(f"latency p99          {pct(lat, 99) * 1000:.1f} ms")
    print(f"latency max          {max(lat) * 1000 if lat else float('nan'):.1f} ms")
    print(f"server processes     pid ppid cpu-time: {cpu}")
    print(f"load average         {os.getloadavg()[0]:.1f} (2 cores; above 2 the figures are not the code's)")
    print(f"latency mean         {statistics.fmean(lat) * 1000 if lat else float('nan'):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
