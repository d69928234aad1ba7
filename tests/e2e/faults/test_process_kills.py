"""Hub processes killed (SIGKILL) mid-stream while many citizens write, then restarted.

The production topology (`hub web`, `hub worker`, `hub scheduler` on PostgreSQL and a Redis
broker) with the hub's own defaults for leases and relays. Citizens write on WhatsApp as the
office's flow expects: "Hola", then "Em dic Persona N", then questions, each message sent once
the previous one was acknowledged; exactly one webhook in ten is delivered twice (Twilio
retrying), and a webhook that got no 200 is sent again until it does. Twilio (the fake)
answers each send after a pause, so sends are on the wire when the worker dies.

Then the reconciliation, exact: every acknowledged webhook stored once; every contact named
from their second message; every contact's messages in the order they were sent, on one
consultation opened by "Hola"; one welcome per contact; as many Twilio messages as outbox rows
sent (an interrupted send is not repeated: the sender asks Twilio first); and everything done
within seconds of the processes coming back. The figures are printed (`-s`).
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.support.faults import Topology
from tests.support.fault_stack import wait_for

CITIZENS = 40
QUESTIONS = 3  # after "Hola" and the name: 5 messages each, 200 webhooks, 20 of them delivered twice
THREADS = 8
PAUSE_S = 0.35  # between one sender thread's webhooks: about 20 a second in all
TWILIO_DELAY_S = 0.25
SETTLE_WITHIN_S = 30.0  # from the end of the traffic (every process back) to every message processed and sent
# How many times each kill test runs in a row (CI's PostgreSQL pass runs them three times: a fix
# for a race must hold on every run, not on a lucky one).
RUNS = range(int(os.environ.get("HUB_TEST_FAULT_RUNS", "1") or "1"))
PRODUCTION_TIMINGS = {
    "HUB_OUTBOX_STUCK_AFTER": None, "HUB_OUTBOX_LEASE": None, "HUB_SCHEDULER_INTERVAL": None,
    "HUB_WHATSAPP_REMINDER_AFTER": "30m", "HUB_WHATSAPP_CLOSE_AFTER": "30m",
}


def _number(n: int) -> str:
    return f"+3460050{n:04d}"


def _body(n: int, k: int) -> str:
    return "Hola" if k == 0 else (f"Em dic Persona {n}" if k == 1 else f"Pregunta {k - 1} de la persona {n}")


@dataclass
class Traffic:
    acked: dict[int, list[str]] = field(default_factory=dict)  # citizen -> sids, in the order sent
    duplicates: int = 0  # webhooks delivered a second time after their 200
    unanswered: int = 0  # answers other than 200 (a process down), each followed by a retry
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def done(self) -> int:
        with self.lock:
            return sum(len(s) for s in self.acked.values())


def converse(topology: Topology, tag: str, faults: list[tuple[float, Callable[[], None]]]) -> Traffic:
    """Send every citizen's messages; run each fault once that share of the webhooks is acknowledged."""
    traffic = Traffic(acked={n: [] for n in range(CITIZENS)})
    messages = 2 + QUESTIONS
    total = CITIZENS * messages

    def deliver(sid: str, body: str, number: str) -> bool:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if topology.webhook(sid, body, number, timeout=5) == 200:
                return True
            with traffic.lock:
                traffic.unanswered += 1
            time.sleep(0.2)  # Twilio retries a webhook that got no answer
        return False

    def citizen_thread(mine: list[int]) -> None:
        for k in range(messages):
            for n in mine:
                sid = f"SM{tag}{k:02d}{n:028d}"
                if not deliver(sid, _body(n, k), _number(n)):
                    traffic.errors.append(f"{sid} never acknowledged")
                    return
                with traffic.lock:
                    traffic.acked[n].append(sid)
                if (n * messages + k) % 10 == 0:  # exactly one in ten: Twilio delivers it again
                    topology.webhook(sid, _body(n, k), _number(n), timeout=5)
                    with traffic.lock:
                        traffic.duplicates += 1
                time.sleep(PAUSE_S)

    threads = [threading.Thread(target=citizen_thread, args=([n for n in range(CITIZENS) if n % THREADS == t],))
               for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for share, fault in faults:
        wait_for(lambda share=share: traffic.done >= share * total or not any(t.is_alive() for t in threads), 120,
                 f"{share:.0%} of the webhooks to be acknowledged")
        fault()
    for thread in threads:
        thread.join(180)
    assert not any(t.is_alive() for t in threads) and not traffic.errors, traffic.errors[:5]
    assert traffic.done == total and traffic.duplicates == total // 10
    return traffic


def settle(topology: Topology) -> float:
    """Seconds until every accepted message is processed and every outbound one sent."""
    pg = topology.pg
    started = time.monotonic()

    def quiet() -> bool:
        return (pg.scalar("SELECT count(*) FROM inbox WHERE processed_at IS NULL") == 0
                and pg.scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0)
    wait_for(quiet, 150, "every message to be processed and sent", every=0.25)
    return time.monotonic() - started


def reconcile(topology: Topology, traffic: Traffic, settled_s: float, what: str) -> None:
    pg = topology.pg
    sent_sids = {sid for sids in traffic.acked.values() for sid in sids}
    stored = Counter({r[0]: int(r[1]) for r in pg.query(
        "SELECT provider_id, count(*) FROM messages WHERE direction = 'in' GROUP BY provider_id")})
    twice = sorted(s for s, c in stored.items() if c > 1)
    missing = sorted(sent_sids - set(stored))
    by_number = {number: (name, int(contact)) for contact, number, name in pg.query(
        "SELECT c.id, i.value, coalesce(c.name, '') FROM contacts c JOIN identities i ON i.contact_id = c.id "
        "WHERE i.kind = 'phone'")}
    wrong_names = [n for n in range(CITIZENS) if by_number.get(_number(n), ("", 0))[0] != f"Persona {n}"]
    order = {}
    for contact, sid in pg.query("SELECT contact_id, provider_id FROM messages WHERE direction = 'in' ORDER BY id"):
        order.setdefault(int(contact), []).append(sid)
    disordered = [n for n in range(CITIZENS)
                  if order.get(by_number.get(_number(n), ("", 0))[1]) != traffic.acked[n]]
    opened_by = Counter(r[0] for r in pg.query(
        "SELECT m.body FROM tickets t JOIN LATERAL (SELECT body FROM messages WHERE ticket_id = t.id "
        "AND direction = 'in' ORDER BY id LIMIT 1) m ON true"))
    welcomes_db = pg.scalar("SELECT count(*) FROM messages WHERE meta->>'text_key' = 'identify_first.welcome'")
    welcome_bodies = {r[0] for r in pg.query("SELECT body FROM messages WHERE meta->>'text_key' = 'identify_first.welcome'")}
    creates = topology.twilio.attempts()
    per_message = Counter((r.value("To"), r.value("Body")) for r in creates)
    welcomes_sent = sum(n for (_, body), n in per_message.items() if body in welcome_bodies)
    repeats = sum(n - 1 for n in per_message.values() if n > 1)
    outbox_sent = pg.scalar("SELECT count(*) FROM outbox WHERE status = 'sent' AND channel = 'whatsapp'")
    lookups = len([r for r in topology.twilio.requests if r.method == "GET" and "/Messages.json" in r.path])
    print(
        f"\n{what}: webhooks acknowledged {len(sent_sids)} (+{traffic.duplicates} delivered twice, "
        f"{traffic.unanswered} unanswered and retried); stored once {sum(1 for c in stored.values() if c == 1)}, "
        f"twice {len(twice)}, missing {len(missing)}; contacts {len(by_number)}/{CITIZENS}, wrong names "
        f"{len(wrong_names)}, out of order {len(disordered)}; consultations {sum(opened_by.values())} "
        f"(opened by another message than 'Hola': {sum(n for b, n in opened_by.items() if b != 'Hola')}); "
        f"welcomes queued {welcomes_db}, sent to Twilio {welcomes_sent}; Twilio messages {len(creates)} for "
        f"{outbox_sent} outbox rows sent (repeats {repeats}; lookups before a re-send {lookups}); "
        f"settled {settled_s:.1f} s after the traffic"
    )
    assert not missing and not twice, f"missing {missing[:3]}, stored twice {twice[:3]}"
    assert len(stored) == len(sent_sids) == CITIZENS * (2 + QUESTIONS)
    assert len(by_number) == CITIZENS and wrong_names == [], f"wrong names for citizens {wrong_names[:10]}"
    assert disordered == [], f"messages out of order for citizens {disordered[:10]}"
    assert opened_by == {"Hola": CITIZENS}, opened_by
    assert welcomes_db == CITIZENS and welcomes_sent == CITIZENS
    assert len(creates) == outbox_sent and repeats == 0
    assert settled_s <= SETTLE_WITHIN_S


@pytest.mark.parametrize("run", RUNS)
def test_killing_the_worker_and_the_broker_keeps_order_and_repeats_nothing(topology: Topology, run: int) -> None:
    with topology.settings(**PRODUCTION_TIMINGS):
        topology.token()  # an available agent: identified citizens are assigned and told who helps them
        topology.twilio.delay_s = TWILIO_DELAY_S

        def kill_worker() -> None:
            wait_for(lambda: topology.twilio.in_flight > 0, 30, "a send on the wire")
            topology.procs["worker"].kill()
            time.sleep(0.5)
            topology.start("worker", "worker", "--threads", "4")

        def kill_broker() -> None:
            topology.redis.kill()
            time.sleep(0.5)
            topology.redis.start()

        traffic = converse(topology, "kw", [(0.3, kill_worker), (0.6, kill_broker), (0.8, kill_worker)])
        reconcile(topology, traffic, settle(topology), "worker and broker killed")


@pytest.mark.parametrize("run", RUNS)
def test_killing_the_web_and_the_scheduler_keeps_order_and_repeats_nothing(topology: Topology, run: int) -> None:
    """`hub web` killed mid-request (twice), and the scheduler killed with a worker while it is down."""
    with topology.settings(**PRODUCTION_TIMINGS):
        topology.token()
        topology.twilio.delay_s = TWILIO_DELAY_S

        def kill_web() -> None:
            topology.procs["web"].kill()  # webhooks in flight get no answer; Twilio sends them again
            time.sleep(0.5)
            topology.start("web", "web", "--port", str(topology.port))

        def kill_scheduler_and_worker() -> None:  # a host with both on it dies; the worker comes back first
            topology.procs["scheduler"].kill()
            wait_for(lambda: topology.twilio.in_flight > 0, 30, "a send on the wire")
            topology.procs["worker"].kill()
            time.sleep(0.5)
            topology.start("worker", "worker", "--threads", "4")

        def restart_scheduler() -> None:
            topology.start("scheduler", "scheduler")

        traffic = converse(topology, "kx", [(0.25, kill_web), (0.45, kill_scheduler_and_worker),
                                            (0.65, restart_scheduler), (0.8, kill_web)])
        reconcile(topology, traffic, settle(topology), "web and scheduler killed")
