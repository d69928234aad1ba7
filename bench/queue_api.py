"""Queue and ticket-list API latency with 1,000,000 tickets stored and 5,000 open (PostgreSQL).

    .venv/bin/python bench/queue_api.py [--tickets 1000000] [--open 5000] [--requests 400]
                                        [--concurrency 4] [--keep]

Fills a fresh PostgreSQL database with set-based SQL (generate_series: contacts with an
identity each, a million tickets over a year, `--open` of them open: waiting, identifying,
assigned, pending), VACUUM ANALYZEs it, starts the web process (`hub web`: uvicorn serving
`entrypoints.web.create_app`, one worker), obtains an API token and measures each endpoint with
`--concurrency` clients sending `--requests` requests (closed loop, after a warm-up). Prints
p50/p95/p99/max per endpoint and the web process's RSS. Only 127.0.0.1 is contacted.
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

SECRET = "bench-secret-key-queue-0123456789"
PASSWORD = "bench-password-123"


def app_factory():  # type: ignore[no-untyped-def]
    from entrypoints.web import create_app
    from hub.config import load_settings

    return create_app(load_settings())


FILL = """
INSERT INTO agents (email, name, password_hash, role, presence, capacity, active, language, created_at)
SELECT 'agent' || g || '@bench.example', 'Agent ' || g, :hash, CASE WHEN g = 1 THEN 'manager' ELSE 'agent' END,
       'available', 400, true, 'ca', now()
FROM generate_series(1, 20) g;

INSERT INTO contacts (name, display_hint, language, created_at, updated_at)
SELECT 'Citizen ' || g, '', 'ca', now(), now() FROM generate_series(1, :contacts) g;

INSERT INTO identities (contact_id, kind, value, created_at)
SELECT id, CASE WHEN id % 2 = 0 THEN 'email' ELSE 'phone' END,
       CASE WHEN id % 2 = 0 THEN 'c' || id || '@bench.example' ELSE '+34' || (600000000 + id) END, now()
FROM contacts;

INSERT INTO tickets (reference, contact_id, channel, kind, status, priority, subject, assignee_id, created_at,
                     updated_at, queued_at, identified_at, resolved_at, closed_at, last_inbound_at,
                     last_activity_at, version)
SELECT 'OAC-2025-' || lpad(g::text, 7, '0'),
       1 + (g % :contacts),
       CASE WHEN st = 'identifying' THEN 'whatsapp' ELSE (ARRAY['whatsapp', 'email', 'phone'])[1 + g % 3] END,
       'consultation', st, 0, 'Consulta ' || g,
       CASE WHEN st IN ('assigned', 'pending') THEN 1 + g % 20 END,
       ts, ts, CASE WHEN st <> 'identifying' THEN ts END, CASE WHEN st <> 'identifying' THEN ts END,
       CASE WHEN st = 'resolved' THEN ts + interval '1 hour' END,
       CASE WHEN st IN ('resolved', 'closed_unidentified') THEN ts + interval '1 hour' END,
       ts, ts, 1
FROM (
    SELECT g, timestamptz '2025-06-01 00:00+00' + g * interval '30 seconds' AS ts,
           CASE WHEN g <= :tickets - :open THEN (CASE WHEN g % 40 = 0 THEN 'closed_unidentified' ELSE 'resolved' END)
                ELSE (ARRAY['waiting', 'waiting', 'waiting', 'identifying', 'assigned', 'pending'])[1 + g % 6] END AS st
    FROM generate_series(1, :tickets) g
) s;

INSERT INTO messages (ticket_id, contact_id, channel, direction, kind, body, body_html, status, meta, created_at)
SELECT t.id, t.contact_id, t.channel, 'in', 'text', 'Hola, necessito ajuda amb el tràmit ' || t.id, '', 'received',
       '{}'::jsonb, t.created_at
FROM tickets t WHERE t.id > :tickets - :open * 4;
"""


async def fresh_database(base: str, name: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    admin = create_async_engine(base.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return base.rsplit("/", 1)[0] + f"/{name}"


async def fill(url: str, tickets: int, open_: int) -> float:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from hub.passwords import hash_password

    engine = create_async_engine(url)
    started = time.perf_counter()
    params = {"hash": hash_password(PASSWORD), "tickets": tickets, "open": open_, "contacts": max(1000, tickets // 4)}
    async with engine.begin() as conn:
        for statement in filter(None, (s.strip() for s in FILL.split(";"))):
            needed = {k: v for k, v in params.items() if f":{k}" in statement}
            await conn.execute(text(statement), needed)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        # What autovacuum does to a table that grew over months: statistics, and the GIN (name
        # search) indexes' pending lists merged, which a bulk fill leaves long and slow to read.
        await conn.execute(text("VACUUM ANALYZE"))
    await engine.dispose()
    return time.perf_counter() - started


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def measure(port: int, paths: list[tuple[str, str]], requests: int, concurrency: int) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
        got = await client.post("/api/v1/auth/token", json={"email": "agent2@bench.example", "password": PASSWORD})
        got.raise_for_status()
        headers = {"authorization": f"Bearer {got.json()['token']}"}
        print(f"{'endpoint':<58} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  req/s  (ms, {concurrency} clients)")
        for label, path in paths:
            for _ in range(20):  # warm-up: pools, caches, plans
                (await client.get(path, headers=headers)).raise_for_status()
            latencies: list[float] = []
            todo = iter(range(requests))

            async def worker() -> None:
                for _ in todo:
                    t0 = time.perf_counter()
                    answer = await client.get(path, headers=headers)
                    latencies.append(time.perf_counter() - t0)
                    if answer.status_code != 200:
                        raise SystemExit(f"{path}: HTTP {answer.status_code} {answer.text[:200]}")

            t0 = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - t0
            ms = [x * 1000 for x in latencies]
            print(f"{label:<58} {pct(ms, 50):7.1f} {pct(ms, 95):7.1f} {pct(ms, 99):7.1f} {max(ms):7.1f} "
                  f"{len(ms) / elapsed:6.0f}", flush=True)


LONG_TIMELINE = 200  # messages of the ticket whose timeline is measured


async def long_ticket(url: str) -> int:
    """A pending ticket with LONG_TIMELINE messages (citizen's, replies by its agent, notes),
    made once: the timeline measured is an agent's long conversation, not a one-liner."""
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.begin() as conn:
        ticket_id, have = (await conn.execute(text(
            "SELECT t.id, (SELECT count(*) FROM messages m WHERE m.ticket_id = t.id) FROM tickets t"
            " WHERE t.status = 'pending' ORDER BY t.id LIMIT 1"))).one()
        if have < LONG_TIMELINE:
            await conn.execute(text("""
                INSERT INTO messages (ticket_id, contact_id, channel, direction, kind, body, body_html, status,
                                      author_agent_id, meta, created_at)
                SELECT t.id, t.contact_id, t.channel, d.direction, 'text',
                       'Missatge ' || g || ' sobre el tràmit ' || t.id, '', CASE WHEN d.direction = 'out' THEN 'delivered' ELSE 'received' END,
                       CASE WHEN d.direction = 'in' THEN NULL ELSE t.assignee_id END, '{}'::jsonb,
                       t.created_at + g * interval '1 minute'
                FROM tickets t, generate_series(1, :n) g,
                     LATERAL (SELECT (ARRAY['in', 'out', 'in', 'note'])[1 + g % 4] AS direction) d
                WHERE t.id = :id"""), {"id": ticket_id, "n": LONG_TIMELINE - have})
    await engine.dispose()
    return int(ticket_id)


async def sample(url: str) -> dict[str, object]:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    async with engine.connect() as conn:
        counts = dict((await conn.execute(text("SELECT status, count(*) FROM tickets GROUP BY status"))).all())
        open_id = (await conn.execute(text("SELECT max(id) FROM tickets WHERE status = 'pending'"))).scalar()
        mid = (await conn.execute(text("SELECT max(id) / 2 FROM tickets"))).scalar()
    await engine.dispose()
    return {"counts": counts, "open_id": open_id, "mid": mid}


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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--open", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=400, help="requests per endpoint (max 5000)")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--port", type=int, default=18941)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="reuse the filled database of a previous run")
    args = parser.parse_args()
    requests = min(args.requests, 5000)

    from hub.db.migrate import upgrade

    name = f"hub_bench_queue_{args.tickets}"
    db_url = args.postgres.rsplit("/", 1)[0] + f"/{name}"
    if not args.keep:
        db_url = asyncio.run(fresh_database(args.postgres, name))
        upgrade(db_url)
        print(f"filling {args.tickets:,} tickets ({args.open:,} open) ...", flush=True)
        print(f"filled in {asyncio.run(fill(db_url, args.tickets, args.open)):.1f} s", flush=True)
    long_id = asyncio.run(long_ticket(db_url))
    info = asyncio.run(sample(db_url))
    print("tickets by status:", info["counts"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(PYTHONPATH=str(ROOT), HUB_DATABASE_URL=db_url, HUB_SECRET_KEY=SECRET, HUB_LOG_LEVEL="WARNING",
               HUB_DATA_DIR="/tmp/hub-bench-queue", HUB_PUBLIC_URL="http://127.0.0.1")
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "bench.queue_api:app_factory", "--host", "127.0.0.1",
         "--port", str(args.port), "--log-level", "warning", "--no-access-log"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    try:
        wait_port(args.port, server)
        paths = [
            ("GET /healthz (floor: no auth, no database)", "/healthz"),
            ("GET /api/v1/agents/me (floor: token check only)", "/api/v1/agents/me"),
            ("GET /api/v1/queue", "/api/v1/queue"),
            ("GET /api/v1/queue?channel=email", "/api/v1/queue?channel=email"),
            ("GET /api/v1/tickets (newest 50)", "/api/v1/tickets"),
            ("GET /api/v1/tickets?status=waiting", "/api/v1/tickets?status=waiting"),
            ("GET /api/v1/tickets?status=open&channel=whatsapp", "/api/v1/tickets?status=open&channel=whatsapp"),
            ("GET /api/v1/tickets?status=resolved&before=<middle>", f"/api/v1/tickets?status=resolved&before={info['mid']}"),
            ("GET /api/v1/tickets?channel=phone&before=<middle>", f"/api/v1/tickets?channel=phone&before={info['mid']}"),
            ("GET /api/v1/tickets?q=OAC-2025-0500000 (reference)", "/api/v1/tickets?q=OAC-2025-0500000"),
            ("GET /api/v1/tickets?q=citizen 4242 (name)", "/api/v1/tickets?q=citizen%204242"),
            ("GET /api/v1/queue?q=citizen 4242 (name)", "/api/v1/queue?q=citizen%204242"),
            ("GET /api/v1/tickets?q=+34600001235 (phone)", "/api/v1/tickets?q=%2B34600001235"),
            ("GET /api/v1/tickets/{id} (timeline)", f"/api/v1/tickets/{info['open_id']}"),
            (f"GET /api/v1/tickets/{{id}} (timeline of {LONG_TIMELINE} messages)", f"/api/v1/tickets/{long_id}"),
        ]
        asyncio.run(measure(args.port, paths, requests, args.concurrency))
        print(f"web process RSS after the run: {rss_mb(server.pid):.0f} MB; "
              f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
