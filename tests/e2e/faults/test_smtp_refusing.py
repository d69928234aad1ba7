"""The SMTP server refuses for a while (451, try later), then accepts: every reply is eventually sent.

Mail consultations come in through the core action (as the mail poller hands them over), the
agent replies through the API of the running `hub web`, the `hub worker` delivers, the SMTP
sink refuses everything for a few seconds, and the outbox's retries carry every reply through.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx

from hub.actions.messages import do_receive_message
from hub.config import load_settings
from hub.context import HubContext
from hub.inbound import IdentityIn, InboundMessage
from tests.support.faults import Topology
from tests.support.fault_stack import wait_for

CITIZENS = 5
REFUSE_FOR_S = 3.0


async def _mails(topology: Topology) -> list[int]:
    ctx = HubContext.create(load_settings(_env_file=None, database_url=topology.pg.url, data_dir=topology.logs))
    try:
        ids = []
        for n in range(CITIZENS):
            got = await do_receive_message(ctx, InboundMessage(
                channel="email", provider_id=f"<smtp-{n}@citizen.example>", received_at=datetime.now(UTC),
                identities=[IdentityIn("email", f"citizen{n}@citizen.example")], body="Bon dia", subject=f"Padró {n}",
            ))
            assert got.ticket_id is not None
            ids.append(got.ticket_id)
        return ids
    finally:
        await ctx.close()


def test_replies_refused_for_a_while_are_all_sent_later(topology: Topology) -> None:
    tickets = asyncio.run(_mails(topology))
    topology.smtp.replies.extend(["451 4.3.2 Try again later"] * 10_000)
    refused_from = time.monotonic()
    api = httpx.Client(base_url=topology.base, headers={"authorization": f"Bearer {topology.token()}"}, timeout=10)
    for ticket in tickets:
        assert api.post(f"/api/v1/tickets/{ticket}/assign").status_code == 200
        assert api.post(f"/api/v1/tickets/{ticket}/messages", json={"body": f"Resposta {ticket}"}).status_code == 201
    pg = topology.pg
    wait_for(lambda: pg.scalar("SELECT count(*) FROM outbox WHERE attempts >= 2") >= CITIZENS, 30,
             "every reply to be refused and retried")
    assert topology.smtp.messages == []
    time.sleep(max(0.0, REFUSE_FOR_S - (time.monotonic() - refused_from)))
    refusals = 10_000 - len(topology.smtp.replies)
    topology.smtp.replies.clear()  # the server accepts again

    wait_for(lambda: pg.scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0, 60,
             "every mail to be sent once the server accepts", every=0.3)
    bodies = [m.message.get_body(("plain",)).get_content() for m in topology.smtp.messages]  # type: ignore[union-attr]
    for ticket in tickets:
        assert sum(f"Resposta {ticket}" in b for b in bodies) == 1, f"reply on ticket {ticket}"
    assert pg.scalar("SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'failed'") == 0
    attempts = pg.scalar("SELECT sum(attempts) FROM outbox")
    print(f"\nreconciliation: mails out {len(topology.smtp.messages)} (replies {CITIZENS}), refused {refusals} times, "
          f"delivery attempts {attempts}, failed 0")
