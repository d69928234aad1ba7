"""Outbound WhatsApp: Twilio's errors, status callbacks, the 24-hour window, the rate limit."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlmodel import select

from channels.whatsapp.sender import RateLimiter, classify
from channels.whatsapp.window import window_open
from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.lifecycle import do_resolve
from hub.actions.messages import do_reply
from hub.db.tables import Message, Outbox, Ticket
from hub.delivery import PermanentError, TransientError
from tests.support.whatsapp_channel import Hub, channel_settings
from tests.support.fake_twilio import FakeTwilio

SURVEY_HX = "HX" + "5" * 32
REPLY_HX = "HX" + "7" * 32


async def rows(hub: Hub, table, *where):  # type: ignore[no-untyped-def]
    async with hub.ctx.sessionmaker() as s:
        return list((await s.exec(select(table).where(*where).order_by(table.id))).all())


async def identified_ticket(hub: Hub) -> tuple[int, int]:
    agent = await do_create_agent(hub.ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    await do_set_presence(hub.ctx, agent, "available")
    hub.inbound("SM1", "Hola")
    hub.inbound("SM2", "Anna")
    await hub.work()
    [ticket] = await rows(hub, Ticket)
    assert ticket.assignee_id == agent
    return ticket.id, agent


async def test_status_callbacks_never_move_a_message_backwards(hub: Hub, twilio: FakeTwilio) -> None:
    hub.inbound("SM1", "Hola")
    await hub.work()
    [welcome] = await rows(hub, Message, Message.direction == "out")
    sid = welcome.provider_id
    assert welcome.status == "queued" and sid and sid.startswith("SM")
    for status in ("read", "delivered", "sent", "queued"):  # Twilio gives no ordering guarantee
        assert hub.status(sid, status).status_code == 200
    [welcome] = await rows(hub, Message, Message.direction == "out")
    assert welcome.status == "read"


async def test_a_failed_callback_carries_the_code_and_a_readable_explanation(hub: Hub) -> None:
    hub.inbound("SM1", "Hola")
    await hub.work()
    [welcome] = await rows(hub, Message, Message.direction == "out")
    hub.status(welcome.provider_id, "undelivered", "63024")
    hub.status(welcome.provider_id, "sent")
    [welcome] = await rows(hub, Message, Message.direction == "out")
    assert welcome.status == "undelivered" and welcome.error_code == "63024"
    assert "cannot receive WhatsApp messages" in (welcome.error_detail or "")


@pytest.mark.parametrize("status,code,outcome,reason", [
    (400, 21211, "failed", "not a valid number"),
    (400, 21614, "failed", "not a mobile number"),
    (400, 63024, "failed", "cannot receive WhatsApp"),
    (429, 63018, "retrying", None),
    (500, None, "retrying", None),
    (503, 20500, "retrying", None),
])
async def test_twilio_errors_end_as_failed_with_a_reason_or_are_retried(
    hub: Hub, twilio: FakeTwilio, status: int, code: int | None, outcome: str, reason: str | None,
) -> None:
    twilio.fail_next(status, code, "Twilio says no")
    hub.inbound("SM1", "Hola")
    result = await hub.work()
    assert result[outcome] == 1
    [row] = await rows(hub, Outbox)
    [welcome] = await rows(hub, Message, Message.direction == "out")
    if outcome == "failed":
        assert row.status == "failed" and welcome.status == "failed"
        assert welcome.error_code == str(code) and reason in (welcome.error_detail or "")
        return
    assert row.status == "pending" and row.attempts == 1
    wait = row.next_attempt_at - hub.clock.now()
    assert wait >= (timedelta(seconds=30) if code == 63018 else timedelta(seconds=2))
    hub.clock.advance(wait)
    assert (await hub.work())["sent"] == 1  # the next attempt goes through
    assert len(twilio.attempts()) == 2 and len(twilio.sent()) == 1


def test_errors_are_classified_for_the_outbox() -> None:
    assert isinstance(classify(400, 21211, "x"), PermanentError)
    assert isinstance(classify(429, None, "x"), TransientError)
    assert classify(429, 63018, "x").retry_after == 30  # type: ignore[union-attr]
    assert isinstance(classify(502, None, "x"), TransientError)
    assert isinstance(classify(401, 20003, "x"), PermanentError)


async def test_inside_the_window_the_survey_is_free_text(hub: Hub, twilio: FakeTwilio) -> None:
    ticket_id, agent = await identified_ticket(hub)
    hub.clock.advance(hours=23, minutes=59)
    await do_resolve(hub.ctx, ticket_id, agent)
    await hub.work()
    last = twilio.sent()[-1]
    assert "/survey/" in (last.value("Body") or "") and last.value("ContentSid") is None


async def test_outside_the_window_the_survey_uses_the_approved_template(hub: Hub, twilio: FakeTwilio) -> None:
    channel_settings().twilio_template_survey = SURVEY_HX
    ticket_id, agent = await identified_ticket(hub)
    hub.clock.advance(hours=24, seconds=1)
    resolved = await do_resolve(hub.ctx, ticket_id, agent)
    await hub.work()
    last = twilio.sent()[-1]
    assert last.value("ContentSid") == SURVEY_HX and last.value("Body") is None
    variables = json.loads(last.value("ContentVariables") or "{}")
    assert variables == {"1": (await rows(hub, Ticket))[0].reference, "2": resolved.survey_url}
    [survey] = [m for m in await rows(hub, Message) if m.meta.get("survey")]
    assert survey.meta.get("template") == SURVEY_HX and survey.status == "queued"


async def test_outside_the_window_without_a_template_the_agent_is_told_clearly(hub: Hub, twilio: FakeTwilio) -> None:
    ticket_id, agent = await identified_ticket(hub)
    sent_before = len(twilio.attempts())
    hub.clock.advance(hours=25)
    await do_reply(hub.ctx, ticket_id, agent, "Ja tenim el certificat")
    assert (await hub.work())["failed"] == 1
    [reply] = await rows(hub, Message, Message.body == "Ja tenim el certificat")
    assert reply.status == "failed" and reply.error_code == "window_closed"
    assert "24-hour window is closed" in (reply.error_detail or "")
    assert "HUB_TWILIO_TEMPLATE_AGENT_REPLY" in (reply.error_detail or "")
    assert len(twilio.attempts()) == sent_before  # nothing was attempted blindly


async def test_outside_the_window_an_agent_reply_becomes_the_answered_you_template(hub: Hub, twilio: FakeTwilio) -> None:
    channel_settings().twilio_template_agent_reply = REPLY_HX
    ticket_id, agent = await identified_ticket(hub)
    hub.clock.advance(hours=30)
    await do_reply(hub.ctx, ticket_id, agent, "Ja tenim el certificat")
    await hub.work()
    last = twilio.sent()[-1]
    assert last.value("ContentSid") == REPLY_HX and last.value("Body") is None
    assert json.loads(last.value("ContentVariables") or "{}")["2"] == "Anna"
    # The citizen answers: the window is open again and free text flows.
    hub.inbound("SM3", "Digueu")
    await do_reply(hub.ctx, ticket_id, agent, "Aquí el tens")
    await hub.work()
    assert twilio.sent()[-1].value("Body") == "Aquí el tens"


def test_window_open_is_24_hours_from_the_last_inbound_message() -> None:
    from datetime import UTC, datetime

    last = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert window_open(last, last + timedelta(hours=23, minutes=59, seconds=59))
    assert not window_open(last, last + timedelta(hours=24))
    assert not window_open(None, last)


def test_the_rate_limiter_spaces_sends_evenly() -> None:
    now = [100.0]
    limiter = RateLimiter(80, clock=lambda: now[0])
    waits = [limiter.reserve() for _ in range(160)]
    assert waits[0] == 0 and waits[79] == pytest.approx(79 / 80) and waits[159] == pytest.approx(159 / 80)
    now[0] += 10  # after a quiet spell there is no backlog
    assert limiter.reserve() == 0


async def test_an_unreachable_twilio_is_retried_later_and_nothing_is_lost(hub: Hub, twilio: FakeTwilio) -> None:
    twilio.stop()  # connection refused
    hub.inbound("SM1", "Hola")
    assert (await hub.work())["retrying"] == 1
    [row] = await rows(hub, Outbox)
    assert row.status == "pending" and "cannot reach Twilio" in (row.last_error or "")
