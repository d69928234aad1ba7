"""The multi-instance proof: the production topology as real processes, driven end to end.

Two `hub web` (ports A and B, as behind a proxy: `HUB_PUBLIC_URL` is the public address),
`hub worker`, `hub scheduler` and `hub mailbox`, on PostgreSQL (a fresh database, migrated by
`hub migrate`), Redis (broker on one index, sessions and live updates on another), Dovecot
(IMAP), an aiosmtpd server (SMTP) and the fake Twilio. Agents are created with `hub agents add`.

A WhatsApp conversation and an email conversation run from the first message to the answered
survey, through both web instances; an agent on each instance watches its own instance's live
stream and sees the changes made through the other instance's API, and the worker's and the
mailbox poller's changes.

Each process has a `HUB_DATA_DIR` of its own, as on separate machines, and files live in the
database (`HUB_ATTACHMENTS=database`): a photo the worker fetched and a PDF the mailbox poller
read are downloaded, the same bytes, from either web instance.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import Iterator
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support import databases, fake_twilio, mailservers, services
from tests.e2e.topology.harness import LiveStream, Topology, wait_until
from tests.support.cookies import csrf_token, session_cookie

# Real processes on PostgreSQL and Redis whatever HUB_TEST_DATABASE says: run them once, in the
# PostgreSQL run (CI's second run; locally HUB_TEST_DATABASE=postgres).
pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.skipif(
    databases.backend() != "postgres", reason="runs in the PostgreSQL run (HUB_TEST_DATABASE=postgres)")]

PUBLIC_URL = "https://hub.example.org"  # what Twilio and citizens see; the proxy forwards to A or B
PASSWORD = "topology-password-123"
CITIZEN = "+34600123456"


def _fresh_database() -> str:
    base = services.require_postgres()
    name = f"hub_test_topology_{services.free_port()}"
    admin = base.rsplit("/", 1)[0] + "/postgres"
    asyncio.run(databases._exec_autocommit(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(databases._exec_autocommit(admin, f'CREATE DATABASE "{name}"'))
    return base.rsplit("/", 1)[0] + f"/{name}"


def _drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    asyncio.run(databases._exec_autocommit(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _redis_indexes() -> tuple[str, str]:
    """Two Redis database indexes of our own (broker, sessions + live), emptied first."""
    import redis

    base = services.require_redis().rsplit("/", 1)[0]
    for index in (10, 11):
        redis.Redis.from_url(f"{base}/{index}").flushdb()
    return f"{base}/10", f"{base}/11"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    services.require_dovecot()
    root = tmp_path_factory.mktemp("topology")
    db_url = _fresh_database()
    broker_url, redis_url = _redis_indexes()
    twilio = fake_twilio.FakeTwilio().start()
    with mailservers.dovecot() as imap, mailservers.smtp_sink() as smtp:
        env = Topology.environment(
            HUB_DATABASE_URL=db_url, HUB_BROKER_URL=broker_url, HUB_REDIS_URL=redis_url,
            HUB_PUBLIC_URL=PUBLIC_URL, HUB_SECRET_KEY="topology-secret-key-0123456789abcdef",
            HUB_DATA_DIR=str(root / "data"), HUB_AUTO_ASSIGN="false", HUB_LOG_FORMAT="json",
            HUB_ATTACHMENTS="database",
            HUB_TWILIO_ACCOUNT_SID=twilio.account_sid, HUB_TWILIO_AUTH_TOKEN=twilio.auth_token,
            HUB_TWILIO_WHATSAPP_FROM=fake_twilio.WHATSAPP_FROM, HUB_TWILIO_API_URL=twilio.url,
            HUB_IMAP_HOST=imap.host, HUB_IMAP_PORT=str(imap.port), HUB_IMAP_USER=imap.user,
            HUB_IMAP_PASSWORD=imap.password, HUB_IMAP_SSL="false", HUB_IMAP_POLL_INTERVAL="1s",
            HUB_SMTP_HOST=smtp.host, HUB_SMTP_PORT=str(smtp.port), HUB_SMTP_TLS="none",
            HUB_MAIL_FROM="OAC Lleida <oac360@oac.example>",
        )
        topology = Topology(root, env, (services.free_port(), services.free_port()), separate_hosts=True)
        try:
            migrated = topology.run("migrate")
            assert migrated.returncode == 0, migrated.stderr
            topology.launch()  # the processes boot while the one-shot commands run
            *added, checked = topology.run_many([
                (["agents", "add", "anna@oac.example", "--name", "Anna Puig", "--role", "agent"], PASSWORD + "\n"),
                (["agents", "add", "bernat@oac.example", "--name", "Bernat Solé", "--role", "agent"], PASSWORD + "\n"),
                (["check"], ""),
            ])
            assert all(a.returncode == 0 for a in added), [a.stderr for a in added]
            assert checked.returncode == 0, checked.stdout + checked.stderr
            topology.wait_ready()
            yield {"topology": topology, "twilio": twilio, "imap": imap, "smtp": smtp, "db_url": db_url}
        except BaseException:
            print(topology.logs())
            raise
        finally:
            codes = topology.stop()
            twilio.stop()
            _drop_database(db_url)
    # Every process stops cleanly on SIGTERM (exit 0), as systemd and Kubernetes expect.
    assert all(code == 0 for code in codes.values()), (codes, topology.stop_seconds, topology.logs())


def cookie_header(client: httpx.Client) -> dict[str, str]:
    """Cookies sent by hand: they are `Secure` (HUB_PUBLIC_URL is https, as behind the TLS proxy),
    so a client talking plain HTTP to an instance, as the proxy does, would not send them."""
    return {"cookie": "; ".join(f"{c.name}={c.value}" for c in client.cookies.jar)}


class Agent:
    """An agent working on one instance: an API token and a logged-in browser session there."""

    def __init__(self, base_url: str, email: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=15)
        token = self.http.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert token.status_code == 201, token.text
        self.headers = {"authorization": f"Bearer {token.json()['token']}"}
        self.browser = httpx.Client(base_url=base_url, timeout=15)
        self.browser.get("/login")
        logged = self.browser.post("/login", headers=cookie_header(self.browser), data={
            "email": email, "password": PASSWORD, "next": "/", "_csrf_token": csrf_token(self.browser)})
        assert logged.status_code in (200, 303) and session_cookie(self.browser), logged.text
        self.id = self.get("/api/v1/agents/me")["id"]

    def get(self, path: str, **params: Any) -> Any:
        answer = self.http.get(path, params=params, headers=self.headers)
        assert answer.status_code == 200, (path, answer.status_code, answer.text)
        return answer.json()

    def post(self, path: str, body: dict[str, Any] | None = None, expect: int = 200) -> Any:
        answer = self.http.post(path, json=body or {}, headers=self.headers)
        assert answer.status_code == expect, (path, answer.status_code, answer.text)
        return answer.json()

    def stream(self) -> LiveStream:
        return LiveStream(self.base_url, cookie_header(self.browser))

    def close(self) -> None:
        self.http.close()
        self.browser.close()


def _tickets(agent: Agent, channel: str) -> list[dict[str, Any]]:
    return agent.get("/api/v1/tickets", channel=channel)["tickets"]


def _answer_survey(base_url: str, survey_url: str, rating: int) -> None:
    assert survey_url.startswith(PUBLIC_URL + "/survey/"), survey_url
    path = survey_url[len(PUBLIC_URL):]
    with httpx.Client(base_url=base_url, timeout=15) as citizen:
        form = citizen.get(path)
        assert form.status_code == 200, form.text
        thanks = citizen.post(path, headers=cookie_header(citizen), data={
            "rating": str(rating), "comment": "Molt bé", "_csrf_token": csrf_token(citizen)})
        assert thanks.status_code == 200, thanks.text
        assert citizen.get(path).status_code in (404, 410)  # single use


def _survey_answered(db_url: str, ticket_id: int) -> int | None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def read() -> int | None:
        engine = create_async_engine(db_url)
        try:
            async with engine.connect() as conn:
                return (await conn.execute(text(
                    "SELECT rating FROM survey_responses WHERE ticket_id = :t AND answered_at IS NOT NULL"),
                    {"t": ticket_id})).scalar()
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_whatsapp_and_email_conversations_across_two_web_instances(world: dict[str, Any]) -> None:
    topology: Topology = world["topology"]
    twilio: fake_twilio.FakeTwilio = world["twilio"]
    smtp: mailservers.SmtpSink = world["smtp"]
    imap: mailservers.Dovecot = world["imap"]
    a_url, b_url = topology.url(0), topology.url(1)
    anna, bernat = Agent(a_url, "anna@oac.example"), Agent(b_url, "bernat@oac.example")
    try:
        # Sessions live in Redis: Anna's browser session, made on A, is valid on B too.
        assert httpx.get(f"{b_url}/api/v1/agents/me", headers=cookie_header(anna.browser), timeout=10).status_code == 200

        for url in (a_url, b_url):  # a first scrape: inbound counters count from here on
            assert httpx.get(f"{url}/metrics", timeout=10).status_code == 200

        with anna.stream() as on_a, bernat.stream() as on_b:
            # --- WhatsApp: Twilio calls the public URL; the proxy hands it to instance B -----------
            hello = fake_twilio.post_webhook(b_url, PUBLIC_URL, "/webhooks/twilio/whatsapp",
                                             fake_twilio.inbound_form("SM" + "a" * 32, "Hola, el padró", CITIZEN))
            assert hello.status_code in (200, 201), hello.text
            ticket = wait_until(lambda: next(iter(_tickets(anna, "whatsapp")), None), 20, "the WhatsApp ticket")
            wa_id = ticket["id"]
            on_a.wait_for("A hears of the ticket the worker created", ticket_id=wa_id)
            on_b.wait_for("B hears of the ticket the worker created", ticket_id=wa_id)
            wait_until(lambda: any(r.value("To") == f"whatsapp:{CITIZEN}" for r in twilio.sent()), 20,
                       "the welcome asking the citizen's name")
            named = fake_twilio.post_webhook(a_url, PUBLIC_URL, "/webhooks/twilio/whatsapp",
                                             fake_twilio.inbound_form("SM" + "b" * 32, "Em dic Laia Serra", CITIZEN))
            assert named.status_code in (200, 201), named.text
            wait_until(lambda: anna.get(f"/api/v1/tickets/{wa_id}")["ticket"]["status"] == "waiting", 20,
                       "the named citizen to wait in the queue")

            # Anna takes it on A; Bernat's tab on B sees it.
            mark = len(on_b.notices)
            anna.post(f"/api/v1/tickets/{wa_id}/assign")
            wait_until(lambda: any(n.get("ticket_id") == wa_id for n in on_b.notices[mark:]), 20,
                       "B's stream to hear of the assignment made on A")
            anna.post(f"/api/v1/tickets/{wa_id}/messages", {"body": "Bon dia Laia, li explico el tràmit."}, expect=201)
            wait_until(lambda: any(r.value("Body") == "Bon dia Laia, li explico el tràmit." for r in twilio.sent()),
                       20, "the agent's reply to reach Twilio")
            # Bernat adds a note on B; Anna's tab on A sees it.
            mark = len(on_a.notices)
            bernat.post(f"/api/v1/tickets/{wa_id}/notes", {"body": "Ja té cita prèvia."}, expect=201)
            wait_until(lambda: any(n.get("ticket_id") == wa_id for n in on_a.notices[mark:]), 20,
                       "A's stream to hear of the note added on B")
            resolved = anna.post(f"/api/v1/tickets/{wa_id}/resolve")
            assert resolved["survey_url"]
            wait_until(lambda: any(resolved["survey_url"] in (r.value("Body") or "") for r in twilio.sent()), 20,
                       "the survey link sent on WhatsApp")
            _answer_survey(b_url, resolved["survey_url"], 5)
            assert _survey_answered(world["db_url"], wa_id) == 5

            # --- Email: the mailbox poller reads it from Dovecot ------------------------------
            first = EmailMessage()
            first["From"], first["To"] = "Laia Serra <laia@example.net>", "oac360@oac.example"
            first["Subject"], first["Message-ID"] = "Certificat d'empadronament", make_msgid(domain="example.net")
            first.set_content("Bon dia, necessito un certificat.")
            imap.append(first)
            ticket = wait_until(lambda: next(iter(_tickets(bernat, "email")), None), 30, "the email ticket")
            mail_id = ticket["id"]
            on_a.wait_for("A hears of the ticket the mailbox poller created", ticket_id=mail_id)

            # Bernat takes and answers it on B; Anna's tab on A sees it.
            mark = len(on_a.notices)
            bernat.post(f"/api/v1/tickets/{mail_id}/assign")
            wait_until(lambda: any(n.get("ticket_id") == mail_id for n in on_a.notices[mark:]), 20,
                       "A's stream to hear of the assignment made on B")
            bernat.post(f"/api/v1/tickets/{mail_id}/messages", {"body": "Li envio el certificat avui."}, expect=201)

            def reply() -> Any:
                return next((m for m in smtp.messages if "Li envio el certificat avui." in
                             m.message.get_body(("plain",)).get_content()), None)

            sent = wait_until(reply, 20, "the agent's email reply over SMTP")
            assert sent.rcpt_tos == ["laia@example.net"]
            assert first["Message-ID"] in sent.message["In-Reply-To"]
            # The citizen answers the reply: threaded into the same ticket.
            again = EmailMessage()
            again["From"], again["To"] = "Laia Serra <laia@example.net>", "oac360@oac.example"
            again["Subject"] = "Re: " + str(sent.message["Subject"])
            again["Message-ID"] = make_msgid(domain="example.net")
            again["In-Reply-To"] = again["References"] = sent.message["Message-ID"]
            again.set_content("Moltes gràcies!")
            imap.append(again)

            def inbound_count() -> int:
                timeline = bernat.get(f"/api/v1/tickets/{mail_id}")["timeline"]
                return sum(1 for item in timeline if item["type"] == "message" and item["direction"] == "in")

            wait_until(lambda: inbound_count() == 2, 30, "the citizen's answer threaded into the ticket")
            assert [t["id"] for t in _tickets(bernat, "email")] == [mail_id]
            resolved = bernat.post(f"/api/v1/tickets/{mail_id}/resolve")
            survey_mail = wait_until(lambda: next((m for m in smtp.messages if resolved["survey_url"] in
                                                   m.message.get_body(("plain",)).get_content()), None), 20,
                                     "the survey link sent by email")
            assert survey_mail.rcpt_tos == ["laia@example.net"]
            _answer_survey(a_url, resolved["survey_url"], 4)
            assert _survey_answered(world["db_url"], mail_id) == 4

        # Both instances serve the same database-derived metrics.
        def drained(url: str) -> bool:
            metrics = httpx.get(f"{url}/metrics", timeout=10).text
            return (re.search(r"^hub_queue_longest_wait_seconds 0\.0$", metrics, re.M) is not None
                    and re.search(r"^hub_outbox_pending\{", metrics, re.M) is None
                    # Counted from the database: messages the worker and the poller stored count on both.
                    and re.search(r'^hub_inbound_messages_total\{channel="whatsapp"\} 2\.0$', metrics, re.M) is not None
                    and re.search(r'^hub_inbound_messages_total\{channel="email"\} 2\.0$', metrics, re.M) is not None)

        for url in (a_url, b_url):  # the same figures from either instance: they come from the database
            wait_until(lambda u=url: drained(u), 20, f"{url}/metrics to show an empty queue and outbox", every=1)
        assert "Traceback" not in topology.logs(tail=10**7)
        # HUB_LOG_FORMAT=json: every process logs JSON lines (the only plain lines are start-up banners).
        for name, process in topology.processes.items():
            plain = [line for line in process.output().splitlines()
                     if line.strip() and not line.startswith("{") and not line.startswith("hub ")]
            assert not plain, (name, plain[:5])
    finally:
        anna.close()
        bernat.close()


def _stored_attachments(agent: Agent, channel: str) -> dict[str, int]:
    """File name -> attachment id of the stored attachments on the channel's tickets."""
    found = {}
    for ticket in agent.get("/api/v1/tickets", channel=channel, status="all")["tickets"]:
        for item in agent.get(f"/api/v1/tickets/{ticket['id']}")["timeline"]:
            for attachment in item.get("attachments") or []:
                if attachment["status"] == "stored":
                    found[attachment["filename"]] = attachment["id"]
    return found


def test_attachments_received_on_one_host_are_downloaded_from_every_other(world: dict[str, Any]) -> None:
    topology: Topology = world["topology"]
    twilio: fake_twilio.FakeTwilio = world["twilio"]
    imap: mailservers.Dovecot = world["imap"]
    a_url, b_url = topology.url(0), topology.url(1)
    anna, bernat = Agent(a_url, "anna@oac.example"), Agent(b_url, "bernat@oac.example")
    try:
        # A photo on WhatsApp: Twilio calls instance A; the worker, on a host of its own, fetches it.
        photo = b"\xff\xd8\xff\xe0" + os.urandom(900_000)  # several of the database's chunks
        media = twilio.add_media("MEtopology", photo, "image/jpeg")
        sent = fake_twilio.post_webhook(a_url, PUBLIC_URL, "/webhooks/twilio/whatsapp", fake_twilio.inbound_form(
            "SM" + "c" * 32, "", "+34600777888", NumMedia="1", MediaUrl0=media, MediaContentType0="image/jpeg"))
        assert sent.status_code in (200, 201), sent.text
        # A PDF by email: the mailbox poller, on a host of its own, reads it from Dovecot.
        pdf = b"%PDF-1.4\n" + os.urandom(300_000)
        mail = EmailMessage()
        mail["From"], mail["To"] = "Pau Roca <pau@example.net>", "oac360@oac.example"
        mail["Subject"], mail["Message-ID"] = "Instància", make_msgid(domain="example.net")
        mail.set_content("Adjunto la instància signada.")
        mail.add_attachment(pdf, maintype="application", subtype="pdf", filename="instancia.pdf")
        imap.append(mail)

        photos = wait_until(lambda: {n: i for n, i in _stored_attachments(bernat, "whatsapp").items()
                                     if n.endswith(".jpg")}, 30, "the worker to store the photo")
        [photo_id] = photos.values()
        pdf_id = wait_until(lambda: _stored_attachments(anna, "email").get("instancia.pdf"), 30,
                            "the mailbox poller to store the PDF")
        for agent, url in ((anna, a_url), (bernat, b_url), (anna, b_url), (bernat, a_url)):
            for attachment_id, content in ((photo_id, photo), (pdf_id, pdf)):
                got = httpx.get(f"{url}/attachments/{attachment_id}", headers=cookie_header(agent.browser), timeout=15)
                assert got.status_code == 200, (url, attachment_id, got.status_code, got.text[:200])
                assert hashlib.sha256(got.content).digest() == hashlib.sha256(content).digest(), (url, attachment_id)
                assert got.headers["content-length"] == str(len(content))
        # Nothing went through any host's disk.
        for name in topology.processes:
            folder = topology.data_dir(name) / "attachments"
            assert not folder.exists() or not list(folder.iterdir()), (name, list(folder.iterdir()))
    finally:
        anna.close()
        bernat.close()
