"""The production topology on throwaway servers: `hub web`, `hub worker` and `hub scheduler`
processes on a PostgreSQL and a Redis of this module's own, Twilio played by the fake and mail
sent to an aiosmtpd sink. Tests break one part (restart the database, the broker, refuse mail)
and then reconcile what was stored and sent against what went in.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fault_stack import ROOT, HubProcess, OwnPostgres, OwnRedis, hub_env, wait_for
from tests.support import databases, fake_twilio, services
from tests.support.fake_twilio import FakeTwilio

pytestmark = pytest.mark.slow


TABLES = ("audit_log, options, texts, survey_responses, inbox, outbox, events, calls, attachments, messages, "
          "tickets, identities, contacts, api_tokens, agents, mailbox_state")


@dataclass
class Topology:
    pg: OwnPostgres
    redis: OwnRedis
    twilio: FakeTwilio
    smtp: Any
    env: dict[str, str]
    base: str
    logs: Path
    port: int
    procs: dict[str, HubProcess] = field(default_factory=dict)

    def start(self, name: str, *command: str) -> HubProcess:
        self.procs[name] = HubProcess(list(command), self.env, self.logs / f"{name}.log")
        return self.procs[name]

    def start_all(self) -> None:
        """Start `hub web`, `hub worker` and `hub scheduler` unless running; wait until served."""
        if not services.port_open("127.0.0.1", self.redis.port):
            self.redis.start()
        for name, command in (("web", ["web", "--port", str(self.port)]), ("worker", ["worker", "--threads", "4"]),
                              ("scheduler", ["scheduler"])):
            if name not in self.procs or not self.procs[name].alive():
                self.start(name, *command)

        def healthy() -> bool:
            for name, proc in self.procs.items():
                if not proc.alive():
                    pytest.fail(f"hub {name} exited:\n{proc.output()[-3000:]}")
            try:
                return httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(healthy, 60, "hub web to serve")

    def webhook(self, sid: str, body: str, number: str, timeout: float = 10.0) -> int:
        """A signed WhatsApp webhook; the HTTP status, or 0 when nothing answered."""
        try:
            return int(fake_twilio.post_webhook(self.base, self.base, "/webhooks/twilio/whatsapp",
                                                fake_twilio.inbound_form(sid, body, number=number),
                                                timeout=timeout).status_code)
        except httpx.HTTPError:
            return 0

    def token(self) -> str:
        from hub.passwords import hash_password

        self.pg.query(
            "INSERT INTO agents (email, name, password_hash, role, presence, capacity, active, language, created_at) "
            f"VALUES ('agent@example.org', 'Jordi Vidal', '{hash_password('fault-password-1')}', 'agent', 'available', "
            "1000, true, 'ca', now()) ON CONFLICT DO NOTHING"
        )
        r = httpx.post(f"{self.base}/api/v1/auth/token",
                       json={"email": "agent@example.org", "password": "fault-password-1"}, timeout=10)
        assert r.status_code == 201, r.text + "\n" + self.procs["web"].output()[-1500:]
        return str(r.json()["token"])

    @contextmanager
    def settings(self, **values: str | None) -> Iterator[None]:
        """Run the processes with these variables changed (None: unset, the hub's default), then as before."""
        saved = dict(self.env)
        self.stop_all()
        self.env.update({k: v for k, v in values.items() if v is not None})
        for key in [k for k, v in values.items() if v is None]:
            self.env.pop(key, None)
        try:
            self.start_all()
            yield
        finally:
            self.stop_all()
            self.env.clear()
            self.env.update(saved)
            self.start_all()

    def stop_all(self) -> None:
        for proc in self.procs.values():
            proc.stop()
        self.procs.clear()

    def all_output(self) -> str:
        return "\n".join(p.output() for p in self.procs.values())


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    """One topology for the whole fault suite (starting it is the slow part); tests reset it.

    It brings its own PostgreSQL, so the result does not depend on HUB_TEST_DATABASE: CI runs
    the suite once, in its PostgreSQL pass (HUB_TEST_FAULTS=1 runs it in any pass).
    """
    if databases.backend() != "postgres" and os.environ.get("HUB_TEST_FAULTS", "") in ("", "0"):
        pytest.skip("the fault suite runs in the PostgreSQL pass (HUB_TEST_DATABASE=postgres or HUB_TEST_FAULTS=1)")
    from tests.support.mailservers import smtp_sink

    tmp_path = tmp_path_factory.mktemp("faults")
    pg = OwnPostgres()
    redis: OwnRedis | None = None
    twilio = FakeTwilio().start()
    top: Topology | None = None
    try:
        subprocess.run([sys.executable, "-m", "entrypoints.cli", "migrate"], env=hub_env(HUB_DATABASE_URL=pg.url),
                       cwd=ROOT, check=True, capture_output=True, timeout=180)
        redis = OwnRedis()
        port = services.free_port()
        base = f"http://127.0.0.1:{port}"
        logs = tmp_path / "logs"
        logs.mkdir()
        with smtp_sink() as smtp:
            env = hub_env(
                HUB_DATABASE_URL=pg.url, HUB_BROKER_URL=redis.url, HUB_REDIS_URL=redis.url,
                HUB_DATA_DIR=str(tmp_path / "var"), HUB_PUBLIC_URL=base,
                HUB_TWILIO_ACCOUNT_SID=twilio.account_sid, HUB_TWILIO_AUTH_TOKEN=twilio.auth_token,
                HUB_TWILIO_WHATSAPP_FROM=fake_twilio.WHATSAPP_FROM, HUB_TWILIO_API_URL=twilio.url,
                HUB_SMTP_HOST=smtp.host, HUB_SMTP_PORT=str(smtp.port), HUB_SMTP_TLS="none",
                HUB_MAIL_FROM="oac360@paeria.cat",
                HUB_OUTBOX_STUCK_AFTER="2s", HUB_OUTBOX_LEASE="10s", HUB_SCHEDULER_INTERVAL="1s",
                HUB_WHATSAPP_REMINDER_AFTER="3s", HUB_WHATSAPP_CLOSE_AFTER="3s",
            )
            top = Topology(pg, redis, twilio, smtp, env, base, logs, port)
            top.start_all()
            yield top
    finally:
        if top is not None:
            for proc in top.procs.values():
                proc.stop()
        twilio.stop()
        if redis is not None:
            redis.close()
        pg.close()


@pytest.fixture
def topology(stack: Topology) -> Iterator[Topology]:
    """The shared topology, emptied: no rows, no queued jobs, nothing recorded by the fakes."""
    stack.pg.query(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    subprocess.run(["redis-cli", "-p", str(stack.redis.port), "flushall"], check=True, capture_output=True)
    stack.twilio.reset()
    stack.smtp.messages.clear()
    stack.smtp.replies.clear()
    stack.start_all()  # whatever a previous test stopped
    yield stack
