"""Mailbox throughput: N new mails APPENDed to a real Dovecot -> the poller -> tickets.

    .venv/bin/python bench/mailbox.py [--n 2000] [--postgres URL | --sqlite] [--workers 8] [--no-ack] [--no-freeze]

Starts Dovecot on a free port (tests/support/mailservers.py), APPENDs `n` distinct citizens'
mails (not timed), then times one poller catch-up: UID SEARCH, batched FETCH BODY.PEEK[],
parsing and the filter chain for each mail, then `do_receive_batch` (ticket, contact and the
automatic acknowledgement of up to 100 mails per transaction), until every ticket is committed. Prints the figures
(the CPU of the poller, of its parser process, of Dovecot and of PostgreSQL apart); target: 2,000 mails in <= 1.5 s on PostgreSQL (#18).
Nothing but 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import imaplib
import os
import sys
import tempfile
import time
import uuid
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from channels.email.config import load_mail_settings  # noqa: E402
from channels.email.poller import MailboxPoller  # noqa: E402
from channels.email.state import MailboxStatus  # noqa: E402
from entrypoints.bootstrap import settle_heap  # noqa: E402
from hub.config import load_settings  # noqa: E402
from hub.context import HubContext  # noqa: E402
from hub.db.migrate import upgrade  # noqa: E402
from tests.support import mailservers  # noqa: E402

DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def citizen_mail(run: str, n: int) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Ciutadà {n} <ciutada{n}.{run}@example.cat>"
    msg["To"] = "OAC Lleida <oac360@paeria.cat>"
    msg["Subject"] = f"Consulta sobre el padró núm. {n}"
    msg["Message-ID"] = f"<bench.{run}.{n}@example.cat>"
    msg["Date"] = "Mon, 23 Nov 2026 09:15:00 +0100"
    msg.set_content(
        "Bon dia,\n\nNecessito el certificat d'empadronament per a un tràmit. Com ho puc demanar?\n\n"
        "Gràcies.\n\nEl dl., 23 de nov. 2026, OAC <oac360@paeria.cat> va escriure:\n> Missatge anterior\n"
    )
    msg.add_alternative(f"<p>Bon dia,</p><p>Necessito el <b>certificat</b> ({n}).</p>", subtype="html")
    return msg.as_bytes(policy=SMTP)


def append_all(server: mailservers.Dovecot, folder: str, run: str, n: int) -> float:
    t0 = time.perf_counter()
    client = server.imap()
    try:
        client.create(folder)
        for i in range(n):
            typ, _ = client.append(folder, None, imaplib.Time2Internaldate(time.time()), citizen_mail(run, i))
            assert typ == "OK"
    finally:
        client.logout()
    return time.perf_counter() - t0


async def fresh_postgres(base: str) -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    name = f"hub_bench_mailbox_{uuid.uuid4().hex[:8]}"
    engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    return base.rsplit("/", 1)[0] + f"/{name}"


async def drop_postgres(base: str, url: str) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)'))
    await engine.dispose()


async def bench(url: str, server: mailservers.Dovecot, folder: str, workers: int, ack: bool, batch: int,
                data_dir: Path, freeze: bool = True) -> dict[str, float]:
    settings = load_settings(_env_file=None, database_url=url, data_dir=data_dir, auto_assign=False)
    mail = load_mail_settings(
        _env_file=None, mail_from="oac360@paeria.cat", imap_host=server.host, imap_port=server.port,
        imap_user=server.user, imap_password=server.password, imap_ssl=False, smtp_host="",
        imap_folder=folder, imap_workers=workers, mail_auto_ack=ack, imap_batch=batch,
    )
    ctx = HubContext.create(settings)
    poller = MailboxPoller(ctx, mail, MailboxStatus())
    if freeze:  # as `hub mailbox` does once started (entrypoints.bootstrap.settle_heap)
        settle_heap()
    dovecot = server.process.pid if server.process else 0
    try:
        mail_server0 = sum(process_cpu(pid) for pid in descendants(dovecot))
        t0, cpu0 = time.perf_counter(), time.process_time()
        await poller.connect()
        report = await poller.catch_up()
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        helpers = children_cpu(but=dovecot)  # the mail parser, its start included
        mail_server = sum(process_cpu(pid) for pid in descendants(dovecot)) - mail_server0
        database = await backends_cpu(ctx)
    finally:
        await poller.close()
        await ctx.close()
    return {"imported": report.count("imported"), "seconds": elapsed, "cpu": cpu, "helpers": helpers,
            "per_second": report.count("imported") / elapsed if elapsed else 0.0,
            "mail_server": mail_server, "database": database}


def process_cpu(pid: int) -> float:
    """CPU seconds a process has used (Linux /proc; 0 elsewhere or once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(root: int) -> list[int]:
    """Dovecot's processes (its IMAP sessions are children of its children)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir() if root else []:
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += [child for child, parent in parents.items() if parent == pid]
    return found


async def backends_cpu(ctx: HubContext) -> float:
    """CPU seconds used by the database server for this run: the PostgreSQL backends of the
    poller's connections (all opened by the run), none for SQLite (it runs in the poller)."""
    if ctx.settings.is_sqlite:
        return 0.0
    from sqlalchemy import text

    async with ctx.engine.connect() as conn:
        pids = (await conn.execute(text(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type = 'client backend'"
        ))).scalars().all()
    return sum(process_cpu(pid) for pid in pids)


def children_cpu(but: int) -> float:
    """CPU seconds used so far by this process's children but one (Linux /proc; 0 elsewhere)."""
    total, me = 0.0, str(os.getpid())
    for entry in Path("/proc").iterdir() if Path("/proc/self/stat").exists() else []:
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[1] == me and entry.name != str(but):
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--postgres", default=DEFAULT_PG, help="an admin URL; a fresh database is created")
    parser.add_argument("--sqlite", action="store_true", help="use a SQLite file instead of PostgreSQL")
    parser.add_argument("--workers", type=int, default=0, help="concurrent conversations (0: the default)")
    parser.add_argument("--no-ack", action="store_true", help="without automatic acknowledgements")
    parser.add_argument("--batch", type=int, default=200, help="HUB_IMAP_BATCH (default 200, as shipped)")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave what start-up loaded in the garbage collector's sight (hub mailbox freezes it)")
    args = parser.parse_args()
    run = uuid.uuid4().hex[:8]
    with tempfile.TemporaryDirectory() as tmp, mailservers.dovecot() as server:
        folder = f"bench{run}"
        appended = append_all(server, folder, run, args.n)
        print(f"appended {args.n} mails to Dovecot in {appended:.1f} s (not timed below)")
        if args.sqlite:
            url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.sqlite3'}"
            upgrade(url)
            backend = "sqlite"
        else:
            url = asyncio.run(fresh_postgres(args.postgres))
            upgrade(url)
            backend = "postgres"
        try:
            got = asyncio.run(bench(url, server, folder, args.workers, not args.no_ack, args.batch, Path(tmp) / "var",
                                    not args.no_freeze))
        finally:
            if not args.sqlite:
                asyncio.run(drop_postgres(args.postgres, url))
    print(f"backend={backend} workers={args.workers or 'default'} ack={'off' if args.no_ack else 'on'} batch={args.batch}")
    print(f"mails -> tickets: {int(got['imported'])} in {got['seconds']:.2f} s "
          f"({got['per_second']:.0f} mails/s; target 2,000 in <= 1.5 s on PostgreSQL, 3 s on SQLite)")
    print(f"CPU used by the poller process: {got['cpu']:.2f} s ({got['cpu'] / max(1, got['imported']) * 1000:.1f} ms per mail); "
          f"by its parser process: {got['helpers']:.2f} s (its start included)")
    print(f"CPU used by the mail server (Dovecot): {got['mail_server']:.2f} s; by the database server "
          f"(the PostgreSQL backends of the poller's connections): {got['database']:.2f} s")
    if os.getloadavg()[0] > os.cpu_count():  # the figures above are then not this machine's own
        print(f"warning: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs while measuring")


if __name__ == "__main__":
    main()
