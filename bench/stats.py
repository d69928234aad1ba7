"""Statistics over 1,000,000 tickets: generate a year of history in PostgreSQL, roll it up, time the API.

    .venv/bin/python bench/stats.py [--tickets 1000000] [--postgres postgresql+asyncpg://postgres@127.0.0.1:5432/postgres]
                                    [--keep] [--reuse [--skip-rollup]]

1. Creates a scratch database `hub_bench_stats`, migrates it, and generates the history with
   bulk SQL (generate_series, INSERT ... SELECT; no ORM): 20 agents, 300,000 contacts, the
   tickets spread over 366 days (the last one is "today", up to "now"), WhatsApp 50 % (12 % abandoned
   after the reminder), email 30 %, phone 20 % (resolved on the call), with realistic waits,
   replies, transfers, resolutions, surveys (30 % answered, comments) and calls (answered,
   missed, called back); about 8 events per ticket, as the actions record them.
2. Builds the daily roll-ups of every finished day with `hub.rollups.build_days` (the
   scheduler's code) and prints how long that took.
3. Starts the real web app (in process, a manager's API token) and times
   `GET /api/v1/stats` for a one-year range and a one-month range (both include "today",
   computed live from the events), the same with `compare=previous` (the previous year and the
   year before, as the page shows), the weekly trend, the tables (CSV, XLSX), the same for one
   topic (85 % of the consultations carry one of six topics, 8 % two; 10 % of the WhatsApp
   consultations came through one of four entry points), the backlog: cold, then 7 runs.
Targets: a one-year range in ≤ 300 ms (PRODUCT.md §6), ≤ 50 ms with the comparison (issue 17).
Nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

DB = "hub_bench_stats"
DAYS = 366
TODAY = date(2026, 11, 27)
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # "now" in the benchmark: midday of the last day
PASSWORD = "bench-password-123"
CPU: dict[str, list[float]] = {}  # the hub process's CPU time per request (the database's is not in it)


def _sql(n: int) -> list[str]:
    d0 = (TODAY - timedelta(days=DAYS - 1)).isoformat()
    now = NOW.isoformat()
    return [
        "SELECT setseed(0.42)",
        # 20 agents (+1 manager: id 21) and the contacts
        """INSERT INTO agents (email, name, password_hash, role, presence, capacity, active, language, created_at)
           SELECT 'agent' || g || '@bench.example', 'Agent ' || g, '', 'agent',
                  CASE WHEN g % 3 = 0 THEN 'available' WHEN g % 3 = 1 THEN 'away' ELSE 'offline' END,
                  5, true, 'ca', TIMESTAMPTZ '2025-01-01' FROM generate_series(1, 20) g""",
        f"""INSERT INTO contacts (name, display_hint, language, created_at, updated_at)
            SELECT 'Citizen ' || g, '', (ARRAY['ca','es','en'])[1 + g % 3], TIMESTAMPTZ '{d0}', TIMESTAMPTZ '{d0}'
            FROM generate_series(1, 300000) g""",
        # The plan of every ticket: one row with all its times (a scratch table).
        f"""CREATE UNLOGGED TABLE bt AS
            WITH r AS (
              SELECT g, random() r1, random() r2, random() r3, random() r4, random() r5, random() r6, random() r7,
                     random() r8, random() r9, random() r10, random() r11, random() r12, random() r13, random() r14
              FROM generate_series(1, {n}) g
            ), b AS (
              SELECT g AS id, 1 + g % 300000 AS contact_id,
                CASE WHEN r1 < 0.5 THEN 'whatsapp' WHEN r1 < 0.8 THEN 'email' ELSE 'phone' END AS channel,
                TIMESTAMPTZ '{d0}' + floor((g - 1) * {DAYS}.0 / {n}) * INTERVAL '1 day'
                  -- 06:00-18:00 UTC; on the last day ("today") only up to a little before "now"
                  + (6 + r2 * CASE WHEN floor((g - 1) * {DAYS}.0 / {n}) = {DAYS - 1} THEN 5.9 ELSE 12 END)
                    * INTERVAL '1 hour' AS created,
                1 + floor(r3 * 20)::int AS agent, r4, r5, r6, r7, r8, r9, r10, r11, r12, r13, r14
              FROM r
            ), c AS (
              SELECT b.*, (channel = 'whatsapp' AND r4 < 0.12) AS abandoned,
                CASE WHEN channel = 'whatsapp' THEN (30 + r5 * 600) * INTERVAL '1 second' ELSE INTERVAL '0' END AS ident
              FROM b
            ), d AS (
              SELECT c.*, created + ident AS queued,
                CASE WHEN channel = 'phone' THEN INTERVAL '0' ELSE (r6 * r6 * 3600) * INTERVAL '1 second' END AS wait,
                (60 + r7 * 1800) * INTERVAL '1 second' AS reply,
                (channel <> 'phone' AND r8 < 0.05) AS noreply,
                (r9 * r9 * r9 * 172800) * INTERVAL '1 second' AS work
              FROM c
            )
            SELECT d.*, queued + wait AS assigned,
              CASE WHEN channel = 'phone' THEN created ELSE queued + wait + reply + work END AS resolved,
              (channel <> 'phone' AND NOT noreply AND r14 < 0.05) AS transferred
            FROM d""",
        "CREATE INDEX ON bt (id)",
        # Tickets, in their state at NOW.
        f"""INSERT INTO tickets (id, reference, contact_id, channel, kind, status, priority, subject, assignee_id,
              created_at, updated_at, queued_at, identified_at, first_response_at, resolved_at, closed_at, version)
            SELECT id, 'OAC-B-' || lpad(id::text, 7, '0'), contact_id, channel, 'consultation',
              CASE WHEN abandoned THEN CASE WHEN created + INTERVAL '40 min' <= '{now}' THEN 'closed_unidentified' ELSE 'identifying' END
                   WHEN queued > '{now}' THEN 'identifying'
                   WHEN assigned > '{now}' THEN 'waiting'
                   WHEN resolved > '{now}' THEN 'pending'
                   ELSE 'resolved' END,
              0, '', CASE WHEN abandoned OR assigned > '{now}' THEN NULL
                          WHEN transferred THEN 1 + agent % 20 ELSE agent END,
              created, created, CASE WHEN abandoned OR queued > '{now}' THEN NULL ELSE queued END,
              CASE WHEN channel = 'whatsapp' AND NOT abandoned AND queued <= '{now}' THEN queued END,
              CASE WHEN channel <> 'phone' AND NOT abandoned AND NOT noreply AND assigned + reply <= '{now}'
                   THEN assigned + reply END,
              CASE WHEN NOT abandoned AND resolved <= '{now}' THEN resolved END,
              CASE WHEN abandoned AND created + INTERVAL '40 min' <= '{now}' THEN created + INTERVAL '40 min'
                   WHEN NOT abandoned AND resolved <= '{now}' THEN resolved END, 1
            FROM bt""",
        "SELECT setval(pg_get_serial_sequence('tickets', 'id'), (SELECT max(id) FROM tickets))",
        # Events, kind by kind, as the actions record them (only what happened before NOW).
        """INSERT INTO events (ticket_id, kind, at, channel, agent_id, data)
           SELECT id, 'created', created, channel, NULL::int, jsonb_build_object('channel', channel) FROM bt""",
        f"""INSERT INTO events (ticket_id, kind, at, channel, agent_id, data)
            SELECT id, 'reminder_sent', created + INTERVAL '20 min', channel, NULL::int, '{{}}'::jsonb FROM bt
            WHERE abandoned AND created + INTERVAL '20 min' <= '{now}'
            UNION ALL
            SELECT id, 'closed_unidentified', created + INTERVAL '40 min', channel, NULL::int, '{{}}'::jsonb FROM bt
            WHERE abandoned AND created + INTERVAL '40 min' <= '{now}'""",
        f"""INSERT INTO events (ticket_id, kind, at, channel, agent_id, data)
            SELECT id, 'identified', queued, channel, NULL::int, '{{}}'::jsonb FROM bt
            WHERE channel = 'whatsapp' AND NOT abandoned AND queued <= '{now}'
            UNION ALL
            SELECT id, 'queued', queued, channel, NULL::int, '{{}}'::jsonb FROM bt WHERE NOT abandoned AND queued <= '{now}'
            UNION ALL
            SELECT id, 'assigned', assigned, channel, agent, jsonb_build_object('agent_id', agent) FROM bt
            WHERE NOT abandoned AND assigned <= '{now}'""",
        f"""INSERT INTO events (ticket_id, kind, at, channel, agent_id, data)
            SELECT id, k.kind, assigned + reply, channel, agent, jsonb_build_object('agent_id', agent)
            FROM bt CROSS JOIN (VALUES ('agent_replied'), ('first_agent_reply')) k(kind)
            WHERE channel <> 'phone' AND NOT abandoned AND NOT noreply AND assigned + reply <= '{now}'
            UNION ALL
            SELECT id, 'transferred', assigned + reply + work / 2, channel, 1 + agent % 20,
                   jsonb_build_object('agent_id', 1 + agent % 20, 'from_agent_id', agent)
            FROM bt WHERE transferred AND assigned + reply + work / 2 <= '{now}'""",
        f"""INSERT INTO events (ticket_id, kind, at, channel, agent_id, data)
            SELECT id, 'resolved', resolved, channel, CASE WHEN transferred THEN 1 + agent % 20 ELSE agent END,
                   jsonb_build_object('agent_id', CASE WHEN transferred THEN 1 + agent % 20 ELSE agent END)
            FROM bt WHERE NOT abandoned AND resolved <= '{now}'
            UNION ALL
            SELECT id, 'survey_sent', resolved, channel, NULL::int, '{{}}'::jsonb
            FROM bt WHERE NOT abandoned AND channel <> 'phone' AND resolved <= '{now}'""",
        # Surveys: 30 % answered within two days, ratings leaning high, some comments.
        f"""INSERT INTO survey_responses (ticket_id, agent_id, channel, token_hash, created_at, expires_at,
              answered_at, rating, comment)
            SELECT id, CASE WHEN transferred THEN 1 + agent % 20 ELSE agent END, channel, md5('survey' || id),
              resolved, resolved + INTERVAL '14 days',
              CASE WHEN r10 < 0.3 AND resolved + r11 * INTERVAL '2 days' <= '{now}' THEN resolved + r11 * INTERVAL '2 days' END,
              CASE WHEN r10 < 0.3 AND resolved + r11 * INTERVAL '2 days' <= '{now}' THEN 5 - floor(r12 * r12 * 5)::int END,
              CASE WHEN r10 < 0.3 AND r13 < 0.3 AND resolved + r11 * INTERVAL '2 days' <= '{now}'
                   THEN 'Comentari de la consulta ' || id ELSE '' END
            FROM bt WHERE NOT abandoned AND channel <> 'phone' AND resolved <= '{now}'""",
        """INSERT INTO events (ticket_id, kind, at, channel, agent_id, data)
           SELECT ticket_id, 'survey_answered', answered_at, channel, agent_id,
                  jsonb_build_object('rating', rating, 'survey_id', id)
           FROM survey_responses WHERE answered_at IS NOT NULL""",
        # Calls: every phone ticket had its answered call; 25 % more calls were missed.
        f"""INSERT INTO calls (ticket_id, contact_id, number, direction, state, outcome, started_at, answered_at,
              ended_at, duration_s, wait_s, topic, notes, agent_id, done, last_sequence, created_at)
            SELECT id, contact_id, '+3460' || lpad(contact_id::text, 7, '0'), 'inbound', 'ended', 'answered',
              created - (60 + r5 * 540) * INTERVAL '1 second', created - (60 + r5 * 540) * INTERVAL '1 second',
              created, (60 + r5 * 540)::int, (3 + r7 * 60)::int, '', '', agent, true, -1, created
            FROM bt WHERE channel = 'phone' AND created <= '{now}'
            UNION ALL
            SELECT NULL::int, contact_id, CASE WHEN r8 < 0.1 THEN 'anonymous' ELSE '+3460' || lpad(contact_id::text, 7, '0') END,
              'inbound', 'ended', (ARRAY['missed', 'busy', 'voicemail'])[1 + floor(r9 * 3)::int],
              created + INTERVAL '3 hours', NULL::timestamptz, created + INTERVAL '3 hours', NULL::int, NULL::int, '', '', NULL::int,
              r8 < 0.1 OR r10 < 0.7, -1, created
            FROM bt WHERE channel = 'phone' AND r6 < 0.25 AND created + INTERVAL '3 hours' <= '{now}'""",
        # Topics: six procedures, the first ones commoner; 85 % of the consultations carry one,
        # 8 % a second one too (they count for each).
        """INSERT INTO topics (key, names, active, position, created_at, updated_at)
           SELECT 'bench-' || g, jsonb_build_object('ca', 'Tràmit ' || g, 'es', 'Trámite ' || g, 'en', 'Procedure ' || g),
                  true, 100 + g, TIMESTAMPTZ '2025-01-01', TIMESTAMPTZ '2025-01-01' FROM generate_series(1, 6) g""",
        """INSERT INTO ticket_topics (ticket_id, topic_id, agent_id, created_at)
           SELECT bt.id, t.id, NULL::int, bt.created FROM bt
           JOIN topics t ON t.key = 'bench-' || (1 + floor(bt.r12 * bt.r12 * 6)::int)
           WHERE NOT bt.abandoned AND bt.r13 < 0.85
           UNION ALL
           SELECT bt.id, t.id, NULL::int, bt.created FROM bt
           JOIN topics t ON t.key = 'bench-' || (1 + (floor(bt.r12 * bt.r12 * 6)::int + 1) % 6)
           WHERE NOT bt.abandoned AND bt.r13 < 0.08""",
        "DROP TABLE bt",
        "ANALYZE",
    ]


# WhatsApp entry points: four links, each setting one of the first topics; one WhatsApp
# consultation in ten came through one of them. Added to a reused data set that has none.
ENTRY_POINTS_SQL = [
    """INSERT INTO entry_points (label, prefill, prefill_key, topic_id, active, created_at, updated_at)
       SELECT 'Bench entry ' || g, 'Bench prefill ' || g, 'bench prefill ' || g,
              (SELECT id FROM topics WHERE key = 'bench-' || g), true, TIMESTAMPTZ '2025-01-01', TIMESTAMPTZ '2025-01-01'
       FROM generate_series(1, 4) g""",
    """INSERT INTO ticket_entry_points (ticket_id, entry_point_id, created_at)
       SELECT t.id, ep.id, t.created_at FROM tickets t JOIN entry_points ep ON ep.label = 'Bench entry ' || (1 + t.id % 4)
       WHERE t.channel = 'whatsapp' AND (t.id / 4) % 10 = 0""",
    "ANALYZE ticket_entry_points",
]


async def add_entry_points(url: str) -> bool:
    """The bench's entry points, when the data set has none. True when added."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        if (await conn.execute(text("SELECT count(*) FROM entry_points WHERE label LIKE 'Bench entry %'"))).scalar():
            added = False
        else:
            for statement in ENTRY_POINTS_SQL:
                await conn.execute(text(statement))
            added = True
        n = (await conn.execute(text("SELECT count(*) FROM ticket_entry_points"))).scalar()
    await engine.dispose()
    print(f"entry points: {'added, ' if added else ''}{n} consultations came through one")
    return added


async def generate(admin_url: str, n: int, reuse: bool) -> str:
    from hub.db.migrate import upgrade

    url = admin_url.rsplit("/", 1)[0] + f"/{DB}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        exists = (await conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DB})).first()
        if exists and reuse:
            await admin.dispose()
            await asyncio.to_thread(upgrade, url)
            print(f"reusing database {DB} (schema brought up to date)")
            await add_entry_points(url)
            return url
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
        await conn.execute(text(f'CREATE DATABASE "{DB}"'))
    await admin.dispose()
    await asyncio.to_thread(upgrade, url)
    engine = create_async_engine(url)
    started = time.perf_counter()
    async with engine.begin() as conn:
        for statement in _sql(n):
            t = time.perf_counter()
            result = await conn.execute(text(statement))
            label = " ".join(statement.split()[:4])
            print(f"  {time.perf_counter() - t:7.1f} s  {label[:60]}  ({result.rowcount if result.rowcount >= 0 else '-'} rows)")
    async with engine.connect() as conn:
        counts = {t: (await conn.execute(text(f"SELECT count(*) FROM {t}"))).scalar()
                  for t in ("tickets", "events", "calls", "survey_responses")}
    await engine.dispose()
    print(f"generated in {time.perf_counter() - started:.1f} s: {counts}")
    await add_entry_points(url)
    return url


async def roll_up(url: str, days: bool) -> None:
    """The finished days (what the scheduler does once per day), then today up to its watermark
    (what the scheduler does every 5 minutes)."""
    from hub.clock import FakeClock
    from hub.config import load_settings
    from hub.context import HubContext
    from hub.rollups import PARTIAL_MARGIN, PARTIAL_STEP, _floor, build_days, build_entry_points, build_partial

    ctx = HubContext.create(load_settings(_env_file=None, database_url=url), FakeClock(NOW))
    if days:
        first, last = TODAY - timedelta(days=DAYS - 1), TODAY - timedelta(days=1)
        started = time.perf_counter()
        built = await build_days(ctx, first, last)
        took = time.perf_counter() - started
        print(f"roll-ups: {built} days built in {took:.1f} s ({took / built * 1000:.0f} ms per day)")
    else:
        async with ctx.engine.connect() as conn:
            missing = not (await conn.execute(text("SELECT count(*) FROM stats_daily_entry_point"))).scalar() and (
                await conn.execute(text("SELECT count(*) FROM ticket_entry_points"))).scalar()
        if missing:  # a data set rolled up before the per-entry-point roll-ups (or its entry points)
            started = time.perf_counter()
            built = await build_entry_points(ctx, TODAY - timedelta(days=DAYS - 1), TODAY - timedelta(days=1))
            print(f"entry point roll-ups of {built} days built in {time.perf_counter() - started:.1f} s "
                  "(hub stats rebuild --entry-points)")
    started = time.perf_counter()
    mark = _floor(NOW - PARTIAL_MARGIN, PARTIAL_STEP)
    await build_partial(ctx, TODAY, mark)
    print(f"today rolled up to {mark:%H:%M} UTC in {time.perf_counter() - started:.2f} s (the scheduler's 5-minute step)")
    async with ctx.engine.connect() as conn:
        counts = {}
        for table in ("stats_daily", "stats_monthly", "stats_daily_topic", "stats_monthly_topic",
                      "stats_daily_entry_point", "stats_monthly_entry_point"):
            counts[table] = (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar()
            await conn.execute(text(f"ANALYZE {table}"))
        await conn.commit()
    await ctx.close()
    print(", ".join(f"{n} {table} rows" for table, n in counts.items()))


async def drop_today_rollup(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM stats_daily WHERE day = :d"), {"d": TODAY})
        await conn.execute(text("DELETE FROM stats_daily_topic WHERE day = :d"), {"d": TODAY})
        await conn.execute(text("DELETE FROM stats_daily_entry_point WHERE day = :d"), {"d": TODAY})
        await conn.execute(text("DELETE FROM stats_days WHERE day = :d"), {"d": TODAY})
    await engine.dispose()


def time_api(url: str, runs: int, only: tuple[str, ...] = (), suffix: str = "") -> dict[str, list[float]]:
    from litestar.testing import TestClient

    from entrypoints.web import create_app
    from hub.clock import FakeClock
    from hub.config import load_settings
    from hub.passwords import hash_password

    async def manager() -> int | None:
        engine = create_async_engine(url)
        async with engine.begin() as conn:
            topic = (await conn.execute(text("SELECT id FROM topics WHERE key = 'bench-1'"))).scalar()
            await conn.execute(text(
                "INSERT INTO agents (email, name, password_hash, role, presence, capacity, active, language, created_at) "
                "VALUES ('manager@bench.example', 'Manager', :h, 'manager', 'offline', 5, true, 'en', now()) "
                "ON CONFLICT (email) DO UPDATE SET password_hash = excluded.password_hash"),
                {"h": hash_password(PASSWORD)})
        await engine.dispose()
        return None if topic is None else int(topic)  # None: a data set generated before topics

    topic = asyncio.run(manager())
    settings = load_settings(_env_file=None, database_url=url, secret_key="bench-secret-key-0123456789")
    app = create_app(settings, clock=FakeClock(NOW))
    year = f"from={(TODAY - timedelta(days=364)).isoformat()}&to={TODAY.isoformat()}"
    month = f"from={(TODAY - timedelta(days=29)).isoformat()}&to={TODAY.isoformat()}"
    cases = {
        "year (365 days)": f"/api/v1/stats?{year}",
        "year, compared (compare=previous)": f"/api/v1/stats?{year}&compare=previous",
        "year trend per week": f"/api/v1/stats/trends?{year}&period=week",
        "year table per day (CSV)": f"/api/v1/stats.csv?{year}&table=daily",
        "year as XLSX": f"/api/v1/stats.xlsx?{year}",
        "month (30 days)": f"/api/v1/stats?{month}",
        "year, one channel (email)": f"/api/v1/stats?{year}&channel=email",
        "year, one agent": f"/api/v1/stats?{year}&agent=3",
        "year, one topic": f"/api/v1/stats?{year}&topic={topic}",
        "year, one topic, compared": f"/api/v1/stats?{year}&topic={topic}&compare=previous",
        "year trend per week, one topic": f"/api/v1/stats/trends?{year}&period=week&topic={topic}",
        "year as XLSX, one topic": f"/api/v1/stats.xlsx?{year}&topic={topic}",
        "year as CSV": f"/api/v1/stats.csv?{year}",
        "backlog now": "/api/v1/stats/now",
    }
    if topic is None:
        print("(no topics in this data set, generated before they existed: the per-topic cases are left out)")
        cases = {label: path for label, path in cases.items() if "topic" not in label}
    results: dict[str, list[float]] = {}
    with TestClient(app, base_url="http://127.0.0.1") as client:
        token = client.post("/api/v1/auth/token", json={"email": "manager@bench.example", "password": PASSWORD})
        assert token.status_code == 201, token.text
        headers = {"authorization": f"Bearer {token.json()['token']}"}
        for label, path in cases.items():
            if only and label not in only:
                continue
            times = []
            cpu = []
            for _ in range(runs + 1):
                t, c = time.perf_counter(), time.process_time()
                answer = client.get(path, headers=headers)
                times.append((time.perf_counter() - t) * 1000)
                cpu.append((time.process_time() - c) * 1000)
                assert answer.status_code == 200, answer.text
            results[label + suffix] = times
            CPU[label + suffix] = cpu
            if path.startswith("/api/v1/stats?") and "channel" not in path and "agent" not in path:
                body = answer.json()
                print(f"  {label}: {body['totals']['consultations']} consultations, "
                      f"{body['days_from_rollups']} days from roll-ups + {body['days_computed_live']} live, "
                      f"wait median {body['totals']['wait']['median_s']} s, p90 {body['totals']['wait']['p90_s']} s")
    return results


def main() -> None:
    global DB
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--postgres", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--database", default=DB, help=f"scratch database name (default {DB})")
    parser.add_argument("--reuse", action="store_true", help="reuse the generated database if it exists")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--skip-rollup", action="store_true", help="with --reuse: keep the roll-ups already built")
    args = parser.parse_args()
    DB = args.database
    url = asyncio.run(generate(args.postgres, args.tickets, args.reuse))
    asyncio.run(roll_up(url, days=not args.skip_rollup))
    results = time_api(url, args.runs)
    # The worst case: the scheduler has not rolled up any of today (e.g. just restarted).
    asyncio.run(drop_today_rollup(url))
    results.update(time_api(url, args.runs, only=("year (365 days)", "year, compared (compare=previous)",
                                                  "month (30 days)", "year, one topic, compared"),
                            suffix=", today all live"))
    asyncio.run(roll_up(url, days=False))
    print(f"\nGET timings over {args.tickets:,} tickets (ms; first = cold, then {args.runs} runs):")
    print(f"  {'query':<36} {'cold':>8} {'median':>8} {'max':>8} {'hub CPU':>8}")
    for label, times in results.items():
        warm = times[1:]
        cpu = statistics.median(CPU[label][1:])
        print(f"  {label:<36} {times[0]:8.1f} {statistics.median(warm):8.1f} {max(warm):8.1f} {cpu:8.1f}")
    load = open("/proc/loadavg").read().split()[:3]
    print(f"(load average {' '.join(load)} on {__import__('os').cpu_count()} cores while measuring)")
    year = statistics.median(results["year (365 days)"][1:])
    print(f"\ntarget: one-year range <= 300 ms -> median {year:.0f} ms: {'MET' if year <= 300 else 'NOT MET'}")
    compared = statistics.median(results["year, compared (compare=previous)"][1:])
    print(f"target: one-year range with the comparison <= 50 ms -> median {compared:.0f} ms: "
          f"{'MET' if compared <= 50 else 'NOT MET'}")
    if "year, one topic, compared" in results:
        by_topic = statistics.median(results["year, one topic, compared"][1:])
        print(f"  the same for one topic (per-topic roll-ups) -> median {by_topic:.0f} ms: "
              f"{'MET' if by_topic <= 50 else 'NOT MET'}")
    if not args.keep:
        async def drop() -> None:
            admin = create_async_engine(args.postgres, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
            await admin.dispose()

        asyncio.run(drop())


if __name__ == "__main__":
    main()
