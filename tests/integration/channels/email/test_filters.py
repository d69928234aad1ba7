"""Each filter of the chain on its own, against the real database where it reads stored data."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from channels.email.filters import (
    MailPolicy, Verdict, acknowledge, auto_response, automatic_reason, duplicate, follow_up, run_chain, size_limit,
)
from channels.email.lookup import DbLookups
from channels.email.parse import ParsedMail, parse_mail
from hub.actions.lifecycle import do_resolve
from hub.actions.messages import do_receive_message
from hub.clock import FakeClock
from hub.context import HubContext
from hub.inbound import IdentityIn, InboundMessage
from tests.support.email_channel import fixture

POLICY = MailPolicy(our_addresses=frozenset({"oac360@paeria.cat"}), max_message_bytes=1000)


def mail(**headers: str) -> ParsedMail:
    msg = EmailMessage()
    msg["From"] = headers.pop("From", "Citizen <citizen@example.cat>")
    msg["To"] = "oac360@paeria.cat"
    msg["Subject"] = headers.pop("Subject", "Consulta")
    msg["Message-ID"] = headers.pop("Message_ID", "<new-1@example.cat>")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Hola")
    return parse_mail(msg.as_bytes())


async def stored(ctx: HubContext, clock: FakeClock, provider_id: str, sender: str = "citizen@example.cat",
                 ticket_id: int | None = None, meta: dict | None = None) -> int:
    got = await do_receive_message(ctx, InboundMessage(
        channel="email", provider_id=provider_id, received_at=clock.now(), body="x",
        identities=[IdentityIn("email", sender)], ticket_id=ticket_id,
        meta=meta or {"from": sender, "to": ["oac360@paeria.cat"]},
    ))
    assert got.ticket_id is not None
    return got.ticket_id


# duplicate -----------------------------------------------------------------------------------


async def test_duplicate_recognises_an_imported_message_id(ctx: HubContext, clock: FakeClock) -> None:
    await stored(ctx, clock, "new-1@example.cat")
    verdict = Verdict()
    await duplicate(mail(), verdict, DbLookups(ctx), POLICY)
    assert verdict.duplicate and verdict.stop
    fresh = Verdict()
    await duplicate(mail(Message_ID="<other@example.cat>"), fresh, DbLookups(ctx), POLICY)
    assert not fresh.duplicate


async def test_duplicate_uses_the_substitute_when_the_message_id_is_missing(ctx: HubContext, clock: FakeClock) -> None:
    parsed = parse_mail(fixture("no_message_id.eml"))
    await stored(ctx, clock, parsed.provider_id)
    verdict = Verdict()
    await duplicate(parse_mail(fixture("no_message_id.eml")), verdict, DbLookups(ctx), POLICY)
    assert verdict.duplicate


# size ----------------------------------------------------------------------------------------


async def test_size_limit_quarantines_with_a_readable_reason(ctx: HubContext) -> None:
    big = mail()
    big.size = 3 * 1024 * 1024
    verdict = Verdict()
    await size_limit(big, verdict, DbLookups(ctx), MailPolicy(max_message_bytes=1024 * 1024))
    assert verdict.quarantine == "message too large: 3 MB (limit 1 MB)"
    ok = Verdict()
    await size_limit(mail(), ok, DbLookups(ctx), MailPolicy(max_message_bytes=1024 * 1024))
    assert ok.quarantine is None


# auto-responses ------------------------------------------------------------------------------


@pytest.mark.parametrize("headers, reason", [
    ({"Auto_Submitted": "auto-replied"}, "Auto-Submitted: auto-replied"),
    ({"Auto_Submitted": "auto-generated"}, "Auto-Submitted: auto-generated"),
    ({"Precedence": "bulk"}, "Precedence: bulk"),
    ({"Precedence": "junk"}, "Precedence: junk"),
    ({"Precedence": "list"}, "Precedence: list"),
    ({"X_Auto_Response_Suppress": "OOF, AutoReply"}, "X-Auto-Response-Suppress: OOF, AutoReply"),
    ({"List_Id": "<news.example.cat>"}, "mailing list (list-id)"),
    ({"List_Unsubscribe": "<mailto:u@x>"}, "mailing list (list-unsubscribe)"),
    ({"X_Loop": "oac360@paeria.cat"}, "X-Loop"),
    ({"X_Autoreply": "yes"}, "x-autoreply: yes"),
    ({"Return_Path": "<>"}, "bounce (null Return-Path)"),
    ({"From": "MAILER-DAEMON@mx.example.cat"}, "no-reply sender (mailer-daemon@mx.example.cat)"),
    ({"From": "no-reply@bank.example"}, "no-reply sender (no-reply@bank.example)"),
    ({"From": "noreply+tag@x.example"}, "no-reply sender (noreply+tag@x.example)"),
    ({"From": "oac360@paeria.cat"}, "sent by this mailbox"),
])
def test_automatic_mail_is_recognised(headers: dict[str, str], reason: str) -> None:
    assert automatic_reason(mail(**headers), POLICY.our_addresses) == reason


@pytest.mark.parametrize("headers", [
    {}, {"Auto_Submitted": "no"}, {"Precedence": "normal"}, {"From": "noreen@example.cat"},
    {"Return_Path": "<citizen@example.cat>"}, {"X_Loop": "somebody-else@example.org"},
])
def test_a_persons_mail_is_not_automatic(headers: dict[str, str]) -> None:
    assert automatic_reason(mail(**headers), POLICY.our_addresses) is None


@pytest.mark.parametrize("name", ["out_of_office.eml", "outlook_oof.eml", "dsn_bounce.eml", "mailing_list.eml"])
async def test_the_corpus_of_automatic_mail_is_flagged(ctx: HubContext, name: str) -> None:
    verdict = Verdict()
    await auto_response(parse_mail(fixture(name)), verdict, DbLookups(ctx), POLICY)
    assert verdict.automatic


# follow-ups ----------------------------------------------------------------------------------


async def test_in_reply_to_finds_the_ticket_of_a_message_we_received_or_sent(ctx: HubContext, clock: FakeClock) -> None:
    ticket = await stored(ctx, clock, "first@example.cat")
    await stored(ctx, clock, "hub.7.abc@paeria.cat", ticket_id=ticket,
                 meta={"from": "oac360@paeria.cat", "to": ["citizen@example.cat"]})
    for headers, how in [
        ({"In_Reply_To": "<first@example.cat>"}, "in-reply-to"),
        ({"In_Reply_To": "<hub.7.abc@paeria.cat>"}, "in-reply-to"),
        ({"References": "<unknown@x> <hub.7.abc@paeria.cat> <also-unknown@y>"}, "references"),
    ]:
        verdict = Verdict()
        await follow_up(mail(**headers), verdict, DbLookups(ctx), POLICY)
        assert (verdict.ticket_id, verdict.matched_by) == (ticket, how)


async def test_the_reference_in_the_subject_is_the_fallback(ctx: HubContext, clock: FakeClock) -> None:
    ticket = await stored(ctx, clock, "first@example.cat")
    reference = f"OAC-{clock.now().year}-{ticket:06d}"
    verdict = Verdict()
    await follow_up(mail(Subject=f"RE: [{reference}] Consulta", In_Reply_To="<outlook-local@x>"), verdict,
                    DbLookups(ctx), POLICY)
    assert (verdict.ticket_id, verdict.matched_by) == (ticket, "subject")


async def test_a_stranger_replying_to_a_thread_gets_a_new_ticket(ctx: HubContext, clock: FakeClock) -> None:
    ticket = await stored(ctx, clock, "first@example.cat", meta={
        "from": "citizen@example.cat", "to": ["oac360@paeria.cat"], "cc": ["daughter@example.cat"],
    })
    reference = f"OAC-{clock.now().year}-{ticket:06d}"
    stranger = Verdict()
    await follow_up(mail(From="someone@example.org", In_Reply_To="<first@example.cat>"), stranger, DbLookups(ctx), POLICY)
    assert stranger.ticket_id is None and stranger.related == reference
    # Somebody who was already in copy is part of the conversation.
    cc = Verdict()
    await follow_up(mail(From="daughter@example.cat", In_Reply_To="<first@example.cat>"), cc, DbLookups(ctx), POLICY)
    assert cc.ticket_id == ticket
    # An automatic reply (bounce, out-of-office) is filed on the thread whoever sends it.
    bounce = Verdict(automatic="Auto-Submitted: auto-replied")
    await follow_up(mail(From="mailer-daemon@x", In_Reply_To="<first@example.cat>"), bounce, DbLookups(ctx), POLICY)
    assert bounce.ticket_id == ticket


async def test_a_reply_to_a_resolved_ticket_opens_a_new_one_that_mentions_it(ctx: HubContext, clock: FakeClock) -> None:
    ticket = await stored(ctx, clock, "first@example.cat")
    await do_resolve(ctx, ticket, None, send_survey=False)
    verdict = Verdict()
    await follow_up(mail(In_Reply_To="<first@example.cat>"), verdict, DbLookups(ctx), POLICY)
    assert verdict.ticket_id is None and verdict.related == f"OAC-{clock.now().year}-{ticket:06d}"


async def test_an_unknown_reference_or_no_headers_is_a_new_thread(ctx: HubContext) -> None:
    verdict = Verdict()
    await follow_up(mail(Subject="[OAC-2026-999999] hola", References="<nobody@x>"), verdict, DbLookups(ctx), POLICY)
    assert verdict.ticket_id is None and verdict.related is None


# acknowledgement -----------------------------------------------------------------------------


@pytest.mark.parametrize("verdict, policy, expected", [
    (Verdict(), POLICY, True),
    (Verdict(), MailPolicy(auto_ack=False), False),
    (Verdict(automatic="Precedence: bulk"), POLICY, False),
    (Verdict(quarantine="too large"), POLICY, False),
    (Verdict(ticket_id=4), POLICY, False),
])
async def test_only_a_persons_new_consultation_is_acknowledged(
    ctx: HubContext, verdict: Verdict, policy: MailPolicy, expected: bool,
) -> None:
    await acknowledge(mail(), verdict, DbLookups(ctx), policy)
    assert verdict.acknowledge is expected


async def test_the_chain_stops_at_a_duplicate(ctx: HubContext, clock: FakeClock) -> None:
    await stored(ctx, clock, "new-1@example.cat")
    verdict = await run_chain(mail(Precedence="bulk"), DbLookups(ctx), POLICY)
    assert verdict.duplicate and verdict.automatic is None  # later filters did not run
