"""Files on replies survive a worker killed (SIGKILL) mid-send: real `hub web`, `hub worker` and
`hub scheduler` processes on PostgreSQL and Redis, the SMTP sink and the fake Twilio.

An agent replies through the API with a PDF by email and by WhatsApp. The mail server refuses
(451) and Twilio answers slowly, so the worker is killed with both sends in flight or retrying;
a new worker takes them over. The citizen gets the mail once with the PDF, and the WhatsApp
message once, whose `MediaUrl` (on the running `hub web`) served the same bytes to Twilio.
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

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + bytes(range(256)) * 256 + b"\n%%EOF\n"


async def _citizens(topology: Topology) -> tuple[int, int]:
    ctx = HubContext.create(load_settings(_env_file=None, database_url=topology.pg.url, data_dir=topology.logs))
    try:
        mail = await do_receive_message(ctx, InboundMessage(
            channel="email", provider_id="<files-1@citizen.example>", received_at=datetime.now(UTC), body="Bon dia",
            identities=[IdentityIn("email", "laia@citizen.example")], subject="Instància",
            meta={"from": "laia@citizen.example"},
        ))
        for sid, body in (("SMfiles1", "Hola"), ("SMfiles2", "Em dic Pere Roig")):  # the welcome, then the name
            whatsapp = await do_receive_message(ctx, InboundMessage(
                channel="whatsapp", provider_id=sid, received_at=datetime.now(UTC), body=body,
                identities=[IdentityIn("phone", "+34600177001")],
            ))
        assert mail.ticket_id is not None and whatsapp.ticket_id is not None
        return mail.ticket_id, whatsapp.ticket_id
    finally:
        await ctx.close()


def test_a_reply_with_a_pdf_reaches_the_citizen_once_after_the_worker_is_killed_mid_send(topology: Topology) -> None:
    mail_ticket, whatsapp_ticket = asyncio.run(_citizens(topology))
    pg = topology.pg
    topology.smtp.replies.extend(["451 4.3.2 Try again later"] * 10_000)
    topology.twilio.delay_s = 4.0
    api = httpx.Client(base_url=topology.base, headers={"authorization": f"Bearer {topology.token()}"}, timeout=20)
    for ticket in (mail_ticket, whatsapp_ticket):
        assert api.post(f"/api/v1/tickets/{ticket}/assign").status_code == 200
        answer = api.post(f"/api/v1/tickets/{ticket}/messages", data={"body": f"Resposta {ticket}"},
                          files=[("files", ("instància.pdf", PDF, "application/pdf"))])
        assert answer.status_code == 201, answer.text

    reply_text = f"Resposta {whatsapp_ticket}"

    def under_way() -> bool:
        on_the_wire = any(r.value("Body") == reply_text for r in topology.twilio.attempts())
        return on_the_wire and pg.scalar("SELECT count(*) FROM outbox WHERE attempts >= 1 AND channel = 'email'") >= 1
    wait_for(under_way, 30, "both sends to be under way")
    topology.procs["worker"].kill()  # Twilio has the message, the hub has not heard back; the mail waits
    topology.twilio.delay_s = 0.0
    topology.smtp.replies.clear()  # the mail server accepts again
    topology.start("worker", "worker", "--threads", "4")

    wait_for(lambda: pg.scalar("SELECT count(*) FROM outbox WHERE status <> 'sent'") == 0, 60,
             "both replies to be sent by the new worker", every=0.3)
    time.sleep(1.0)  # nothing more arrives afterwards
    mails = [m.message for m in topology.smtp.messages if f"Resposta {mail_ticket}" in str(m.message)]
    assert len(mails) == 1
    [attachment] = list(mails[0].iter_attachments())  # type: ignore[union-attr]
    assert attachment.get_filename() == "instància.pdf" and attachment.get_content() == PDF
    sent = [r for r in topology.twilio.sent() if r.value("Body") == reply_text]
    assert len(sent) == 1  # the interrupted attempt was found at Twilio, not repeated
    [fetched] = sent[0].media
    assert fetched.status == 200 and fetched.content == PDF
    assert pg.scalar("SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'failed'") == 0
    # It really was cut off: the WhatsApp send was adopted from Twilio, the mail was tried again.
    assert pg.scalar(f"SELECT count(*) FROM messages WHERE body = '{reply_text}' "
                     "AND meta::text LIKE '%\"recovered\": true%'") == 1
    assert pg.scalar("SELECT max(attempts) FROM outbox WHERE channel = 'email'") >= 2
