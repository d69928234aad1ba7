"""A worker killed in the middle of a send: the message still reaches the citizen, once.

Real processes: `hub worker` and `hub scheduler` on Redis, the database of this run, and the
fake Twilio answering slowly so the worker can be killed (SIGKILL) while the send is in flight.
Twilio has the message; the restarted worker asks Twilio before sending again, and records it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlmodel import select

from hub.actions.messages import do_receive_message
from hub.context import HubContext
from hub.db.tables import Message, Outbox
from hub.inbound import IdentityIn, InboundMessage
from tests.support.whatsapp_channel import whatsapp_settings
from tests.support import services
from tests.support.fake_twilio import FakeTwilio

ROOT = Path(__file__).resolve().parents[4]
REDIS_DB = 13  # a database of its own: the test flushes it

pytestmark = pytest.mark.slow


def _env(settings, twilio: FakeTwilio, broker_url: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(
        PYTHONPATH=str(ROOT), HUB_DATABASE_URL=settings.database_url, HUB_BROKER_URL=broker_url, HUB_OFFICE_HOURS="always",
        HUB_DATA_DIR=str(settings.data_dir), HUB_PUBLIC_URL=settings.public_url,
        HUB_SECRET_KEY="test-secret-key-0123456789", HUB_TWILIO_ACCOUNT_SID=twilio.account_sid,
        HUB_TWILIO_AUTH_TOKEN=twilio.auth_token, HUB_TWILIO_WHATSAPP_FROM="whatsapp:+14155238886",
        HUB_TWILIO_API_URL=twilio.url, HUB_OUTBOX_LEASE="4s", HUB_OUTBOX_STUCK_AFTER="1s",
        HUB_LOG_LEVEL="WARNING",
    )
    return env


def _start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "entrypoints.cli", *args], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


async def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


async def test_a_send_interrupted_by_a_killed_worker_completes_after_restart(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, twilio: FakeTwilio,
) -> None:
    import redis

    redis_url = services.require_redis().rsplit("/", 1)[0] + f"/{REDIS_DB}"
    redis.Redis.from_url(redis_url).flushdb()
    settings = whatsapp_settings(monkeypatch, tmp_path, db_url, twilio)
    ctx = HubContext.create(settings)  # the system clock: the processes use it too
    procs: list[subprocess.Popen[bytes]] = []
    try:
        from datetime import UTC, datetime

        await do_receive_message(ctx, InboundMessage(
            channel="whatsapp", provider_id="SM1", received_at=datetime.now(UTC), body="Hola",
            identities=[IdentityIn("phone", "+34600111222")],
        ))
        await asyncio.sleep(1.1)  # older than HUB_OUTBOX_STUCK_AFTER: the relay will pick it up
        twilio.delay_s = 3.0
        env = _env(settings, twilio, redis_url)
        worker = _start(["worker", "--threads", "2"], env, tmp_path)
        procs += [worker, _start(["scheduler"], env, tmp_path)]

        async def in_flight() -> bool:
            return len(twilio.attempts()) >= 1
        await _wait(in_flight, 30, "the first send to reach Twilio")
        worker.send_signal(signal.SIGKILL)  # mid-send: Twilio has it, the hub has not heard back
        worker.wait(5)
        twilio.delay_s = 0.0
        async with ctx.sessionmaker() as s:
            [row] = (await s.exec(select(Outbox))).all()
        assert row.status == "sending"

        procs.append(_start(["worker", "--threads", "2"], env, tmp_path))

        async def sent() -> bool:
            async with ctx.sessionmaker() as s:
                return (await s.exec(select(Outbox))).one().status == "sent"
        await _wait(sent, 45, "the restarted worker to finish the send")
        async with ctx.sessionmaker() as s:
            [message] = (await s.exec(select(Message).where(Message.direction == "out"))).all()
        [attempt] = twilio.attempts()  # the one in flight at the crash; not sent again
        lookups = [r for r in twilio.requests if r.method == "GET" and "/Messages.json" in r.path]
        assert len(lookups) == 1 and message.provider_id == attempt.sid and message.meta.get("recovered") is True
    finally:
        for p in procs:
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        await ctx.close()
        redis.Redis.from_url(redis_url).flushdb()
