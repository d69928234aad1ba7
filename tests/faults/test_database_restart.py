"""PostgreSQL restarted while WhatsApp webhooks arrive.

Promise: a webhook is answered 200 only once its message is committed; during the outage the
hub answers 5xx (or nothing), so Twilio's retry applies; after the restart every message, the
ones accepted before and the retried ones, is turned into exactly one ticket message, and every
welcome is sent.
"""

from __future__ import annotations

import threading
import time

from tests.faults.conftest import Topology
from tests.faults.stack import wait_for

TOTAL = 80
NUMBERS = 8


def _sid(i: int) -> str:
    return f"SMdb{i:030d}"


def test_webhooks_during_a_database_restart_get_5xx_and_nothing_is_lost(topology: Topology) -> None:
    pg = topology.pg
    statuses: dict[str, list[int]] = {}
    outage = threading.Event()
    during: list[tuple[str, int]] = []

    def send_all() -> None:
        for i in range(TOTAL):
            sid = _sid(i)
            status = topology.webhook(sid, f"missatge {i}", f"+3460010{i % NUMBERS:04d}", timeout=5)
            statuses.setdefault(sid, []).append(status)
            if outage.is_set():
                during.append((sid, status))
            time.sleep(0.02)

    sender = threading.Thread(target=send_all)
    sender.start()
    wait_for(lambda: len(statuses) >= 20, 30, "the first webhooks")
    pg.stop()
    outage.set()
    wait_for(lambda: len(during) >= 10, 30, "webhooks during the outage")
    outage.clear()
    pg.start()
    sender.join(120)
    assert not sender.is_alive()

    # Never a 200 for an unsaved message: every 200 so far is in the inbox, before any retry.
    accepted = {sid for sid, s in statuses.items() if 200 in s}
    stored = {row[0] for row in pg.query("SELECT provider_id FROM inbox WHERE channel = 'whatsapp'")}
    assert accepted <= stored, f"answered 200 but not stored: {sorted(accepted - stored)[:5]}"
    refused = [s for _, s in during if s != 200]
    assert refused, "the outage was not observed"
    assert all(s == 0 or s >= 500 for s in refused), f"an outage answer that stops Twilio retrying: {refused}"

    # Twilio retries what was not acknowledged.
    for sid, seen in statuses.items():
        i = int(sid[4:])
        tries = 0
        while 200 not in seen:
            tries += 1
            assert tries <= 50, f"{sid} never accepted after the restart: {seen}"
            seen.append(topology.webhook(sid, f"missatge {i}", f"+3460010{i % NUMBERS:04d}"))
            if 200 not in seen:
                time.sleep(0.2)

    def all_in() -> bool:
        return pg.scalar("SELECT count(DISTINCT provider_id) FROM messages WHERE direction = 'in'") == TOTAL
    wait_for(all_in, 60, "every message to reach its ticket", every=0.3)
    duplicates = pg.query("SELECT provider_id FROM messages WHERE direction = 'in' GROUP BY provider_id HAVING count(*) > 1")
    assert duplicates == []
    assert pg.scalar("SELECT count(*) FROM messages WHERE direction = 'in'") == TOTAL
    assert pg.scalar("SELECT count(*) FROM tickets") == NUMBERS  # one consultation per citizen

    def all_sent() -> bool:
        return pg.scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0
    wait_for(all_sent, 60, "every automatic answer to be sent", every=0.3)
    out = pg.scalar("SELECT count(*) FROM outbox")
    assert out == NUMBERS  # the welcome of each consultation (no agent: nobody is introduced)
    assert pg.scalar("SELECT count(*) FROM messages WHERE meta->>'text_key' = 'whatsapp.welcome'") == NUMBERS
    # An attempt cut off by the outage is asked about before it is repeated: Twilio got each message once.
    assert len(topology.twilio.attempts()) == out
    print(f"\nreconciliation: webhooks {TOTAL}, answered 5xx/none during the outage {len(refused)}, "
          f"retried {sum(len(s) - 1 for s in statuses.values())}, stored once {TOTAL}, "
          f"tickets {NUMBERS}, outbound sent {out}/{out}, Twilio requests {len(topology.twilio.attempts())}")
