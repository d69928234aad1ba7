"""Finding any consultation: search latency at 1,000,000 tickets and 5,000,000 messages (PostgreSQL).

    .venv/bin/python bench/search.py [--tickets 1000000] [--messages 5000000] [--queries 200] [--keep] [--reuse]
                                     [--name bench_search]

Builds a fresh, migrated PostgreSQL database with set-based SQL (generate_series: contacts with
accented names and an identity each, tickets over a year with subjects, messages and notes made
of words from a 3,000-word vocabulary), rebuilds the search indexes once the rows are in (as a
restore would) and VACUUM ANALYZEs. Then runs `hub.views.list_tickets` with search text, as the
API does, in the benchmark process (one connection): references in their three forms, phone
numbers in another format, email addresses, parts of names without accents, one rare word, one
common word, two words. Prints p50/p95/p99/max per kind and over all queries (target: p95 <= 100 ms).
Only 127.0.0.1 is contacted; the database is dropped afterwards unless --keep.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.queue_api import fresh_database, pct  # noqa: E402

SYLLABLES = ["ba", "ce", "di", "fo", "gu", "la", "me", "ni", "po", "ru", "sa", "te", "vi", "xo", "za", "ma", "ra",
             "lo", "ne", "ti"]
NAMES = ["Núria", "Jordi", "Laia", "Pere", "Àngels", "Martí", "Mònica", "Josep", "Anna", "Raül", "Júlia", "Òscar"]
SURNAMES = ["Solé", "Puig", "Vidal", "Pons", "Serra", "Martínez", "Garcia", "Ferrer", "Roca", "Castells", "Pujol",
            "Camps", "Font", "Mas", "Vilà", "Bosch"]


def vocabulary(n: int = 3000) -> list[str]:
    rng = random.Random(7)
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 4))))
    return sorted(words)


FILL = """
INSERT INTO agents (email, name, password_hash, role, presence, capacity, active, language, created_at)
SELECT 'agent' || g || '@bench.example', 'Agent ' || g, '', 'agent', 'available', 400, true, 'ca', now()
FROM generate_series(1, 20) g;

INSERT INTO contacts (name, display_hint, language, created_at, updated_at)
SELECT (CAST(:names AS text[]))[1 + g % 12] || ' ' || (CAST(:surnames AS text[]))[1 + (g / 12) % 16] || ' ' || (CAST(:surnames AS text[]))[1 + (g / 192) % 16] || ' ' || g,
       '', 'ca', now(), now()
FROM generate_series(1, :contacts) g;

INSERT INTO identities (contact_id, kind, value, created_at)
SELECT id, CASE WHEN id % 2 = 0 THEN 'email' ELSE 'phone' END,
       CASE WHEN id % 2 = 0 THEN 'c' || id || '@bench.example' ELSE '+34' || (600000000 + id) END, now()
FROM contacts;

INSERT INTO tickets (reference, contact_id, channel, kind, status, priority, subject, assignee_id, created_at,
                     updated_at, queued_at, resolved_at, closed_at, last_inbound_at, last_activity_at, version)
SELECT 'OAC-2025-' || lpad(g::text, greatest(6, length(g::text)), '0'), 1 + (g % :contacts), (ARRAY['whatsapp', 'email', 'phone'])[1 + g % 3],
       'consultation', CASE WHEN g > :tickets - 5000 THEN 'assigned' ELSE 'resolved' END, 0,
       CASE WHEN g % 3 = 1 THEN (CAST(:vocab AS text[]))[1 + (g * 7) % :nvocab] || ' ' || (CAST(:vocab AS text[]))[1 + (g * 13) % :nvocab] ELSE '' END,
       1 + g % 20, ts, ts, ts, ts + interval '1 hour', ts + interval '1 hour', ts, ts, 1
FROM (SELECT g, timestamptz '2025-06-01 00:00+00' + g * interval '30 seconds' AS ts
      FROM generate_series(1, :tickets) g) s;

INSERT INTO messages (ticket_id, contact_id, channel, direction, kind, body, body_html, status, meta, created_at)
SELECT t, 1 + (t % :contacts), (ARRAY['whatsapp', 'email', 'phone'])[1 + t % 3],
       CASE WHEN m % 5 = 0 THEN 'note' WHEN m % 2 = 0 THEN 'out' ELSE 'in' END, 'text',
       'Hola, ' || (CAST(:vocab AS text[]))[1 + ((m * 31) % :nvocab)::int] || ' ' || (CAST(:vocab AS text[]))[1 + ((m * 17 + 5) % :nvocab)::int] || ' de ' ||
       (CAST(:vocab AS text[]))[1 + ((m * 101 + 3) % :nvocab)::int] || ' ' || (CAST(:vocab AS text[]))[1 + ((m * 7919) % :nvocab)::int] || ' ' ||
       (CAST(:vocab AS text[]))[1 + ((m * 104729 + 11) % :nvocab)::int] || ' ' || (CAST(:vocab AS text[]))[1 + ((m * 13 + 1) % :nvocab)::int] || '. Gràcies',
       '', 'received', '{}'::jsonb, timestamptz '2025-06-01 00:00+00' + t * interval '30 seconds' + m * interval '1 second'
FROM (SELECT m, (1 + (m - 1) % :tickets)::int AS t FROM generate_series(1::bigint, :messages) m) s
"""

SEARCH_INDEXES = [
    "CREATE INDEX ix_messages_body_search ON messages USING gin (body_search)",  # stored vectors (core_0006)
    "CREATE INDEX ix_tickets_subject_search ON tickets USING gin (subject_search)",
    "CREATE INDEX ix_contacts_name_search ON contacts USING gin (hub_unaccent(name) gin_trgm_ops)",
    "CREATE INDEX ix_contacts_hint_search ON contacts USING gin (hub_unaccent(display_hint) gin_trgm_ops)",
]


async def build(url: str, tickets: int, messages: int) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    from hub.db.migrate import upgrade

    await asyncio.to_thread(upgrade, url)
    vocab = vocabulary()
    params = {"tickets": tickets, "messages": messages, "contacts": max(1000, tickets // 4), "names": NAMES,
              "surnames": SURNAMES, "vocab": vocab, "nvocab": len(vocab)}
    engine = create_async_engine(url)
    started = time.perf_counter()
    async with engine.begin() as conn:
        for index in SEARCH_INDEXES:  # built once the rows are in: much faster than row by row
            await conn.execute(text(f"DROP INDEX IF EXISTS {index.split()[2]}"))
        for statement in filter(None, (s.strip() for s in FILL.split(";"))):
            needed = {k: v for k, v in params.items() if f":{k}" in statement}
            t0 = time.perf_counter()
            await conn.execute(text(statement), needed)
            print(f"  {statement.split()[2]:<12} {time.perf_counter() - t0:6.1f} s", flush=True)
        await conn.execute(text("SET maintenance_work_mem = '512MB'"))
        for index in SEARCH_INDEXES:
            t0 = time.perf_counter()
            await conn.execute(text(index))
            print(f"  {index.split()[2]:<24} {time.perf_counter() - t0:6.1f} s", flush=True)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text("VACUUM ANALYZE"))
    await engine.dispose()
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)


def queries(tickets: int, messages: int, n: int) -> list[tuple[str, str]]:
    rng = random.Random(11)
    vocab = vocabulary()
    contacts = max(1000, tickets // 4)
    out: list[tuple[str, str]] = []
    kinds = ["reference", "number", "phone", "email", "name", "rare word", "common word", "two words"]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        t = rng.randint(1, tickets)
        c = rng.randint(1, contacts // 2) * 2
        if kind == "reference":
            q = f"OAC-2025-{t:06d}" if i % 2 else f"2025-{t:06d}"
        elif kind == "number":
            q = str(t)
        elif kind == "phone":
            number = 600000000 + c - 1
            q = f"{str(number)[:3]} {str(number)[3:5]} {str(number)[5:7]} {str(number)[7:]}"
        elif kind == "email":
            q = f"c{c}@bench.example"
        elif kind == "name":
            g = rng.randint(1, contacts)  # the contact's first name and surnames, as the fill wrote them
            q = f"{NAMES[g % 12]} {SURNAMES[(g // 12) % 16]} {SURNAMES[(g // 192) % 16]}"
            q = q.lower().replace("ú", "u").replace("à", "a").replace("é", "e").replace("ò", "o").replace("ü", "u")
        elif kind == "rare word":
            q = rng.choice(vocab)
        elif kind == "common word":
            q = "gracies"
        else:
            m = rng.randint(1, messages)  # two words of one message, as the fill wrote it
            q = f"{vocab[(m * 31) % len(vocab)]} {vocab[(m * 7919) % len(vocab)]}"
        out.append((kind, q))
    return out


async def measure(url: str, tickets: int, messages: int, n: int) -> None:
    from hub import views
    from hub.db.engine import make_engine
    from hub.search import TicketFilter
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

    engine = make_engine(url)
    sessions = async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    plan = queries(tickets, messages, n)
    by_kind: dict[str, list[float]] = {}
    found: dict[str, int] = {}
    for warm in plan[:16]:
        async with sessions() as session:
            await views.list_tickets(session, TicketFilter(q=warm[1]), limit=50)
    for kind, q in plan:
        async with sessions() as session:
            t0 = time.perf_counter()
            page = await views.list_tickets(session, TicketFilter(q=q), limit=50)
            by_kind.setdefault(kind, []).append(time.perf_counter() - t0)
        found[kind] = found.get(kind, 0) + (1 if page.tickets else 0)
    await engine.dispose()
    print(f"{'search':<14} {'n':>4} {'found':>6} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}  (ms)")
    everything: list[float] = []
    for kind, values in by_kind.items():
        everything += values
        ms = [pct(values, p) * 1000 for p in (50, 95, 99, 100)]
        print(f"{kind:<14} {len(values):>4} {found[kind]:>6} " + " ".join(f"{v:7.1f}" for v in ms))
    ms = [pct(everything, p) * 1000 for p in (50, 95, 99, 100)]
    print(f"{'all':<14} {len(everything):>4} {sum(found.values()):>6} " + " ".join(f"{v:7.1f}" for v in ms))
    print(f"p95 over all searches: {pct(everything, 95) * 1000:.1f} ms (target 100 ms)")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickets", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=5_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--database", default="postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--keep", action="store_true", help="keep the database (bench_search) afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure an existing bench_search database")
    parser.add_argument("--name", default="bench_search", help="the database's name (two benches at once need two)")
    args = parser.parse_args()
    name = args.name
    url = args.database.rsplit("/", 1)[0] + f"/{name}"
    if not args.reuse:
        url = await fresh_database(args.database, name)
        print(f"building {args.tickets:,} tickets and {args.messages:,} messages ...", flush=True)
        await build(url, args.tickets, args.messages)
    try:
        await measure(url, args.tickets, args.messages, args.queries)
    finally:
        if not args.keep:
            from sqlalchemy import text
            from sqlalchemy.ext.asyncio import create_async_engine

            admin = create_async_engine(args.database, isolation_level="AUTOCOMMIT")
            async with admin.connect() as conn:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            await admin.dispose()


if __name__ == "__main__":
    asyncio.run(main())
