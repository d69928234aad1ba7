"""Event-to-browser latency: from a committed change to the agent's open tab.

    .venv/bin/python bench/live_latency.py [--events 200] [--gap-ms 50] [--sqlite]

Production path: `hub web` (uvicorn, one worker) on PostgreSQL with `HUB_REDIS_URL` set; this
script plays a worker: it commits new consultations through `hub.actions` (one email each), and
its after-commit bus pushes the notices through Redis pub/sub, as `hub worker` does. An agent is
logged in in Debian's chromium (playwright) on the queue page. For every consultation it prints:

- commit -> SSE received: the bus records the time right after the commit; the page records
  when `hub.js` receives the notice (`hub:live` event). Same machine, same clock.
- commit -> row visible in the waiting lane: the page's fragment refresh included.

Bounded: --events at most 2000. Only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.queue_api import PASSWORD, fresh_database, pct, wait_port  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/13"
SECRET = "bench-secret-key-live-0123456789"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

PAGE_PROBE = """() => {
  window.__sse = {}; window.__dom = {};
  document.addEventListener('hub:live', (e) => {
    const id = e.detail.ticket_id;
    if (id != null && !(id in window.__sse)) { window.__sse[id] = performance.timeOrigin + performance.now(); }
  });
  const lanes = document.getElementById('lanes');
  new MutationObserver(() => {
    for (const li of lanes.querySelectorAll('#lane-waiting li[data-ticket-id]')) {
      const id = li.getAttribute('data-ticket-id');
      if (!(id in window.__dom)) { window.__dom[id] = performance.timeOrigin + performance.now(); }
    }
  }).observe(lanes, {childList: true, subtree: true});
}"""


async def add_agent(db_url: str) -> None:
    from hub.context import HubContext
    from hub.db.tables import Agent
    from hub.passwords import hash_password
    from tests.conftest import make_settings

    ctx = HubContext.create(make_settings(Path("/tmp/hub-bench-live"), db_url))
    async with ctx.sessionmaker() as s:
        s.add(Agent(email="agent@bench.example", name="Bench Agent", role="agent", language="en",
                    password_hash=hash_password(PASSWORD), created_at=datetime.now(UTC)))
        await s.commit()
    await ctx.close()


async def run(port: int, db_url: str, events: int, gap: float) -> tuple[list[float], list[float]]:
    from playwright.async_api import async_playwright

    from hub.actions.messages import do_receive_message
    from hub.context import HubContext
    from hub.inbound import IdentityIn, InboundMessage
    from runtime import live, reactions
    from tests.conftest import make_settings

    settings = make_settings(Path("/tmp/hub-bench-live"), db_url, redis_url=REDIS_URL, auto_assign=False)
    ctx = HubContext.create(settings)
    committed: dict[int, float] = {}

    def record(happened):  # type: ignore[no-untyped-def]
        now = time.time() * 1000
        for event in happened:
            if getattr(event, "ticket_id", None) is not None:
                committed.setdefault(event.ticket_id, now)

    ctx.bus.listen(record)  # listeners run first: right after commit, before the push
    reactions.wire_live_only(ctx)
    live.clear_publishers()
    live.add_publisher(live.redis_publisher(REDIS_URL))
    base = f"http://127.0.0.1:{port}"
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS, headless=True)
        context = await browser.new_context(base_url=base)
        await context.add_cookies([{"name": "hub_lang", "value": "en", "url": base}])
        page = await context.new_page()
        await page.goto("/login")
        await page.fill("#email", "agent@bench.example")
        await page.fill("#password", PASSWORD)
        await page.click("button[type=submit].primary")
        await page.wait_for_url(f"{base}/")
        await page.wait_for_selector("html[data-live-ready]")
        await page.evaluate(PAGE_PROBE)
        for i in range(events):
            await do_receive_message(ctx, InboundMessage(
                channel="email", provider_id=f"<bench-{i}-{time.time_ns()}@bench.example>",
                received_at=datetime.now(UTC), body="Hola", subject=f"Consulta {i}",
                identities=[IdentityIn("email", f"citizen{i}-{time.time_ns()}@bench.example")],
            ))
            await asyncio.sleep(gap)
        await asyncio.sleep(2)
        sse = await page.evaluate("() => window.__sse")
        dom = await page.evaluate("() => window.__dom")
        await browser.close()
    await ctx.close()
    sse_lat = [sse[str(t)] - at for t, at in committed.items() if str(t) in sse]
    dom_lat = [dom[str(t)] - at for t, at in committed.items() if str(t) in dom]
    missing = len(committed) - len(sse_lat)
    if missing:
        print(f"WARNING: {missing} notices never reached the page")
    return sse_lat, dom_lat


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--gap-ms", type=float, default=50)
    parser.add_argument("--port", type=int, default=18951)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    events = max(1, min(args.events, 2000))

    import redis

    from hub.db.migrate import upgrade

    db_url = asyncio.run(fresh_database(args.postgres, "hub_bench_live"))
    upgrade(db_url)
    asyncio.run(add_agent(db_url))
    redis.Redis.from_url(REDIS_URL).flushdb()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(PYTHONPATH=str(ROOT), HUB_DATABASE_URL=db_url, HUB_SECRET_KEY=SECRET, HUB_REDIS_URL=REDIS_URL,
               HUB_LOG_LEVEL="WARNING", HUB_DATA_DIR="/tmp/hub-bench-live", HUB_PUBLIC_URL="http://127.0.0.1",
               HUB_AUTO_ASSIGN="false")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.queue_api:app_factory", "--host", "127.0.0.1",
         "--port", str(args.port), "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        wait_port(args.port, server)
        sse, dom = asyncio.run(run(args.port, db_url, events, args.gap_ms / 1000))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    print(f"{len(sse)} events, one every {args.gap_ms:.0f} ms, hub web on PostgreSQL + Redis, chromium; "
          f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    for label, values in (("commit -> SSE received in the tab", sse), ("commit -> row shown in the waiting lane", dom)):
        if values:
            print(f"{label:<42} p50 {pct(values, 50):6.1f}  p95 {pct(values, 95):6.1f}  "
                  f"p99 {pct(values, 99):6.1f}  max {max(values):6.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
