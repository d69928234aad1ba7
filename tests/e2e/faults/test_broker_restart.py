"""The broker (Redis, no persistence) restarted while agents' replies flow.

A restart without persistence loses every queued delivery job. Promise: every reply an agent
sent is still delivered to the citizen (the scheduler re-enqueues outbox rows that stay
pending), none is lost, and the web API keeps answering.
"""

from __future__ import annotations

import time
from collections import Counter

import httpx

from tests.support.faults import Topology
from tests.support.fault_stack import wait_for

CITIZENS = 6
REPLIES = 5  # per citizen


def _open_consultations(topology: Topology) -> list[int]:
    for n in range(CITIZENS):
        number = f"+3460020{n:04d}"
        assert topology.webhook(f"SMbr{n:030d}", "Hola", number) == 200
        assert topology.webhook(f"SMbn{n:030d}", f"Em dic Persona {n}", number) == 200
    pg = topology.pg
    wait_for(lambda: pg.scalar("SELECT count(*) FROM tickets WHERE status = 'waiting'") == CITIZENS, 30,
             "the consultations to be identified and queued")
    return [int(r[0]) for r in pg.query("SELECT id FROM tickets ORDER BY id")]


def test_replies_survive_a_broker_restart(topology: Topology) -> None:
    tickets = _open_consultations(topology)
    api = httpx.Client(base_url=topology.base, headers={"authorization": f"Bearer {topology.token()}"}, timeout=10)
    for ticket in tickets:
        assert api.post(f"/api/v1/tickets/{ticket}/assign").status_code == 200
    bodies: list[str] = []
    answers: Counter[int] = Counter()
    for round_ in range(REPLIES):
        if round_ == 2:
            topology.redis.stop()  # every queued job is gone with it
        if round_ == 3:
            time.sleep(1.0)
            topology.redis.start()
        for ticket in tickets:
            body = f"Resposta {round_} al tiquet {ticket}"
            answers[api.post(f"/api/v1/tickets/{ticket}/messages", json={"body": body}).status_code] += 1
            bodies.append(body)
    pg = topology.pg
    stored = Counter(r[0] for r in pg.query("SELECT body FROM messages WHERE direction = 'out' AND author_agent_id IS NOT NULL"))
    # A reply the API acknowledged is stored once; one it refused during the outage is not (the agent saw the error).
    assert answers[201] == len(stored) == sum(stored.values()) and set(answers) <= {201, 500, 503}
    assert answers[201] >= len(bodies) - CITIZENS  # at most the round during the outage could be refused

    def delivered() -> bool:
        return pg.scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0
    wait_for(delivered, 90, "every reply to be delivered after the broker came back", every=0.3)
    sent = Counter(r.value("Body") for r in topology.twilio.sent())
    missing = [b for b in stored if sent[b] == 0]
    assert not missing, f"replies never sent: {missing[:3]}"
    # Logins (their throttle lives in Redis) work again at once: stale connections are retried.
    assert topology.token()
    repeated = sum(n - 1 for b, n in sent.items() if b in stored and n > 1)
    # No process died: nothing is sent twice, and Twilio got exactly the outbox's rows.
    assert repeated == 0 and len(topology.twilio.attempts()) == pg.scalar("SELECT count(*) FROM outbox")
    print(f"\nreconciliation: replies acknowledged {answers[201]}, refused during the outage "
          f"{sum(n for s, n in answers.items() if s != 201)}, delivered {len(stored)}/{len(stored)}, "
          f"sent twice {repeated}")
