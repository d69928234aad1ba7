"""The whole loop against real servers: a citizen's mail APPENDed to Dovecot -> ticket ->
acknowledgement and agent reply received by the aiosmtpd server with the right headers ->
the citizen's reply, shaped as Gmail, Thunderbird and Outlook send it, lands on the same ticket."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlmodel import select

from channels.email.poller import MailboxPoller
from channels.email.sender import EmailSender
from hub.actions.agents import do_create_agent
from hub.actions.lifecycle import do_resolve
from hub.actions.messages import do_reply
from hub.context import HubContext
from hub.db.tables import Attachment, Contact, Message, Outbox, Ticket
from hub.delivery import register_sender
from tests.support.email_channel import OFFICE, fixture, mail_settings
from tests.support import mailservers


async def rows(ctx: HubContext, table, *where):  # type: ignore[no-untyped-def]
    async with ctx.sessionmaker() as s:
        return list((await s.exec(select(table).where(*where))).all())


async def deliver_pending(ctx: HubContext) -> list[str]:
    from runtime.tasks import deliver_one

    results = []
    for row in await rows(ctx, Outbox, Outbox.status == "pending"):
        results.append(await deliver_one(row.id))
    return results


def citizen_reply(shape: str, to_msg: EmailMessage, chain: list[str], body: str) -> EmailMessage:
    """A reply to `to_msg` as each mail client writes it."""
    reply = EmailMessage()
    reply["From"] = "Núria Puig <nuria.puig@example.cat>"
    reply["To"] = str(to_msg["From"])
    subject = str(to_msg["Subject"])
    if shape == "gmail":
        reply["Subject"] = subject if subject.lower().startswith("re:") else f"Re: {subject}"
        reply["Message-ID"] = "<CAGmail-" + body[:5].replace(" ", "") + "@mail.gmail.com>"
        reply["In-Reply-To"] = str(to_msg["Message-ID"])
        reply["References"] = " ".join(chain[-1:] + [str(to_msg["Message-ID"])])  # Gmail keeps few
    elif shape == "thunderbird":
        reply["Subject"] = f"Re: {subject.removeprefix('Re: ')}"
        reply["Message-ID"] = "<tb-" + body[:5].replace(" ", "") + "@example.cat>"
        reply["In-Reply-To"] = str(to_msg["Message-ID"])
        reply["References"] = " ".join(chain + [str(to_msg["Message-ID"])])
        reply["User-Agent"] = "Mozilla Thunderbird"
    elif shape == "outlook":
        # Outlook answers with its own ids: In-Reply-To points at its copy, no References,
        # Thread-Index instead; the subject (with our reference) survives with "RE:".
        reply["Subject"] = "RE: " + subject.removeprefix("Re: ")
        reply["Message-ID"] = "<AM0PR01MB" + body[:5].replace(" ", "") + "@AM0PR01MB.eurprd01.prod.outlook.com>"
        reply["In-Reply-To"] = "<AM0PR01MB0000LOCALCOPY@AM0PR01MB.eurprd01.prod.outlook.com>"
        reply["Thread-Index"] = "AQHa1b2c3d4e5f6g7h8i9j0k=="
        reply["Thread-Topic"] = subject
    reply.set_content(f"{body}\n\n> quoted history of the previous mail\n> ...\n")
    return reply


async def test_citizen_mail_to_ticket_to_reply_and_back_on_one_ticket(
    runtime: HubContext, smtp: mailservers.SmtpSink,
    dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    ctx = runtime
    mail = mail_settings(imap_folder=folder, **dovecot_server.settings())
    register_sender("email", EmailSender(ctx.settings, mail))
    dovecot_server.append(fixture("utf8_plain.eml"), folder)
    poller = MailboxPoller(ctx, mail)
    await poller.connect()
    try:
        report = await poller.catch_up()
        assert [o.status for o in report.outcomes] == ["imported"]
        [ticket] = await rows(ctx, Ticket)
        assert ticket.channel == "email" and ticket.status == "waiting"
        assert ticket.subject == "Certificat d'empadronament"
        [contact] = await rows(ctx, Contact)
        assert contact.language == "ca" and contact.display_hint == "Núria Puig"

        # The acknowledgement: RFC 3834-marked, threaded, with the reference, in Catalan.
        assert await deliver_pending(ctx) == ["sent"]
        [ack] = smtp.wait_for(1)
        ack_mail = ack.message
        assert ack.rcpt_tos == ["nuria.puig@example.cat"]
        assert ack_mail["Auto-Submitted"] == "auto-replied"
        assert ack_mail["In-Reply-To"] == "<utf8-plain-1@example.cat>"
        assert str(ack_mail["Subject"]) == f"Re: [{ticket.reference}] Certificat d'empadronament"
        assert ticket.reference in ack_mail.get_body(("plain",)).get_content()
        assert "Hem rebut" in ack_mail.get_body(("plain",)).get_content()

        # The agent answers: our own Message-ID is stored, the headers thread with the citizen's.
        agent = await do_create_agent(ctx, "agent@oac.example", "Jordi Vidal", "agent", "password123")
        await do_reply(ctx, ticket.id, agent, "Bon dia Núria,\n\nPot demanar-lo a la seu electrònica.")
        assert await deliver_pending(ctx) == ["sent"]
        _, answer = smtp.wait_for(2)
        out = answer.message
        assert str(out["From"]) == f"OAC Lleida <{OFFICE}>"
        assert "Auto-Submitted" not in out
        assert out["In-Reply-To"] == "<utf8-plain-1@example.cat>"
        assert out["References"].split()[0] == "<utf8-plain-1@example.cat>"
        assert str(ack_mail["Message-ID"]) in out["References"]
        assert out.get_body(("html",)) is not None and out.get_body(("plain",)) is not None
        sent = [m for m in await rows(ctx, Message, Message.direction == "out") if m.kind == "text"]
        assert [f"<{m.provider_id}>" for m in sent] == [str(out["Message-ID"])]

        # The citizen answers from three different clients: always the same ticket, no new ack.
        chain = ["<utf8-plain-1@example.cat>", str(ack_mail["Message-ID"])]
        for shape in ("gmail", "thunderbird", "outlook"):
            dovecot_server.append(citizen_reply(shape, out, chain, f"Reply {shape}"), folder)
        report = await poller.catch_up()
        assert [o.status for o in report.outcomes] == ["imported"] * 3
        assert {o.ticket_id for o in report.outcomes} == {ticket.id}
        assert len(await rows(ctx, Ticket)) == 1
        inbound = await rows(ctx, Message, Message.direction == "in")
        by_body = {m.body.split("\n")[0]: m for m in inbound}
        assert by_body["Reply gmail"].meta["matched_by"] == "in-reply-to"
        assert by_body["Reply thunderbird"].meta["matched_by"] == "in-reply-to"
        assert by_body["Reply outlook"].meta["matched_by"] == "subject"
        assert by_body["Reply gmail"].meta["new_text"] == "Reply gmail"  # quoted history folded
        assert await deliver_pending(ctx) == []  # no second acknowledgement

        # A stranger answering the same thread does not join the citizen's consultation.
        stranger = citizen_reply("gmail", out, chain, "Stranger here")
        stranger.replace_header("From", "Someone Else <someone@example.org>")
        dovecot_server.append(stranger, folder)
        [outcome] = (await poller.catch_up()).outcomes
        assert outcome.new_ticket and outcome.ticket_id != ticket.id
        [other] = await rows(ctx, Message, Message.ticket_id == outcome.ticket_id, Message.direction == "in")
        assert other.meta["related_ticket"] == ticket.reference
    finally:
        await poller.close()


async def test_resolution_sends_the_survey_by_mail_in_the_contacts_language(
    runtime: HubContext, smtp: mailservers.SmtpSink,
    dovecot_server: mailservers.Dovecot, folder: str,
) -> None:
    ctx = runtime
    mail = mail_settings(imap_folder=folder, mail_auto_ack=False, **dovecot_server.settings())
    register_sender("email", EmailSender(ctx.settings, mail))
    dovecot_server.append(fixture("latin1_qp.eml"), folder)  # Content-Language: es-ES
    poller = MailboxPoller(ctx, mail)
    await poller.connect()
    try:
        await poller.catch_up()
    finally:
        await poller.close()
    [ticket] = await rows(ctx, Ticket)
    [contact] = await rows(ctx, Contact)
    assert contact.language == "es"
    assert await deliver_pending(ctx) == []  # acknowledgements switched off
    resolved = await do_resolve(ctx, ticket.id, None)
    assert await deliver_pending(ctx) == ["sent"]
    [survey] = smtp.wait_for(1)
    body = survey.message.get_body(("plain",)).get_content()
    assert "Tu consulta" in body and resolved.survey_url in body
    assert survey.message["Auto-Submitted"] == "auto-generated"
    assert survey.message["Content-Language"] == "es"
    assert survey.rcpt_tos == ["jmibanez@example.es"]


@pytest.mark.parametrize("store", ["local", "database"])
async def test_attachments_are_stored_by_hash_and_inline_images_kept_apart(
    runtime: HubContext, smtp: mailservers.SmtpSink,
    dovecot_server: mailservers.Dovecot, folder: str, store: str,
) -> None:
    ctx = runtime
    ctx.settings.attachments = store  # HUB_ATTACHMENTS
    dovecot_server.append(fixture("attachment_pdf.eml"), folder)
    dovecot_server.append(fixture("html_only_tracking.eml"), folder)
    poller = MailboxPoller(ctx, mail_settings(imap_folder=folder, **dovecot_server.settings()))
    await poller.connect()
    try:
        await poller.catch_up()
    finally:
        await poller.close()
    atts = {a.filename: a for a in await rows(ctx, Attachment)}
    pdf = atts["instància.pdf"]
    assert pdf.status == "stored" and pdf.content_type == "application/pdf" and not pdf.inline
    assert (await ctx.files.read(pdf.storage_key)).startswith(b"%PDF-1.4")
    on_disk = Path(ctx.settings.data_dir) / "attachments" / pdf.storage_key
    assert on_disk.is_file() is (store == "local")  # in the database, nothing on this host's disk
    logo = next(a for a in atts.values() if a.content_type == "image/png")
    assert logo.inline and logo.status == "stored"
    [html_msg] = await rows(ctx, Message, Message.provider_id == "html-only-1@example.cat")
    assert "<script" not in html_msg.body_html and "tracker.example" not in html_msg.body_html
    assert 'src="cid:logo@example.cat"' in html_msg.body_html
    assert "massa alta" in html_msg.body
