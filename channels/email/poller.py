"""The mailbox poller: IMAP (aioimaplib) -> `Pipeline.ingest_batch`, conversations in UID order.

- Resumes by UID from `mailbox_state`; when the server's UIDVALIDITY changed, starts over
  from UID 1 (the duplicate filter recognises what was already imported).
- Fetches in batches with `BODY.PEEK[]` (never sets \\Seen itself); a mail larger than
  HUB_MAIL_MAX_MESSAGE_BYTES is not downloaded: its headers are, and it is quarantined.
- Only after a batch's tickets are committed does it apply HUB_IMAP_PROCESSED
  (`keep`, `seen`, or `move:<folder>`) and advance `last_uid`.
- IMAP IDLE when the server offers it (re-issued every HUB_IMAP_IDLE_TIMEOUT), otherwise a
  poll every HUB_IMAP_POLL_INTERVAL.
- Connection and login errors are logged, shown in `/readyz` and `/metrics`, and retried
  with exponential backoff; they never end the process.
- TLS: HUB_IMAP_SSL=true (the default) is implicit TLS with certificate checks; plaintext only
  when HUB_IMAP_SSL=false is configured. (aioimaplib has no STARTTLS, so there is nothing to
  downgrade from.)
- One active poller per mailbox: a leader lock named after the mailbox; a second poller waits.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import pickle
import re
import ssl
import sys
from collections import deque
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

import aioimaplib

from channels.email.config import MailSettings, mailbox_name
from channels.email.parse import ParsedMail
from channels.email.parse import parse_many
from channels.email.parser_process import FRAME
from channels.email.pipeline import Outcome, Pipeline
from channels.email.state import IMPORTED, STATUS, MailboxStatus, load_position, save_error, save_position
from hub.context import HubContext

log = logging.getLogger(__name__)

_FETCH_UID = re.compile(rb"\bUID (\d+)")
_FETCH_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]")
_REFERENCE = re.compile(r"\b[A-Z][A-Z0-9]{0,9}-\d{4}-\d{6,}\b")
FETCH_VOLUME = 32 * 1024 * 1024  # bytes of mail per FETCH command
CHUNK = 100  # mails parsed together, then imported together
TRANSACTION = 100  # at most this many mails per import transaction
SIZES_AT_ONCE = 250
INLINE_BYTES = 2 * 1024 * 1024  # at most this much mail is parsed in the poller while its helper starts


class LoginFailed(Exception):
    pass


class ImapError(Exception):
    pass


@dataclass
class Report:
    """What one catch-up did (for logs, tests and the bench)."""

    outcomes: list[Outcome] = field(default_factory=list)
    uidvalidity: int = 0
    last_uid: int = 0

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)


def parse_fetch(lines: list[bytes | bytearray]) -> dict[int, dict[str, object]]:
    """UID FETCH response lines -> {uid: {"size": int, "data": bytes}}."""
    out: dict[int, dict[str, object]] = {}
    current: dict[str, object] | None = None
    for line in lines:
        if isinstance(line, bytearray):
            if current is not None:
                current["data"] = bytes(line)
            continue
        if b"FETCH (" in line:
            current = {}
            _fields(line, current)
            if "uid" in current:
                out[int(current["uid"])] = current  # type: ignore[call-overload]
        elif current is not None and "uid" not in current:
            _fields(line, current)  # the UID may come after the literal
            if "uid" in current:
                out[int(current["uid"])] = current  # type: ignore[call-overload]
    return out


async def uid_fetch(client: aioimaplib.IMAP4, uid_set: str, parts: str) -> aioimaplib.Response:
    """`client.uid("fetch", uid_set, parts)`, answered by `_Fetch`."""
    protocol = client.protocol
    return await protocol.execute(_Fetch(protocol.new_tag(), uid_set, parts, prefix="UID", loop=protocol.loop,
                                         timeout=client.timeout))


class _Fetch(aioimaplib.FetchCommand):
    """aioimaplib's FETCH command, with two of its costs per response line removed (together
    about a sixth of the poller's CPU on a catch-up):

    - "is a message's data still coming?" (`wait_data`) re-read every line received so far,
      which made a response of 100 mails quadratic; here the parentheses are counted from the
      last `n FETCH (` line on, only over the lines not yet seen: the same answer.
    - the timeout was re-armed per line (a timer cancelled and scheduled); here each line
      moves a deadline, and the timer, when it fires, waits again until the deadline if
      data came meanwhile: the same timeout (no data for `timeout` seconds)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._seen = 0  # response lines already counted
        self._open = 0  # '(' minus ')' since the last "n FETCH (" line
        super().__init__(*args, **kwargs)

    def wait_data(self) -> bool:
        lines = self._resp_lines
        match = self.FETCH_MESSAGE_DATA_RE.match
        for index in range(self._seen, len(lines)):
            line = lines[index]
            if isinstance(line, bytes):  # literal data comes as bytearray: not counted
                balance = line.count(b"(") - line.count(b")")
                self._open = balance if match(line) else self._open + balance
        self._seen = len(lines)
        return self._open != 0

    def _set_timer(self) -> None:
        if self._timeout is not None:
            self._deadline = self._loop.time() + self._timeout
            self._timer = self._loop.call_at(self._deadline, self._expire)

    def _reset_timer(self) -> None:
        if self._timeout is not None:
            self._deadline = self._loop.time() + self._timeout

    def _expire(self) -> None:
        if self._loop.time() < self._deadline:  # data came meanwhile
            self._timer = self._loop.call_at(self._deadline, self._expire)
        else:
            self._timeout_callback()


def _fields(line: bytes, into: dict[str, object]) -> None:
    if m := _FETCH_UID.search(line):
        into["uid"] = int(m.group(1))
    if m := _FETCH_SIZE.search(line):
        into["size"] = int(m.group(1))


@dataclass
class _Run:
    """A run of mails being imported (`MailboxPoller.catch_up`)."""

    index: int  # of its batch
    last_of_batch: bool
    keys: set[str]  # its mails' `conversation_keys`
    outcomes: list[Outcome] = field(default_factory=list)
    task: asyncio.Future[None] = field(init=False)


class MailboxPoller:
    def __init__(self, ctx: HubContext, mail: MailSettings, status: MailboxStatus = STATUS) -> None:
        self.ctx = ctx
        self.mail = mail
        self.status = status
        self.folder = mail.imap_folder
        self.mailbox = mailbox_name(mail, self.folder)
        self.pipeline = Pipeline(ctx, mail)
        self.parsers = Parsers()
        self.client: aioimaplib.IMAP4 | None = None
        # Concurrent imports (distinct conversations only). SQLite has one writer at a time.
        self.workers = mail.imap_workers or (1 if ctx.settings.is_sqlite else 8)
        self.runs_at_once = 2 if self.workers > 1 else 1  # a run imported while the one before commits
        self._lost = asyncio.Event()

    # Connection -------------------------------------------------------------------------

    async def connect(self) -> aioimaplib.IMAP4:
        s = self.mail
        self.parsers.start()  # it imports while we log in; it parses from the first chunks on
        context = ssl.create_default_context() if s.imap_ssl else None
        if context is None and s.imap_host not in ("127.0.0.1", "localhost", "::1"):
            log.warning("IMAP to %s without TLS, as configured (HUB_IMAP_SSL=false)", s.imap_host)
        self._lost = asyncio.Event()
        timeout = self.mail.imap_timeout.total_seconds()
        client = aioimaplib.IMAP4(host=s.imap_host, port=s.imap_port, timeout=timeout,
                                  conn_lost_cb=lambda exc: self._lost.set(), ssl_context=context)
        self.client = client
        # A server that closes the connection before its greeting (e.g. still starting) would
        # leave the greeting wait hanging until the timeout: a lost connection ends it too.
        hello = asyncio.ensure_future(client.wait_hello_from_server())
        lost = asyncio.ensure_future(self._lost.wait())
        done, _ = await asyncio.wait({hello, lost}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        lost.cancel()
        if hello not in done:
            hello.cancel()
            raise ImapError("the IMAP server closed the connection before its greeting" if done else
                            "no greeting from the IMAP server")
        hello.result()
        response = await client.login(s.imap_user, s.imap_password)
        if response.result != "OK":
            text = b" ".join(l for l in response.lines if isinstance(l, bytes)).decode(errors="replace")
            raise LoginFailed(f"login refused for {s.imap_user}: {text or response.result}")
        return client

    async def close(self) -> None:
        await self.disconnect()
        await self.parsers.close()

    async def disconnect(self) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        with suppress(Exception):
            if not self._lost.is_set():  # a dead connection cannot say goodbye
                if client.has_pending_idle():
                    client.idle_done()
                await asyncio.wait_for(client.logout(), 5)
        with suppress(Exception):
            if client.protocol.transport is not None:
                client.protocol.transport.close()

    async def _check(self, response: aioimaplib.Response, what: str) -> aioimaplib.Response:
        if response.result != "OK":
            raise ImapError(f"{what} failed: {response.result} {response.lines[-1:]!r}")
        return response

    # Catching up ------------------------------------------------------------------------

    async def catch_up(self, limit: int | None = None) -> Report:
        """Import every mail after the last imported UID (at most `limit`, for tests)."""
        client = self.client
        assert client is not None
        selected = await self._check(await client.select(self.folder), f"SELECT {self.folder}")
        uidvalidity = next((int(m.group(1)) for l in selected.lines if isinstance(l, bytes)
                            if (m := _UIDVALIDITY.search(l))), 0)
        position = await load_position(self.ctx, self.mailbox)
        last_uid = 0
        if position is not None and position.uidvalidity == uidvalidity:
            last_uid = position.last_uid
        elif position is not None:
            log.warning("%s: UIDVALIDITY changed (%s -> %s): scanning again, duplicates are skipped",
                        self.mailbox, position.uidvalidity, uidvalidity)
        if position is None or position.uidvalidity != uidvalidity:
            await save_position(self.ctx, self.mailbox, uidvalidity, last_uid)
        report = Report(uidvalidity=uidvalidity, last_uid=last_uid)
        found = await self._check(await client.uid_search(f"UID {last_uid + 1}:*", charset=None), "UID SEARCH")
        uids = sorted(int(u) for line in found.lines[:1] if isinstance(line, bytes) for u in line.split()
                      if u.isdigit() and int(u) > last_uid)
        if limit is not None:
            uids = uids[:limit]
        batches = [uids[i:i + self.mail.imap_batch] for i in range(0, len(uids), self.mail.imap_batch)]
        idle = asyncio.Event()  # set while nothing is imported: the poller only waits for the next run
        idle.set()
        steps = self._steps(client, batches, idle).__aiter__()

        async def next_step() -> tuple[int, bool, list[tuple[int, ParsedMail, bytes]]] | None:
            return await anext(steps, None)

        # A pipeline over runs of mails in UID order: while one run is imported, the next one
        # is parsed (pure CPU, in the parser process) and the one after it fetched. On
        # PostgreSQL a run is imported while the one before it is still being written, unless
        # one of its mails may belong to a conversation of that run (`conversation_keys`): then
        # it waits for that commit, so a reply finds the ticket of the mail it answers. Once a
        # batch's last run is committed, and every run before it (and the fetch running
        # meanwhile has ended: one IMAP command at a time), the batch is marked processed and
        # the position saved.
        ahead: asyncio.Future[tuple[int, bool, list[tuple[int, ParsedMail, bytes]]] | None] | None
        ahead = asyncio.ensure_future(next_step())
        imports: deque[_Run] = deque()  # runs being imported, in UID order
        workers = asyncio.Semaphore(self.workers)

        def imported(_: object) -> None:
            if all(run.task.done() for run in imports):
                idle.set()

        async def settle(run: _Run) -> None:
            nonlocal ahead
            try:
                await run.task
            finally:
                report.outcomes.extend(run.outcomes)
            if run.last_of_batch:
                following = await ahead
                ahead = asyncio.ensure_future(asyncio.sleep(0, following))
                batch = batches[run.index]
                await self._processed(client, batch)
                report.last_uid = batch[-1]
                await save_position(self.ctx, self.mailbox, uidvalidity, batch[-1])

        try:
            while (step := await ahead) is not None:
                index, last_of_batch, mails = step
                ahead = asyncio.ensure_future(next_step())
                keys = {key for _, parsed, _ in mails for key in conversation_keys(parsed)}
                while imports and (len(imports) >= self.runs_at_once or any(keys & run.keys for run in imports)):
                    await settle(imports.popleft())
                idle.clear()
                run = _Run(index, last_of_batch, keys)
                run.task = asyncio.ensure_future(self._import_parsed(mails, run.outcomes, workers))
                imports.append(run)
                run.task.add_done_callback(imported)
            while imports:
                await settle(imports.popleft())
        finally:
            for run in imports:  # an import failed: let the others end first
                with suppress(BaseException):
                    await run.task
            if not ahead.done():  # and the fetch under way
                with suppress(Exception):
                    await ahead
            await steps.aclose()
        return report

    async def _steps(
        self, client: aioimaplib.IMAP4, batches: list[list[int]], idle: asyncio.Event,
    ) -> AsyncIterator[tuple[int, bool, list[tuple[int, ParsedMail, bytes]]]]:
        """(batch index, last run of its batch?, the run's parsed mails), in UID order.

        A run is fetched while the one before it is parsed: when a run is handed out, the next
        one is already downloaded (no IMAP command is under way) and being parsed."""
        limit = self.mail.mail_max_message_bytes
        pending: tuple[int, bool, asyncio.Future[list[tuple[int, ParsedMail, bytes]]]] | None = None
        try:
            for index, batch in enumerate(batches):
                sizes: dict[int, dict[str, object]] = {}
                # aioimaplib handles the lines of one read recursively: a response of more than
                # about 900 lines overflows Python's stack. Ask for SIZES_AT_ONCE sizes at a time.
                for start in range(0, len(batch), SIZES_AT_ONCE):
                    uid_set = ",".join(str(u) for u in batch[start:start + SIZES_AT_ONCE])
                    sizes.update(parse_fetch((await self._check(
                        await uid_fetch(client, uid_set, "(UID RFC822.SIZE)"), "UID FETCH sizes")).lines))
                big = {u for u in batch if int(sizes.get(u, {}).get("size", 0)) > limit}  # type: ignore[call-overload]
                # Runs of at most FETCH_VOLUME bytes and CHUNK mails: memory stays bounded (three
                # runs at most: one imported, one parsed, one just fetched).
                runs = _by_volume(batch, sizes, FETCH_VOLUME, big, CHUNK)
                for number, run in enumerate(runs):
                    fetched = await self._fetch(client, run, sizes, run[0] in big)
                    parsing = asyncio.ensure_future(self._parse(fetched, run[0] in big, idle))
                    if pending is not None:
                        yield pending[0], pending[1], await pending[2]
                    pending = (index, number == len(runs) - 1, parsing)
            if pending is not None:
                last, pending = pending, None
                yield last[0], last[1], await last[2]
        finally:
            if pending is not None:
                pending[2].cancel()

    async def _fetch(
        self, client: aioimaplib.IMAP4, run: list[int], sizes: dict[int, dict[str, object]], headers_only: bool,
    ) -> list[tuple[int, bytes, int]]:
        """(uid, raw mail, size) of each mail of the run still on the server."""
        part = "(UID BODY.PEEK[HEADER])" if headers_only else "(UID BODY.PEEK[])"
        response = await uid_fetch(client, ",".join(map(str, run)), part)
        bodies = parse_fetch((await self._check(response, "UID FETCH")).lines)
        fetched: list[tuple[int, bytes, int]] = []
        for uid in run:
            raw = bodies.get(uid, {}).get("data")
            if not isinstance(raw, bytes):
                continue  # expunged meanwhile: nothing to import
            fetched.append((uid, raw, int(sizes.get(uid, {}).get("size", len(raw)))))  # type: ignore[call-overload]
        return fetched

    async def _parse(
        self, fetched: list[tuple[int, bytes, int]], headers_only: bool, idle: asyncio.Event | None = None,
    ) -> list[tuple[int, ParsedMail, bytes]]:
        parsed = await self.parsers.parse([(raw, size) for _, raw, size in fetched], headers_only, self.pipeline.limits,
                                          idle)
        return [(uid, mail, raw) for (uid, raw, _), mail in zip(fetched, parsed)]

    async def _import_parsed(
        self, mails: list[tuple[int, ParsedMail, bytes]], into: list[Outcome], workers: asyncio.Semaphore,
    ) -> None:
        """Import a run, conversations side by side; its outcomes go `into` in UID order."""
        await self.pipeline.lookups.prefetch([parsed.provider_id for _, parsed, _ in mails])
        outcomes: dict[int, Outcome] = {}

        async def run(chunk: list[tuple[int, ParsedMail, bytes]]) -> None:
            async with workers:
                outcomes.update(await self._ingest_chunk(chunk))

        # Round k takes the k-th mail of every conversation: the mails of a round are unrelated,
        # so they are imported side by side, in transactions of up to TRANSACTION mails; a reply
        # comes a round after the mail it answers, once that one is committed.
        groups = conversations(mails)
        failures: list[BaseException] = []
        for k in range(max((len(g) for g in groups), default=0)):
            round_ = [g[k] for g in groups if len(g) > k]
            parts = [round_[i:i + TRANSACTION] for i in range(0, len(round_), TRANSACTION)]
            results = await asyncio.gather(*(run(p) for p in parts), return_exceptions=True)
            failures = [r for r in results if isinstance(r, BaseException)]
            if failures:
                break
        for uid in sorted(outcomes):
            IMPORTED.labels(outcomes[uid].status).inc()
            into.append(outcomes[uid])
        if failures:
            raise failures[0]

    async def _ingest_chunk(self, chunk: list[tuple[int, ParsedMail, bytes]]) -> dict[int, Outcome]:
        try:
            got = await self.pipeline.ingest_batch([(parsed, raw) for _, parsed, raw in chunk])
            return {uid: outcome for (uid, _, _), outcome in zip(chunk, got)}
        except Exception:
            if not await self._database_ok():
                raise  # the hub is down, not the mail: retry the whole batch later
            if len(chunk) == 1:
                return {chunk[0][0]: await self._ingest(chunk[0][1], chunk[0][2])}
            # Nothing of the chunk was stored: import its mails one by one to isolate the culprit.
            log.warning("%s: a batch of %d mails failed; importing them one by one", self.mailbox, len(chunk))
            return {uid: await self._ingest(parsed, raw) for uid, parsed, raw in chunk}

    async def _ingest(self, parsed: ParsedMail, raw: bytes) -> Outcome:
        try:
            return await self.pipeline.ingest_parsed(parsed, raw)
        except Exception as exc:
            if not await self._database_ok():
                raise  # the hub is down, not the mail: retry the whole batch later
            # A mail that breaks the pipeline itself must not block the mailbox forever.
            log.exception("%s: importing a mail failed; quarantining it", self.mailbox)
            return await self.pipeline.quarantine(parsed, raw, f"import failed ({type(exc).__name__}: {exc})"[:300])

    async def _database_ok(self) -> bool:
        from sqlalchemy import text

        try:
            async with self.ctx.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def _processed(self, client: aioimaplib.IMAP4, batch: list[int]) -> None:
        action = self.mail.imap_processed
        if action == "keep" or not batch:
            return
        uid_set = ",".join(map(str, batch))
        if action == "seen":
            await self._check(await client.uid("store", uid_set, "+FLAGS", r"(\Seen)"), "UID STORE")
            return
        target = action.split(":", 1)[1]
        if client.has_capability("MOVE"):
            await self._check(await client.uid("move", uid_set, target), "UID MOVE")
        else:
            await self._check(await client.uid("copy", uid_set, target), "UID COPY")
            await self._check(await client.uid("store", uid_set, "+FLAGS", r"(\Deleted)"), "UID STORE")
            if client.has_capability("UIDPLUS"):
                await self._check(await client.uid("expunge", uid_set), "UID EXPUNGE")

    # Waiting for news -------------------------------------------------------------------

    async def wait_for_news(self, stop: asyncio.Event) -> None:
        client = self.client
        assert client is not None
        if not (self.mail.imap_idle and client.has_capability("IDLE")):
            await _wait(stop, self.mail.imap_poll_interval.total_seconds(), self._lost)
            return
        # Even in IDLE, look again at least every poll interval: a mail delivered between our
        # last search and the start of IDLE may never be announced to us.
        timeout = min(self.mail.imap_idle_timeout, self.mail.imap_poll_interval).total_seconds()
        idle = await client.idle_start(timeout=timeout)
        try:
            while client.has_pending_idle() and not stop.is_set() and not self._lost.is_set():
                push = asyncio.ensure_future(client.wait_server_push())
                stopper = asyncio.ensure_future(stop.wait())
                lost = asyncio.ensure_future(self._lost.wait())
                done, pending = await asyncio.wait({push, stopper, lost}, return_when=asyncio.FIRST_COMPLETED)
                for task in pending:
                    task.cancel()
                if push not in done:
                    break
                lines = push.result()
                if lines == aioimaplib.STOP_WAIT_SERVER_PUSH:
                    break
                if any(isinstance(l, bytes) and (l.endswith(b"EXISTS") or l.endswith(b"RECENT")) for l in lines):
                    break
        finally:
            if client.has_pending_idle():
                client.idle_done()
            with suppress(asyncio.TimeoutError, asyncio.CancelledError, Exception):
                await asyncio.wait_for(idle, 5)
        if self._lost.is_set():
            raise ImapError("connection lost")

    # The service ------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Poll until `stop` is set. Never raises for mailbox trouble."""
        from runtime.scheduler import LeaderLock

        lock = LeaderLock(self.ctx, "mailbox-" + hashlib.sha1(self.mailbox.encode()).hexdigest()[:12])
        delay = 1.0
        try:
            while not stop.is_set():
                if not await lock.acquire():
                    self.status.active = False
                    await _wait(stop, self.mail.imap_poll_interval.total_seconds())
                    continue
                self.status.active = True
                try:
                    await self.connect()
                    self.status.ok()
                    delay = 1.0
                    while not stop.is_set():
                        report = await self.catch_up()
                        if report.outcomes:
                            log.info("%s: %d imported, %d quarantined, %d duplicates", self.mailbox,
                                     report.count("imported"), report.count("quarantined"), report.count("duplicate"))
                        await save_position(self.ctx, self.mailbox, report.uidvalidity, report.last_uid)
                        if not await lock.acquire():
                            break
                        if report.outcomes:
                            # Mail that arrived while we fetched was announced (EXISTS) outside
                            # IDLE, where nobody listens: search again before going idle.
                            continue
                        await self.wait_for_news(stop)
                except LoginFailed as exc:
                    await self._trouble(str(exc), login=True)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    await self._trouble(f"{type(exc).__name__}: {exc}")
                else:
                    continue
                finally:
                    await self.disconnect()
                    self.status.disconnected()
                await _wait(stop, delay)
                delay = min(delay * 2, self.mail.imap_backoff_max.total_seconds())
        finally:
            await self.disconnect()
            await self.parsers.close()
            await lock.release()

    async def _trouble(self, error: str, login: bool = False) -> None:
        log.error("%s: %s (retrying)", self.mailbox, error)
        self.status.failed(error, login=login)
        with suppress(Exception):
            await save_error(self.ctx, self.mailbox, error)


class ParserGone(Exception):
    """The parser process ended (killed, out of memory) or could not start."""


def parser_command(prelude: str = "") -> list[str]:
    """How the parser process is started: this interpreter with this process's `sys.path`,
    importing nothing but `parser_process` (`prelude`: code run first, for tests)."""
    code = f"import sys; sys.path[:] = {sys.path!r}; {prelude}from channels.email.parser_process import serve; serve()"
    return [sys.executable, "-c", code]


class Parsers:
    """Parsing mail is pure CPU: it runs in a helper process, so the event loop stays free (a
    20 MB mail does not stall IDLE or the database) and, on a machine with more than one core,
    the next run is parsed while the previous one is written. With one core, or if the helper
    cannot start, mails are parsed in this process.

    The helper (`parser_process.py`: a fresh interpreter that imports the mail parser only)
    is started when the poller connects and is ready in about a tenth of a second. Until it
    has answered, a run of at most INLINE_BYTES is parsed here as soon as the poller would
    only wait for it (`idle`: nothing is being imported); otherwise the poller's time goes to
    imports. Runs are written to the helper as they come and answered in order (`_answers`),
    so it never waits for the poller between two runs. If it dies, the runs it had are parsed
    here and a fresh one is started for the next."""

    def __init__(self, command: list[str] | None = None) -> None:
        self._command = command or parser_command()
        self._process: asyncio.subprocess.Process | None = None
        self._ready: asyncio.Future[asyncio.subprocess.Process] | None = None
        self._reader: asyncio.Future[None] | None = None
        self._answers: deque[asyncio.Future[list[ParsedMail]]] = deque()  # one per run written, in order
        self._inline = (os.cpu_count() or 1) < 2

    @property
    def ready(self) -> bool:
        """Has the helper process answered (so runs go to it)?"""
        ready = self._ready
        return ready is not None and ready.done() and not ready.cancelled() and ready.exception() is None

    def start(self) -> None:
        """Start the helper process (if not running), without waiting for it."""
        if self._inline or self._ready is not None:
            return
        self._ready = asyncio.ensure_future(self._spawn())
        self._ready.add_done_callback(lambda ready: ready.cancelled() or ready.exception())  # seen in parse

    async def _spawn(self) -> asyncio.subprocess.Process:
        process = await asyncio.create_subprocess_exec(
            *self._command, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, limit=1 << 20,
        )
        self._process = process
        assert process.stdout is not None
        try:
            if await _read_frame(process.stdout) is not True:
                raise ParserGone("the mail parser process said something else than ready")
        except BaseException as exc:
            self._gone(process)
            if isinstance(exc, Exception) and not isinstance(exc, ParserGone):
                raise ParserGone(f"the mail parser process did not start ({type(exc).__name__})") from exc
            raise
        self._reader = asyncio.ensure_future(self._read_answers(process))
        return process

    async def _read_answers(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        try:
            while True:
                ok, value = await _read_frame(process.stdout)
                answer = self._answers.popleft()
                if answer.done():  # its caller was cancelled meanwhile
                    continue
                if ok:
                    answer.set_result(value)
                else:
                    answer.set_exception(RuntimeError(f"the mail parser process failed: {value}"))
        except Exception as exc:  # it ended (or wrote nonsense): nobody may wait for it any more
            self._gone(process, exc)

    def _gone(self, process: asyncio.subprocess.Process, exc: BaseException | None = None) -> None:
        with suppress(ProcessLookupError):
            process.kill()
        if self._process is not process:  # given up already (its runs were answered then)
            return
        self._process = None
        answers, self._answers = self._answers, deque()
        for answer in answers:
            if not answer.done():
                answer.set_exception(ParserGone(f"the mail parser process ended ({exc!r})"))

    async def parse(
        self, items: list[tuple[bytes, int | None]], headers_only: bool, limits: tuple[int, int],
        idle: asyncio.Event | None = None,
    ) -> list[ParsedMail]:
        self.start()
        ready = self._ready
        if ready is None:
            return parse_many(items, headers_only, limits)
        if not ready.done() and idle is not None and sum(len(raw) for raw, _ in items) <= INLINE_BYTES:
            waiting = asyncio.ensure_future(idle.wait())
            try:
                await asyncio.wait({ready, waiting}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiting.cancel()
            if not ready.done():  # the poller has nothing else to do, the helper is still starting
                return parse_many(items, headers_only, limits)
        try:
            process = await asyncio.shield(ready)
        except (ParserGone, OSError) as exc:  # it never started (no processes here, limits): parse here
            if self._ready is ready:
                log.warning("mail parser process unavailable (%s); parsing in the poller", exc)
                self._inline, self._ready = True, None
            return parse_many(items, headers_only, limits)
        try:
            return await self._ask(process, items, headers_only, limits)
        except ParserGone:  # it died (killed, out of memory): a fresh one next time
            log.warning("the mail parser process died; parsing this run in the poller")
            if self._ready is ready:
                self._ready = None
            return parse_many(items, headers_only, limits)

    async def _ask(
        self, process: asyncio.subprocess.Process, items: list[tuple[bytes, int | None]], headers_only: bool,
        limits: tuple[int, int],
    ) -> list[ParsedMail]:
        if process is not self._process or process.stdin is None:
            raise ParserGone("the mail parser process ended")
        data = pickle.dumps((items, headers_only, limits), protocol=pickle.HIGHEST_PROTOCOL)
        answer: asyncio.Future[list[ParsedMail]] = asyncio.get_running_loop().create_future()
        self._answers.append(answer)
        process.stdin.write(FRAME.pack(len(data)) + data)
        try:
            await process.stdin.drain()
        except ConnectionError as exc:
            self._gone(process, exc)
        return await answer

    async def close(self) -> None:
        """End the helper: its input ends and it exits (killed if it has not within 5 s)."""
        ready, process, reader = self._ready, self._process, self._reader
        self._ready = self._process = self._reader = None
        for future in (ready, reader, *self._answers):
            if future is not None:
                future.cancel()
        self._answers.clear()
        if process is None:
            return
        try:
            if process.stdin is not None:
                process.stdin.close()
            with suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), 5)
        finally:
            if process.returncode is None:
                with suppress(ProcessLookupError):
                    process.kill()


async def _read_frame(stream: asyncio.StreamReader) -> Any:
    (size,) = FRAME.unpack(await stream.readexactly(FRAME.size))
    return pickle.loads(await stream.readexactly(size))


def conversation_keys(parsed: ParsedMail) -> list[str]:
    """What links a mail to others (its own id first): two mails sharing none of them are
    imported side by side, in any order."""
    keys = [f"id:{parsed.provider_id}", f"from:{parsed.from_addr}"]
    keys += [f"id:{i}" for i in parsed.in_reply_to + parsed.references]
    keys += [f"ref:{r}" for r in _REFERENCE.findall(parsed.subject)]
    if parsed.report_original_id:
        keys.append(f"id:{parsed.report_original_id}")
    return keys


def conversations(mails: list[tuple[int, ParsedMail, bytes]]) -> list[list[tuple[int, ParsedMail, bytes]]]:
    """Split a batch into groups that can be imported side by side.

    Mails that may touch the same contact or thread (same sender, or linked by Message-ID,
    In-Reply-To, References or the ticket reference in the subject) stay in one group, in UID
    order, so a reply is always threaded after the mail it answers; distinct groups run
    concurrently.
    """
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    keys_of: list[list[str]] = []
    for _uid, parsed, _raw in mails:
        keys = conversation_keys(parsed)
        keys_of.append(keys)
        for key in keys[1:]:
            parent[find(key)] = find(keys[0])
    groups: dict[str, list[tuple[int, ParsedMail, bytes]]] = {}
    for mail, keys in zip(mails, keys_of):
        groups.setdefault(find(keys[0]), []).append(mail)
    return list(groups.values())


def _by_volume(
    uids: list[int], sizes: dict[int, dict[str, object]], volume: int, big: set[int], most: int = 1 << 30,
) -> list[list[int]]:
    """Consecutive runs of UIDs of one kind (whole mail / headers only) of at most `volume`
    bytes and `most` mails."""
    groups: list[list[int]] = []
    total = 0
    for uid in uids:
        size = 64 * 1024 if uid in big else int(sizes.get(uid, {}).get("size", 0))  # type: ignore[call-overload]
        if (not groups or total + size > volume or (groups[-1][0] in big) != (uid in big)
                or len(groups[-1]) >= most):
            groups.append([])
            total = 0
        groups[-1].append(uid)
        total += size
    return groups


async def _wait(stop: asyncio.Event, seconds: float, also: asyncio.Event | None = None) -> None:
    waiters = [asyncio.ensure_future(stop.wait())]
    if also is not None:
        waiters.append(asyncio.ensure_future(also.wait()))
    done, pending = await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
