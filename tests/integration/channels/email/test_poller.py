"""The poller against a real Dovecot: the corpus, re-fetching, restarts, processed mail,
login failures, IDLE, the one-poller lock and dropped connections."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from sqlmodel import update

from channels.email.poller import MailboxPoller
from channels.email.state import LOGIN_FAILURES, MailboxStatus
from hub.context import HubContext
from hub.db.tables import Attachment, MailboxState, Message, Ticket
from tests.support.email_channel import FIXTURES, fixture, mail_settings, rows, simple
from tests.support import mailservers


async def sync(ctx: HubContext, folder: str, **overrides: object):  # type: ignore[no-untyped-def]
    poller = MailboxPoller(ctx, mail_settings(imap_folder=folder, **overrides), MailboxStatus())
    await poller.connect()
    try:
        return await poller.catch_up()
    finally:
        await poller.close()


async def test_every_mail_of_the_corpus_is_ingested_or_quarantined_with_a_reason(
    imap_ctx: HubContext, dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    ctx = imap_ctx
    names = sorted(p.name for p in FIXTURES.glob("*.eml"))
    for name in names:
        dovecot_server.append(fixture(name), folder)
    huge = simple(99)  # a 20 MB attachment: the mail is imported, the attachment refused
    huge.add_attachment(os.urandom(20 * 1024 * 1024), maintype="application", subtype="octet-stream",
                        filename="scan.tiff")
    dovecot_server.append(huge, folder)
    report = await sync(ctx, folder, mail_max_message_bytes=40 * 1024 * 1024)
    assert len(report.outcomes) == len(names) + 1
    assert report.count("duplicate") == 0 and report.count("quarantined") == 1
    messages = await rows(ctx, Message, Message.direction == "in")
    assert len(messages) == len(names) + 1  # every one stored: none dropped
    by_subject = {m.meta.get("subject", ""): m for m in messages}
    quarantined = [m for m in messages if m.kind == "quarantined"]
    assert [m.meta["quarantine"] for m in quarantined] == ["no usable sender address (From)"]
    q = quarantined[0]
    assert (Path(ctx.settings.data_dir) / "quarantine" / q.meta["raw_key"]).read_bytes() == fixture("no_sender.eml").replace(b"\n", b"\r\n")
    tickets = {t.id: t for t in await rows(ctx, Ticket)}
    assert tickets[q.ticket_id].status == "waiting"  # visible in the queue, not dropped
    automatic = {m.meta.get("subject"): m.meta["automatic"] for m in messages if "automatic" in m.meta}
    assert set(automatic) >= {
        "Fora de l'oficina: Re: [OAC-2026-000001] Certificat", "Respuesta automática: Consulta padrón",
        "Undelivered Mail Returned to Sender", "[Butlletí] Novetats de la setmana",
    }
    big = by_subject["Consulta 99"]
    [scan] = await rows(ctx, Attachment, Attachment.message_id == big.id)
    assert scan.status == "rejected" and scan.reason == "too large: 20 MB (limit 15 MB)"
    # Acknowledgements went to people only: not to lists, bounces, auto-replies or the quarantine.
    acked = {m.ticket_id for m in await rows(ctx, Message, Message.kind == "auto")}
    first = {}
    for m in sorted(messages, key=lambda m: m.id):
        first.setdefault(m.ticket_id, m)
    machine = {t for t, m in first.items() if "automatic" in m.meta or m.kind == "quarantined"}
    assert len(machine) >= 4 and acked and not acked & machine
    assert acked == set(first) - machine


async def test_a_mail_over_the_size_limit_is_quarantined_without_downloading_it(
    imap_ctx: HubContext, dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    msg = simple(1)
    msg.add_attachment(b"x" * 300_000, maintype="application", subtype="pdf", filename="a.pdf")
    dovecot_server.append(msg, folder)
    [outcome] = (await sync(imap_ctx, folder, mail_max_message_bytes=100_000)).outcomes
    assert outcome.status == "quarantined"
    [stored] = await rows(imap_ctx, Message, Message.direction == "in")
    assert stored.kind == "quarantined" and stored.meta["quarantine"].startswith("message too large: ")
    assert stored.meta["quarantine"].endswith(" kB (limit 98 kB)")
    assert stored.meta["subject"] == "Consulta 1" and stored.provider_id == str(msg["Message-ID"]).strip("<>")
    assert await rows(imap_ctx, Attachment) == []


async def test_fetching_again_after_lost_state_or_new_uidvalidity_imports_nothing_twice(
    imap_ctx: HubContext, dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    for n in range(5):
        dovecot_server.append(simple(n), folder)
    first = await sync(imap_ctx, folder, imap_batch=2)
    assert first.count("imported") == 5 and first.last_uid == 5
    assert (await sync(imap_ctx, folder)).outcomes == []  # resumes after UID 5
    async with imap_ctx.sessionmaker() as s:  # the server's UIDVALIDITY changed
        await s.exec(update(MailboxState).values(uidvalidity=1, last_uid=0))  # type: ignore[call-overload]
        await s.commit()
    again = await sync(imap_ctx, folder)
    assert again.count("duplicate") == 5 and again.count("imported") == 0
    assert len(await rows(imap_ctx, Ticket)) == 5


async def test_a_large_batch_with_replies_across_its_runs_is_imported_in_order(
    imap_ctx: HubContext, dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    # 1,200 mails in one batch: more sizes than aioimaplib can take in one response (it
    # recursed per line and overflowed the stack), and many runs fetched, parsed and imported
    # side by side. Every 150th mail answers one from another run, which must be on its ticket.
    from email.utils import make_msgid

    client = dovecot_server.imap()
    ids: list[str] = []
    try:
        for n in range(1200):
            msg = simple(n, sender=f"c{n % 300}@example.cat")
            if n % 150 == 149:
                msg["In-Reply-To"] = f"<{ids[n - 120]}>"
                msg.replace_header("Subject", "Re: " + str(msg["Subject"]))
                msg.replace_header("From", f"c{(n - 120) % 300}@example.cat")
            ids.append(str(msg["Message-ID"]).strip("<>"))
            dovecot_server.append(msg, folder, client=client)
    finally:
        client.logout()
    report = await sync(imap_ctx, folder, imap_batch=1200)
    assert report.count("imported") == 1200 and report.last_uid == 1200
    inbound = {m.provider_id: m for m in await rows(imap_ctx, Message, Message.direction == "in")}
    assert len(inbound) == 1200
    for n in range(149, 1200, 150):
        assert inbound[ids[n]].ticket_id == inbound[ids[n - 120]].ticket_id, n
    assert len(await rows(imap_ctx, Ticket)) == 1200 - 8


async def test_processed_mail_is_marked_seen_or_moved_only_after_import(
    imap_ctx: HubContext, dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    dovecot_server.append(simple(1), folder)
    dovecot_server.append(simple(2), folder)
    assert all("\\Seen" not in f for f in dovecot_server.flags(folder).values())
    await sync(imap_ctx, folder, imap_processed="seen")
    assert all("\\Seen" in f for f in dovecot_server.flags(folder).values())
    done = folder + "-done"
    dovecot_server.create(done)
    dovecot_server.append(simple(3), folder)
    report = await sync(imap_ctx, folder, imap_processed=f"move:{done}")
    assert report.count("imported") == 1
    assert dovecot_server.count(done) == 1 and dovecot_server.count(folder) == 2
    assert len(await rows(imap_ctx, Ticket)) == 3


async def test_a_login_failure_is_visible_retried_and_never_fatal(
    imap_ctx: HubContext, dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    status = MailboxStatus()
    poller = MailboxPoller(imap_ctx, mail_settings(imap_folder=folder, imap_backoff_max="1s", imap_password="wrong"),
                           status)
    before = LOGIN_FAILURES._value.get()
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    deadline = time.monotonic() + 15
    while LOGIN_FAILURES._value.get() < before + 2 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert LOGIN_FAILURES._value.get() >= before + 2  # retried
    assert not task.done()  # still running
    assert status.probe().startswith("mailbox: login refused for oac360")
    [row] = await rows(imap_ctx, MailboxState)
    assert row.last_error and "login refused" in row.last_error
    # The operator fixes the password: the next attempt works and the probe is ok again.
    poller.mail = mail_settings(imap_folder=folder, imap_backoff_max="1s", imap_password=dovecot_server.password)
    dovecot_server.append(simple(1), folder)
    while not await rows(imap_ctx, Ticket) and time.monotonic() < deadline + 10:
        await asyncio.sleep(0.1)
    assert status.probe() == "ok" and len(await rows(imap_ctx, Ticket)) == 1
    stop.set()
    await asyncio.wait_for(task, 10)


async def test_idle_brings_new_mail_without_waiting_for_the_poll(
    imap_ctx: HubContext, dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    # A poll interval of an hour: only IDLE can bring the mail in time.
    poller = MailboxPoller(imap_ctx, mail_settings(imap_folder=folder, imap_idle=True, imap_poll_interval="1h"),
                           MailboxStatus())
    stop = asyncio.Event()
    task = asyncio.create_task(poller.run(stop))
    try:
        await asyncio.sleep(0.5)
        await asyncio.to_thread(dovecot_server.append, simple(1), folder)
        deadline = time.monotonic() + 15
        while not await rows(imap_ctx, Ticket) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert len(await rows(imap_ctx, Ticket)) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_mail_arriving_while_a_batch_is_imported_is_not_left_waiting_for_idle(
    imap_ctx: HubContext, dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    # Mail keeps arriving while the poller fetches: the server may announce it outside IDLE,
    # where nobody listens, so the poller searches again after every import before idling.
    # (The mixed-load fault test found 7 of 30 mails waiting for IDLE's end; this burst does not
    # reproduce that timing every time, it guards that bursts are imported promptly.)
    poller = MailboxPoller(imap_ctx, mail_settings(imap_folder=folder, imap_idle=True, imap_poll_interval="1h",
                                                   imap_batch=5), MailboxStatus())
    stop = asyncio.Event()
    total = 60
    for n in range(20):
        dovecot_server.append(simple(n), folder)
    task = asyncio.create_task(poller.run(stop))
    try:
        client = dovecot_server.imap()
        try:
            for n in range(20, total):  # a burst while the first batches are being fetched
                await asyncio.to_thread(dovecot_server.append, simple(n), folder, client=client)
        finally:
            client.logout()
        deadline = time.monotonic() + 20
        while len(await rows(imap_ctx, Ticket)) < total and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert len(await rows(imap_ctx, Ticket)) == total
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_two_pollers_on_one_mailbox_import_each_mail_once(
    imap_ctx: HubContext, dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    for n in range(20):
        dovecot_server.append(simple(n), folder)
    statuses = [MailboxStatus(), MailboxStatus()]
    pollers = [MailboxPoller(imap_ctx, mail_settings(imap_folder=folder), s) for s in statuses]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(p.run(stop)) for p in pollers]
    deadline = time.monotonic() + 15
    while len(await rows(imap_ctx, Ticket)) < 20 and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert sorted(s.active for s in statuses) == [False, True]
    stop.set()
    await asyncio.wait_for(asyncio.gather(*tasks), 10)
    assert len(await rows(imap_ctx, Message, Message.direction == "in")) == 20


async def test_a_dropped_connection_is_retried_and_the_poller_carries_on(
    ctx: HubContext,
) -> None:
    port = None
    with mailservers.dovecot() as first:
        port = first.port
        first.append(simple(1))
        status = MailboxStatus()
        poller = MailboxPoller(ctx, mail_settings(imap_idle=True, imap_backoff_max="1s", **first.settings()), status)
        stop = asyncio.Event()
        task = asyncio.create_task(poller.run(stop))
        deadline = time.monotonic() + 15
        while not await rows(ctx, Ticket) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert len(await rows(ctx, Ticket)) == 1
    # The server went away (and came back as a new mailbox: another UIDVALIDITY).
    deadline = time.monotonic() + 15
    while status.error is None and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert status.error is not None and not task.done()
    with mailservers.dovecot(port=port) as second:
        second.append(simple(2))
        while len(await rows(ctx, Ticket)) < 2 and time.monotonic() < deadline + 15:
            await asyncio.sleep(0.1)
        assert len(await rows(ctx, Ticket)) == 2 and status.probe() == "ok"
        stop.set()
        await asyncio.wait_for(task, 10)


async def test_while_the_parser_process_starts_mail_is_parsed_here_when_the_poller_is_idle() -> None:
    from channels.email.poller import INLINE_BYTES, Parsers, parser_command

    if (os.cpu_count() or 1) < 2:
        return  # one core: everything is parsed in the poller
    limits = (15 * 1024 * 1024, 30 * 1024 * 1024)
    small = [(simple(n).as_bytes(), None) for n in range(3)]
    big = simple(4)
    big.add_attachment(b"x" * INLINE_BYTES, maintype="application", subtype="pdf", filename="a.pdf")
    # A helper that takes a second to start (the real one takes about a tenth: too short to watch).
    parsers, idle = Parsers(parser_command(prelude="import time; time.sleep(1); ")), asyncio.Event()
    parsers.start()
    try:
        busy = asyncio.ensure_future(parsers.parse(small, False, limits, idle))  # an import is under way
        large = asyncio.ensure_future(parsers.parse([(big.as_bytes(), None)], False, limits, idle))
        await asyncio.sleep(0.05)
        assert not parsers.ready and not busy.done()  # the poller's time goes to the import
        idle.set()  # the import is done: the poller would only wait for the helper
        early = await asyncio.wait_for(busy, 5)
        assert not parsers.ready  # parsed here, without waiting for the helper to import the hub
        assert [p.subject for p in early] == ["Consulta 0", "Consulta 1", "Consulta 2"]
        [parsed] = await asyncio.wait_for(large, 60)  # too big to hold the event loop: the helper's
        assert parsers.ready and parsed.subject == "Consulta 4" and parsed.parts[0].rejected is None
        later = await parsers.parse(small, False, limits, idle)
        assert [p.provider_id for p in later] == [p.provider_id for p in early]
    finally:
        await parsers.close()


async def test_mail_the_parser_process_had_when_it_died_is_parsed_here_and_a_fresh_one_takes_the_next() -> None:
    from channels.email.poller import Parsers

    if (os.cpu_count() or 1) < 2:
        return
    limits = (15 * 1024 * 1024, 30 * 1024 * 1024)
    mails = [(simple(n).as_bytes(), None) for n in range(3)]
    parsers = Parsers()
    parsers.start()
    try:
        first = await parsers.parse(mails, False, limits)
        assert parsers.ready
        killed = parsers._process
        assert killed is not None
        killed.kill()  # out of memory, an operator's kill -9 ...
        again = await asyncio.wait_for(parsers.parse(mails, False, limits), 10)
        assert [p.provider_id for p in again] == [p.provider_id for p in first]
        later = await asyncio.wait_for(parsers.parse(mails, False, limits), 10)
        assert [p.subject for p in later] == ["Consulta 0", "Consulta 1", "Consulta 2"]
        assert parsers.ready and parsers._process not in (None, killed)
    finally:
        await parsers.close()


def test_the_parser_process_imports_the_mail_parser_but_not_the_hub() -> None:
    import subprocess
    import sys

    code = ("import sys; import channels.email.parser_process; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('hub', 'runtime', 'sqlalchemy', 'entrypoints')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_parser_process_ends_when_the_poller_is_killed() -> None:
    import signal
    import subprocess
    import sys

    if not Path("/proc/self/stat").exists():
        pytest.skip("reads /proc to tell a process has ended")
    poller = subprocess.Popen([sys.executable, "-c", (
        "import asyncio, sys\n"
        "from channels.email.poller import Parsers\n"
        "async def main():\n"
        "    parsers = Parsers(); parsers.start()\n"
        "    await parsers.parse([(b'From: a@b\\r\\n\\r\\nhi', None)], False, (1, 1))\n"
        "    print(parsers._process.pid, flush=True)\n"
        "    await asyncio.sleep(60)\n"
        "asyncio.run(main())\n"
    )], stdout=subprocess.PIPE, text=True)
    try:
        assert poller.stdout is not None
        helper = int(poller.stdout.readline())
        poller.send_signal(signal.SIGKILL)  # no clean-up of any kind
        poller.wait(10)
        deadline = time.monotonic() + 10
        while _running(helper) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(helper)
    finally:
        poller.kill()


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")  # a zombie has ended (its new parent reaps it)


def test_fetch_responses_are_read_whether_the_uid_comes_before_or_after_the_literal() -> None:
    from channels.email.poller import parse_fetch

    lines = [
        b"1 FETCH (UID 7 RFC822.SIZE 5 BODY[] {5}", bytearray(b"hello"), b")",
        b"2 FETCH (BODY[] {3}", bytearray(b"bye"), b" UID 9)",
        b"Fetch completed.",
    ]
    got = parse_fetch(lines)
    assert got[7] == {"uid": 7, "size": 5, "data": b"hello"}
    assert got[9]["data"] == b"bye"


def test_a_batch_is_split_into_conversations_that_keep_their_order() -> None:
    from channels.email.parse import parse_mail
    from channels.email.poller import conversations

    def m(uid: int, sender: str, msgid: str, reply_to: str = "", subject: str = "x") -> tuple[int, object, bytes]:
        raw = f"From: {sender}\r\nMessage-ID: <{msgid}>\r\nSubject: {subject}\r\n"
        raw += f"In-Reply-To: <{reply_to}>\r\n" if reply_to else ""
        return (uid, parse_mail((raw + "\r\nhi").encode()), b"")

    batch = [
        m(1, "a@x", "a1"), m(2, "b@x", "b1"), m(3, "c@x", "c1", reply_to="a1"),
        m(4, "d@x", "d1", subject="Re: [OAC-2026-000001]"), m(5, "e@x", "e1", subject="[OAC-2026-000001] bis"),
        m(6, "a@x", "a2"),
    ]
    groups = sorted([uid for uid, _, _ in g] for g in conversations(batch))  # type: ignore[arg-type]
    assert groups == [[1, 3, 6], [2], [4, 5]]
