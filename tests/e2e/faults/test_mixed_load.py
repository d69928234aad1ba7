"""Mixed traffic for a fixed count, then a reconciliation: in exactly once, out all sent, timers fired.

WhatsApp webhooks from many citizens (some never say their name, so their reminder and close
timers must fire), mail through Dovecot and `hub mailbox`, and agents replying and resolving
through the API, all at once against the running processes. Exactly one webhook in ten (the
10th, 20th, ...) is delivered twice, as Twilio retries. No process fails here, so nothing may
be sent twice: Twilio and the SMTP server get exactly the outbox's rows. The counts are printed
(run with `-s` to see them).
"""

from __future__ import annotations

import re
import threading
import time
from email.message import EmailMessage

import httpx

from tests.support.faults import Topology
from tests.support.fault_stack import HubProcess, wait_for
from tests.support import mailservers, services

WHATSAPP_CITIZENS = 16  # a quarter of them stay silent about their name
MESSAGES_EACH = 4
MAILS = 30


def _number(n: int) -> str:
    return f"+3460030{n:04d}"


def _mail(n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"] = f"mixed{n}@citizen.example", "oac360@paeria.cat"
    msg["Subject"], msg["Message-ID"] = f"Consulta {n}", f"<mixed-{n}@citizen.example>"
    msg.set_content(f"Consulta per correu {n}")
    return msg


def test_mixed_traffic_reconciles(topology: Topology) -> None:
    services.require_dovecot()
    pg = topology.pg
    silent = {n for n in range(WHATSAPP_CITIZENS) if n % 4 == 0}
    webhook_sids: set[str] = set()
    errors: list[str] = []
    duplicates = []

    def whatsapp_traffic() -> None:
        for round_ in range(MESSAGES_EACH):
            for n in range(WHATSAPP_CITIZENS):
                if n in silent and round_ > 0:
                    continue  # any second message would count as their answer
                sid = f"SMmix{round_:02d}{n:026d}"
                body = "Hola" if round_ == 0 else ("Em dic Persona %d" % n if round_ == 1 else f"Pregunta {round_}")
                status = topology.webhook(sid, body, _number(n))
                if len(webhook_sids) % 10 == 9:  # the 10th, 20th, ... webhook: Twilio delivers it again
                    status = topology.webhook(sid, body, _number(n))
                    duplicates.append(sid)
                if status != 200:
                    errors.append(f"webhook {sid}: {status}")
                webhook_sids.add(sid)
            time.sleep(0.2)

    with mailservers.dovecot() as server:
        env = {**topology.env, **{
            "HUB_IMAP_HOST": server.host, "HUB_IMAP_PORT": str(server.port), "HUB_IMAP_USER": server.user,
            "HUB_IMAP_PASSWORD": server.password, "HUB_IMAP_SSL": "false", "HUB_IMAP_PROCESSED": "seen",
            "HUB_IMAP_IDLE": "true", "HUB_IMAP_POLL_INTERVAL": "2s", "HUB_MAIL_AUTO_ACK": "true",
        }}
        mailbox = HubProcess(["mailbox"], env, topology.logs / "mailbox-mixed.log")
        try:
            api = httpx.Client(base_url=topology.base, headers={"authorization": f"Bearer {topology.token()}"},
                               timeout=15)
            sender = threading.Thread(target=whatsapp_traffic)
            sender.start()
            client = server.imap()
            try:
                for n in range(MAILS):
                    server.append(_mail(n), client=client)
                    time.sleep(0.03)
            finally:
                client.logout()

            # Agents work the queue while traffic still arrives: reply to what is theirs or waiting,
            # resolve every second one.
            replies: list[str] = []
            resolved = 0
            done: set[int] = set()
            deadline = time.monotonic() + 60
            while len(replies) < 20 and time.monotonic() < deadline:
                queue = api.get("/api/v1/queue").json()
                todo = [(t["id"], lane) for lane in ("mine", "waiting") for t in queue[lane]["tickets"]
                        if t["id"] not in done]
                if not todo:
                    time.sleep(0.3)
                    continue
                ticket, lane = todo[0]
                done.add(ticket)
                if lane == "waiting" and api.post(f"/api/v1/tickets/{ticket}/assign").status_code != 200:
                    continue  # closed or taken meanwhile
                body = f"Resposta de l'agent {len(replies)}"
                r = api.post(f"/api/v1/tickets/{ticket}/messages", json={"body": body})
                if r.status_code == 409:
                    continue  # the citizen's consultation closed meanwhile (e.g. its timer fired)
                assert r.status_code == 201, r.text
                replies.append(body)
                if len(replies) % 2 == 0:
                    assert api.post(f"/api/v1/tickets/{ticket}/resolve").status_code == 200
                    resolved += 1
            assert len(replies) == 20, f"agents could reply {len(replies)} times only; last queue: {queue}"
            sender.join(120)
            assert not sender.is_alive() and not errors, errors[:5]
            assert len(duplicates) == len(webhook_sids) // 10

            inbound = "SELECT count(*) FROM messages WHERE direction = 'in'"
            try:
                wait_for(lambda: pg.scalar(inbound) >= len(webhook_sids) + MAILS, 90, "every inbound message", every=0.3)
            except AssertionError:
                got = {r[0] for r in pg.query("SELECT provider_id FROM messages WHERE direction = 'in'")}
                inbox = pg.query("SELECT provider_id, processed_at, attempts, error FROM inbox")
                missing = sorted(webhook_sids - got)[:5]
                raise AssertionError(f"missing {missing}; inbox rows for them: "
                                     f"{[r for r in inbox if r[0] in missing]}; "
                                     f"mails stored {len([g for g in got if g.startswith('mixed-')])}") from None
            closes = f"SELECT count(*) FROM events WHERE kind = 'closed_unidentified'"
            wait_for(lambda: pg.scalar(closes) >= len(silent), 60, "the silent citizens' timers", every=0.3)
            wait_for(lambda: pg.scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0, 90,
                     "every outbound message to be sent", every=0.3)
        finally:
            mailbox.stop()

    # Reconciliation -----------------------------------------------------------------------------
    stored = pg.query("SELECT channel, provider_id, count(*) FROM messages WHERE direction = 'in' "
                      "GROUP BY channel, provider_id")
    assert all(int(c) == 1 for _, _, c in stored), "an inbound message stored twice"
    wa = {p for ch, p, _ in stored if ch == "whatsapp"}
    mail = {p for ch, p, _ in stored if ch == "email"}
    assert wa == webhook_sids
    assert mail == {f"mixed-{n}@citizen.example" for n in range(MAILS)}
    reminders = pg.scalar("SELECT count(*) FROM events WHERE kind = 'reminder_sent'")
    closed = pg.scalar("SELECT count(*) FROM events WHERE kind = 'closed_unidentified'")
    # Every timer fired, once: the silent citizens were reminded and closed (others too, if their
    # answer came after the short test timers), no timer is overdue, none fired twice.
    silent_closed = pg.scalar(
        "SELECT count(DISTINCT t.contact_id) FROM tickets t JOIN identities i ON i.contact_id = t.contact_id "
        "WHERE t.status = 'closed_unidentified' AND i.value IN ("
        + ", ".join(f"'{_number(n)}'" for n in silent) + ")")
    assert silent_closed == len(silent)
    assert reminders >= len(silent) and closed >= len(silent)
    assert pg.scalar("SELECT count(*) FROM tickets WHERE due_at < now() - interval '3 seconds'") == 0
    assert pg.query("SELECT ticket_id, kind FROM events WHERE kind IN ('reminder_sent', 'closed_unidentified') "
                    "GROUP BY ticket_id, kind HAVING count(*) > 1") == []
    outbound = pg.scalar("SELECT count(*) FROM outbox")
    assert pg.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'") == outbound
    twilio_bodies = [r.value("Body") or "" for r in topology.twilio.sent()]
    mail_bodies = [m.message.get_body(("plain",)).get_content() for m in topology.smtp.messages]  # type: ignore[union-attr]
    for body in replies:  # "... agent 1" is not "... agent 10"
        sent = sum(bool(re.search(re.escape(body) + r"(?!\d)", b)) for b in twilio_bodies + mail_bodies)
        assert sent == 1, f"reply sent {sent} times: {body}"
    by_channel = dict((ch, int(n)) for ch, n in pg.query("SELECT channel, count(*) FROM outbox GROUP BY channel"))
    assert len(topology.twilio.attempts()) == len(twilio_bodies) == by_channel.get("whatsapp", 0)
    assert len(mail_bodies) == by_channel.get("email", 0)
    print(
        f"\nreconciliation: webhooks {len(webhook_sids)} (+{len(duplicates)} delivered twice), mails {MAILS}; "
        f"stored once: whatsapp {len(wa)}, email {len(mail)}; tickets {pg.scalar('SELECT count(*) FROM tickets')}; "
        f"agent replies {len(replies)}, resolved {resolved}; timers fired: reminders {reminders}, closes {closed}; "
        f"outbound sent {outbound}/{outbound} (Twilio {len(twilio_bodies)}, SMTP {len(mail_bodies)})"
    )
