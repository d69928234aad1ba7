"""Prometheus metrics served at `/metrics` by every `hub web` (and `hub run`).

Two kinds, documented in deploy/README.md:

- Per process (this web instance): HTTP request latency by route. Sum or compare them across
  instances as usual.
- From the database, so they are the same whatever process did the work (a worker sending, the
  mailbox poller reading mail, another web instance): outbox depth and oldest pending age,
  delivery failures, timers due and late, queue length and longest wait, agents available,
  inbound messages by channel, IMAP lag. Every web instance reports the same values: aggregate
  them with `max`, not `sum`. They come from a few indexed COUNT/MIN queries, run at most once
  per `CACHE_S` per process, whatever the scrape rate.

`observe` is the ASGI middleware that times requests and binds the request id for the logs.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import re
import time
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import bindparam, text

from hub.db.types import UTCDateTime

from runtime import logs

log = logging.getLogger(__name__)

CACHE_S = 5.0
TIMER_LATE_AFTER = timedelta(seconds=2)  # the target: timers fire within 2 s of due time

# Per process ------------------------------------------------------------------------------------

REQUEST_LATENCY = Histogram(
    "hub_http_request_duration_seconds",
    "Time from a request's arrival to the start of its response (SSE streams: until they open)",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

# From the database ------------------------------------------------------------------------------

INBOUND = Counter(
    "hub_inbound_messages", "Inbound messages stored (any process) since this web process started", ["channel"],
)
OUTBOX_DEPTH = Gauge("hub_outbox_pending", "Outbound messages not yet delivered (pending or sending)", ["channel"])
OUTBOX_AGE = Gauge("hub_outbox_oldest_pending_age_seconds", "Age of the oldest undelivered outbound message")
DELIVERY_FAILURES = Gauge(
    "hub_delivery_failures", "Outbound messages that failed for good, by channel and provider error code",
    ["channel", "reason"],
)
INBOX_PENDING = Gauge("hub_inbox_pending", "Inbound messages accepted by a webhook and not yet processed")
TIMERS_DUE = Gauge("hub_timers_due", "Ticket timers (reminder, close) whose due time has passed", ["kind"])
TIMERS_LATE = Gauge("hub_timers_late", "Ticket timers more than 2 s past their due time", ["kind"])
QUEUE_LENGTH = Gauge("hub_queue_length", "Tickets waiting in the queue for an agent", ["channel"])
QUEUE_WAIT = Gauge("hub_queue_longest_wait_seconds", "How long the longest-waiting queued ticket has waited")
AGENTS_AVAILABLE = Gauge("hub_agents_available", "Active agents whose presence is available")
IMAP_LAG = Gauge(
    "hub_imap_seconds_since_last_poll", "Seconds since the mailbox poller last read a mailbox successfully",
    ["mailbox"],
)
IMAP_FAILING = Gauge("hub_imap_failing", "1 when the mailbox's last poll ended in an error", ["mailbox"])
SCRAPE_ERRORS = Counter("hub_metrics_db_errors", "Failed database reads while refreshing the metrics")

# Each query reads an index range of the rows that matter now (undelivered, failed, due, waiting),
# never a whole table: bench/metrics.py times them at a million tickets.
QUERIES = {
    "outbox": "SELECT channel, count(*), min(created_at) FROM outbox WHERE status IN ('pending', 'sending') "
              "GROUP BY channel",
    "failures": "SELECT o.channel, coalesce(m.error_code, 'unknown'), count(*) FROM outbox o "
                "JOIN messages m ON m.id = o.message_id WHERE o.status = 'failed' GROUP BY o.channel, m.error_code",
    "inbox": "SELECT count(*) FROM inbox WHERE processed_at IS NULL",
    "timers": "SELECT coalesce(due_kind, 'unknown'), count(*), sum(CASE WHEN due_at <= :late THEN 1 ELSE 0 END) "
              "FROM tickets WHERE due_at IS NOT NULL AND due_at <= :now GROUP BY due_kind",
    "queue": "SELECT channel, count(*), min(queued_at) FROM tickets WHERE status = 'waiting' GROUP BY channel",
    "agents": "SELECT count(*) FROM agents WHERE active AND presence = 'available'",
    "messages_top": "SELECT max(id) FROM messages",
    "inbound": "SELECT channel, count(*) FROM messages WHERE id > :after AND id <= :top AND direction = 'in' "
               "GROUP BY channel",
    "mailboxes": "SELECT mailbox, last_ok_at, last_error, updated_at FROM mailbox_state",
}

_refreshed_at = 0.0
_refresh_lock: asyncio.Lock | None = None
_inbound_watermark: int | None = None


def _age(now: datetime, then: Any) -> float:
    if then is None:
        return 0.0
    if isinstance(then, str):  # SQLite aggregates return text
        then = datetime.fromisoformat(then)
    if then.tzinfo is None:
        then = then.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - then).total_seconds())


async def refresh(ctx: Any) -> None:
    """Re-read the database gauges if the cached ones are older than CACHE_S."""
    global _refreshed_at, _refresh_lock
    if time.monotonic() - _refreshed_at < CACHE_S:
        return
    if _refresh_lock is None:
        _refresh_lock = asyncio.Lock()
    async with _refresh_lock:
        if time.monotonic() - _refreshed_at < CACHE_S:
            return
        try:
            await asyncio.wait_for(_read(ctx), timeout=5)
        except Exception:
            SCRAPE_ERRORS.inc()
            log.warning("metrics: reading the database failed", exc_info=True)
        _refreshed_at = time.monotonic()


async def _read(ctx: Any) -> None:
    global _inbound_watermark
    now = ctx.clock.now()
    async with ctx.engine.connect() as conn:
        async def rows(sql: str, **params: Any) -> list[Any]:
            stmt = text(sql)
            for name, value in params.items():
                if isinstance(value, datetime):  # stored as naive UTC text on SQLite
                    stmt = stmt.bindparams(bindparam(name, type_=UTCDateTime()))
            return list((await conn.execute(stmt, params)).all())

        outbox = await rows(QUERIES["outbox"])
        OUTBOX_DEPTH.clear()
        for channel, n, _ in outbox:
            OUTBOX_DEPTH.labels(channel).set(n)
        oldest = [r[2] for r in outbox if r[2] is not None]
        OUTBOX_AGE.set(max((_age(now, t) for t in oldest), default=0.0))

        DELIVERY_FAILURES.clear()
        for channel, reason, n in await rows(QUERIES["failures"]):
            DELIVERY_FAILURES.labels(channel, reason).set(n)

        INBOX_PENDING.set((await rows(QUERIES["inbox"]))[0][0])

        TIMERS_DUE.clear()
        TIMERS_LATE.clear()
        for kind, due, late in await rows(QUERIES["timers"], now=now, late=now - TIMER_LATE_AFTER):
            TIMERS_DUE.labels(kind).set(due)
            TIMERS_LATE.labels(kind).set(late or 0)

        QUEUE_LENGTH.clear()
        waits = []
        for channel, n, first in await rows(QUERIES["queue"]):
            QUEUE_LENGTH.labels(channel).set(n)
            waits.append(_age(now, first))
        QUEUE_WAIT.set(max(waits, default=0.0))

        AGENTS_AVAILABLE.set((await rows(QUERIES["agents"]))[0][0])

        # Inbound messages: only the rows added since the last scrape (a primary-key range).
        top = (await rows(QUERIES["messages_top"]))[0][0] or 0
        if _inbound_watermark is None:
            _inbound_watermark = top
        elif top > _inbound_watermark:
            for channel, n in await rows(QUERIES["inbound"], after=_inbound_watermark, top=top):
                INBOUND.labels(channel).inc(n)
            _inbound_watermark = top

    # The mailbox table belongs to the email channel; without it there is no IMAP to watch.
    try:
        async with ctx.engine.connect() as conn:
            mailboxes = (await conn.execute(text(QUERIES["mailboxes"]))).all()
    except Exception:
        mailboxes = []
    IMAP_LAG.clear()
    IMAP_FAILING.clear()
    for mailbox, last_ok, last_error, updated in mailboxes:
        IMAP_LAG.labels(mailbox).set(_age(now, last_ok or updated))
        IMAP_FAILING.labels(mailbox).set(1 if last_error else 0)


def reset_for_tests() -> None:
    global _refreshed_at, _inbound_watermark
    _refreshed_at, _inbound_watermark = 0.0, None


# The web middleware --------------------------------------------------------------------------

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _RequestIds:
    """16 hex digits: this process's random prefix, then a counter (`uuid4` read the kernel's
    random source on every request; an id only has to tell one request's log lines apart)."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # a forked worker gets its own prefix

    def reset(self) -> None:
        self._prefix = os.urandom(4).hex()
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter) & 0xFFFFFFFF:08x}"


_REQUEST_IDS = _RequestIds()


def observe(app: Any) -> Any:
    """ASGI middleware: time each request by route template; bind request and ticket ids for logs.

    A proxy's `X-Request-ID` is reused when it looks sane, else one is made; it is echoed in the
    response so an operator can find the log lines of a request a user reports.
    """

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        incoming = next((v for k, v in scope.get("headers") or () if k == b"x-request-id"), b"").decode("latin-1")
        rid = incoming if _REQUEST_ID.match(incoming) else _REQUEST_IDS.new()
        params = scope.get("path_params") or {}
        route = scope.get("path_template") or "unmatched"
        tid = params.get("ticket_id") or (params.get("id") if "/tickets/" in route else None)
        rid_token = logs.request_id.set(rid)
        tid_token = logs.ticket_id.set(tid)
        started = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                REQUEST_LATENCY.labels(scope["method"], route, str(message["status"])).observe(
                    time.perf_counter() - started)
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await app(scope, receive, send_wrapper)
        finally:
            logs.request_id.reset(rid_token)
            logs.ticket_id.reset(tid_token)

    return middleware
