"""Outbound mail through a real aiosmtpd server: headers, retries on 4xx, failures on 5xx."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import select

from channels.email.sender import EmailSender, clean_subject, message_id_for, outgoing_subject
from channels.email.lookup import Thread
from hub.actions.agents import do_create_agent
from hub.actions.messages import do_receive_message, do_reply
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Message, Outbox
from hub.delivery import register_sender
from hub.inbound import IdentityIn, InboundMessage
from tests.support.email_channel import mail_settings
from tests.support import mailservers
from tests.support.services import free_port


async def reply_queued(ctx: HubContext, clock: FakeClock) -> tuple[int, int]:
    got = await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id="citizen-1@example.cat", received_at=clock.now(), body="Hola",
        subject="Fwd: RE: Padró", identities=[IdentityIn("email", "citizen@example.cat")],
        meta={"from": "citizen@example.cat", "reply_to": "replies@example.cat", "to": ["oac360@paeria.cat"]},
    ))
    assert got.ticket_id is not None
    agent = await do_create_agent(ctx, "agent@oac.example", "Agent", "agent", "password123")
    await do_reply(ctx, got.ticket_id, agent, "Bon dia")
    async with ctx.sessionmaker() as s:
        row = (await s.exec(select(Outbox))).one()
    assert row.id is not None
    return got.ticket_id, row.id


async def message_of(ctx: HubContext, outbox_id: int) -> Message:
    async with ctx.sessionmaker() as s:
        row = await s.get(Outbox, outbox_id)
        assert row is not None
        message = await s.get(Message, row.message_id)
        assert message is not None
        return message


async def test_reply_goes_to_reply_to_with_threading_headers_and_a_stable_message_id(
    runtime: HubContext, clock: FakeClock, smtp: mailservers.SmtpSink,
) -> None:
    from runtime.tasks import deliver_one

    register_sender("email", EmailSender(runtime.settings, mail_settings()))
    ticket_id, outbox_id = await reply_queued(runtime, clock)
    assert await deliver_one(outbox_id) == "sent"
    [got] = smtp.wait_for(1)
    mail = got.message
    assert got.rcpt_tos == ["replies@example.cat"]  # Reply-To wins over From
    message = await message_of(runtime, outbox_id)
    assert mail["Message-ID"] == f"<{message.provider_id}>"
    assert message.provider_id == message_id_for(message.id, runtime.settings.secret_key, "paeria.cat")
    assert mail["In-Reply-To"] == "<citizen-1@example.cat>"
    assert str(mail["Subject"]) == f"Re: [OAC-{clock.now().year}-{ticket_id:06d}] Padró"
    assert message.meta["to"] == ["replies@example.cat"]


async def test_a_4xx_answer_is_retried_and_a_5xx_answer_fails_with_the_servers_words(
    runtime: HubContext, clock: FakeClock, smtp: mailservers.SmtpSink,
) -> None:
    from runtime.tasks import deliver_one

    register_sender("email", EmailSender(runtime.settings, mail_settings()))
    _, outbox_id = await reply_queued(runtime, clock)
    smtp.replies.append("451 4.3.0 Mailbox temporarily unavailable")
    assert await deliver_one(outbox_id) == "retrying"
    clock.advance(minutes=1)
    smtp.replies.append("550 5.1.1 No such user here")
    assert await deliver_one(outbox_id) == "failed"
    message = await message_of(runtime, outbox_id)
    assert message.status == "failed" and message.error_code == "550"
    assert "550 5.1.1 No such user here" in (message.error_detail or "")
    assert smtp.messages == []


async def test_an_unreachable_server_is_a_transient_error(
    runtime: HubContext, clock: FakeClock,
) -> None:
    from runtime.tasks import deliver_one

    mail = mail_settings(smtp_host="127.0.0.1", smtp_port=free_port(), smtp_tls="none", smtp_timeout="5s")
    register_sender("email", EmailSender(runtime.settings, mail))
    _, outbox_id = await reply_queued(runtime, clock)
    assert await deliver_one(outbox_id) == "retrying"
    async with runtime.sessionmaker() as s:
        row = await s.get(Outbox, outbox_id)
    assert row is not None and "could not reach the mail server" in (row.last_error or "")


async def test_starttls_required_is_never_downgraded_to_plaintext(
    runtime: HubContext, clock: FakeClock, smtp: mailservers.SmtpSink,
) -> None:
    from runtime.tasks import deliver_one

    # The sink offers no STARTTLS: with HUB_SMTP_TLS=starttls nothing may be sent in the clear.
    mail = mail_settings(smtp_host=smtp.host, smtp_port=smtp.port, smtp_tls="starttls")
    register_sender("email", EmailSender(runtime.settings, mail))
    _, outbox_id = await reply_queued(runtime, clock)
    assert await deliver_one(outbox_id) == "retrying"
    assert smtp.messages == []


def test_subjects_carry_the_reference_once() -> None:
    assert clean_subject("RE: Fwd: [OAC-2026-000001] Padró", "OAC-2026-000001") == "Padró"
    thread = Thread(subject="Re: [OAC-2026-000001] Padró", has_inbound=True)
    assert outgoing_subject(thread, "", "OAC-2026-000001") == "Re: [OAC-2026-000001] Padró"
    assert outgoing_subject(Thread(), "Cita", "OAC-2026-000002") == "[OAC-2026-000002] Cita"


async def test_an_out_of_office_on_the_thread_does_not_redirect_the_answer(
    runtime: HubContext, clock: FakeClock, smtp: mailservers.SmtpSink,
) -> None:
    from runtime.tasks import deliver_one

    register_sender("email", EmailSender(runtime.settings, mail_settings()))
    ticket_id, outbox_id = await reply_queued(runtime, clock)
    await do_receive_message(runtime, InboundMessage(
        channel="email", provider_id="ooo-9@example.cat", received_at=clock.now(), body="Fora de l'oficina",
        identities=[IdentityIn("email", "colleague@example.cat")], ticket_id=ticket_id, automatic=True,
        meta={"from": "colleague@example.cat", "automatic": "Auto-Submitted: auto-replied"},
    ))
    assert await deliver_one(outbox_id) == "sent"
    [got] = smtp.wait_for(1)
    assert got.rcpt_tos == ["replies@example.cat"]
    assert got.message["In-Reply-To"] == "<citizen-1@example.cat>"
