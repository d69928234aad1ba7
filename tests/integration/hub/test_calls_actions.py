"""Logging calls: one citizen across channels, attach or open a ticket, missed -> call-back -> done."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import select

from hub.actions.agents import do_create_agent
from hub.actions.calls import CallEntry, do_log_call, list_calls, lookup_caller
from hub.actions.errors import Conflict, Invalid, NotFound
from hub.actions.messages import do_receive_message
from hub.clock import FakeClock
from hub.context import HubContext
from hub.db.tables import Call, Contact, EventRow, Identity, SurveyResponse, Ticket
from hub.inbound import IdentityIn, InboundMessage

MOBILE = "+34600111222"


async def rows(ctx: HubContext, table, *where):  # type: ignore[no-untyped-def]
    async with ctx.sessionmaker() as s:
        return list((await s.exec(select(table).where(*where).order_by(table.id))).all())


async def whatsapp_contact(ctx: HubContext, clock: FakeClock, number: str = MOBILE) -> Ticket:
    await do_receive_message(ctx, InboundMessage(
        channel="whatsapp", provider_id=f"SM{clock.now().timestamp()}", received_at=clock.now(), body="Hola",
        identities=[IdentityIn("phone", number)], display_hint="Anna",
    ))
    [ticket] = await rows(ctx, Ticket, Ticket.channel == "whatsapp")
    return ticket


@pytest.fixture
async def agent(ctx: HubContext) -> int:
    return await do_create_agent(ctx, "marta@oac.example", "Marta Puig", "agent", "password123")


async def test_a_whatsapp_contact_calling_is_the_same_contact(ctx: HubContext, clock: FakeClock, agent: int) -> None:
    wa = await whatsapp_contact(ctx, clock)
    # The agent types the number the way the citizen says it.
    found = await lookup_caller(ctx, "600 11 12 22")
    assert found.contact is not None and found.contact.id == wa.contact_id
    assert [t.id for t in found.open_tickets] == [wa.id]
    logged = await do_log_call(ctx, CallEntry("600 11 12 22", duration_s=95, topic="Padró", agent_id=agent))
    assert logged.contact_id == wa.contact_id
    assert len(await rows(ctx, Contact)) == 1 and len(await rows(ctx, Identity)) == 1


async def test_a_call_attached_to_an_existing_ticket_of_another_channel(ctx: HubContext, clock: FakeClock, agent: int) -> None:
    wa = await whatsapp_contact(ctx, clock)
    clock.advance(minutes=5)
    logged = await do_log_call(ctx, CallEntry(
        "0034600111222", duration_s=60, topic="Rebut IBI", notes="Li explico el termini", agent_id=agent, ticket_id=wa.id,
    ))
    assert logged.ticket_id == wa.id and not logged.new_ticket
    [call] = await rows(ctx, Call)
    assert (call.ticket_id, call.number, call.outcome, call.duration_s, call.done) == (wa.id, MOBILE, "answered", 60, True)
    assert call.started_at == clock.now() - timedelta(seconds=60)
    [ticket] = await rows(ctx, Ticket)
    assert ticket.status == wa.status  # attaching alone does not move the consultation
    [event] = await rows(ctx, EventRow, EventRow.kind == "call_logged")
    assert event.ticket_id == wa.id and event.channel == "phone" and event.at == call.started_at
    assert event.data["outcome"] == "answered" and event.data["talk_s"] == 60 and event.data["source"] == "agent"


async def test_a_new_number_attached_to_a_ticket_joins_that_ticket_s_contact(ctx: HubContext, clock: FakeClock, agent: int) -> None:
    wa = await whatsapp_contact(ctx, clock)
    await do_log_call(ctx, CallEntry("973 93 02 47", duration_s=30, agent_id=agent, ticket_id=wa.id))
    assert {(i.kind, i.value, i.contact_id) for i in await rows(ctx, Identity)} == {
        ("phone", MOBILE, wa.contact_id), ("phone", "+34973930247", wa.contact_id),
    }
    assert (await lookup_caller(ctx, "973930247")).contact.id == wa.contact_id  # type: ignore[union-attr]


async def test_a_number_of_another_contact_cannot_be_attached_without_merging(ctx: HubContext, clock: FakeClock, agent: int) -> None:
    wa = await whatsapp_contact(ctx, clock)
    await do_log_call(ctx, CallEntry("973 93 02 47", duration_s=30, agent_id=agent))
    before = len(await rows(ctx, Call))
    with pytest.raises(Conflict, match="merge"):
        await do_log_call(ctx, CallEntry("973 93 02 47", duration_s=30, agent_id=agent, ticket_id=wa.id))
    assert len(await rows(ctx, Call)) == before


async def test_an_answered_call_without_a_ticket_is_a_phone_ticket_resolved_on_the_call(ctx: HubContext, agent: int) -> None:
    logged = await do_log_call(ctx, CallEntry("973930247", duration_s=200, topic="Certificat", agent_id=agent))
    assert logged.new_ticket
    [ticket] = await rows(ctx, Ticket)
    assert (ticket.channel, ticket.kind, ticket.status, ticket.assignee_id, ticket.subject) == (
        "phone", "consultation", "resolved", agent, "Certificat")
    kinds = [e.kind for e in await rows(ctx, EventRow, EventRow.ticket_id == ticket.id)]
    assert kinds == ["created", "queued", "assigned", "resolved", "call_logged"]
    assert await rows(ctx, SurveyResponse) == []  # no survey on the phone


async def test_an_answered_call_can_leave_its_ticket_in_the_queue_for_follow_up(ctx: HubContext, agent: int) -> None:
    logged = await do_log_call(ctx, CallEntry("973930247", duration_s=200, agent_id=agent, follow_up=True))
    [ticket] = await rows(ctx, Ticket)
    assert ticket.id == logged.ticket_id and ticket.status == "waiting" and ticket.kind == "consultation"


async def test_resolving_an_existing_ticket_on_the_call(ctx: HubContext, agent: int) -> None:
    first = await do_log_call(ctx, CallEntry("973930247", duration_s=20, agent_id=agent, follow_up=True))
    await do_log_call(ctx, CallEntry("973930247", duration_s=20, agent_id=agent, ticket_id=first.ticket_id, resolve=True))
    [ticket] = await rows(ctx, Ticket)
    assert ticket.status == "resolved"
    assert len(await rows(ctx, Call, Call.ticket_id == ticket.id)) == 2


async def test_missed_call_becomes_a_call_back_task_then_done(ctx: HubContext, clock: FakeClock, agent: int) -> None:
    missed = await do_log_call(ctx, CallEntry("973 93 02 47", outcome="missed", agent_id=agent))
    [task] = await rows(ctx, Ticket)
    assert task.id == missed.ticket_id and task.kind == "callback" and task.status == "waiting"
    assert task.subject == "+34973930247" and task.channel == "phone"
    clock.advance(minutes=10)
    again = await do_log_call(ctx, CallEntry("973930247", outcome="busy"))
    assert again.ticket_id == task.id and len(await rows(ctx, Ticket)) == 1  # one task per citizen
    assert [c.done for c in await list_calls(ctx, pending_call_backs=True)] == [False, False]
    # The agent tries once and does not reach the citizen: still to do.
    clock.advance(minutes=30)
    attempt = await do_log_call(ctx, CallEntry("973930247", direction="outbound", outcome="missed", agent_id=agent))
    assert attempt.ticket_id == task.id and len(await list_calls(ctx, pending_call_backs=True)) == 2
    # Then reaches them: the task is done.
    clock.advance(minutes=30)
    back = await do_log_call(ctx, CallEntry("973930247", direction="outbound", duration_s=120, agent_id=agent, topic="Padró"))
    assert back.called_back_ticket_ids == (task.id,) and back.ticket_id == task.id
    [task] = await rows(ctx, Ticket)
    assert task.status == "resolved" and task.assignee_id == agent
    assert await list_calls(ctx, pending_call_backs=True) == []
    assert all(c.done for c in await rows(ctx, Call))
    [done] = await rows(ctx, EventRow, EventRow.kind == "called_back")
    assert done.ticket_id == task.id and done.agent_id == agent
    assert done.data["call_id"] == back.call_id and len(done.data["missed_call_ids"]) == 2
    assert done.data["after_s"] == 70 * 60 - 120  # first missed call to the call-back's start
    logged = await rows(ctx, EventRow, EventRow.kind == "call_logged")
    assert [e.data["needs_call_back"] for e in logged] == [True, True, False, False]


async def test_a_missed_call_from_a_withheld_number_is_logged_without_a_task(ctx: HubContext) -> None:
    logged = await do_log_call(ctx, CallEntry("anonymous", outcome="missed"))
    assert logged.ticket_id is None and logged.contact_id is None
    assert await rows(ctx, Ticket) == [] and await rows(ctx, Contact) == []
    [event] = await rows(ctx, EventRow)
    assert event.ticket_id is None and event.kind == "call_logged" and event.data["number"] == "anonymous"


@pytest.mark.parametrize(("entry", "error", "message"), [
    (CallEntry("hola"), Invalid, "no digits"),
    (CallEntry("973 93 02"), Invalid, "digits|not a number"),
    (CallEntry("973930247", direction="sideways"), Invalid, "direction"),
    (CallEntry("973930247", outcome="lost"), Invalid, "outcome"),
    (CallEntry("973930247", duration_s=-1), Invalid, "duration"),
    (CallEntry("973930247", outcome="missed", duration_s=10), Invalid, "talking time"),
    (CallEntry("973930247", topic="x" * 201), Invalid, "200"),
    (CallEntry("anonymous", direction="outbound"), Invalid, "number that was called"),
    (CallEntry("973930247", ticket_id=999), NotFound, "999"),
    (CallEntry("973930247", agent_id=999), NotFound, "agent"),
    (CallEntry("973930247", resolve=True), Invalid, "resolve"),
])
async def test_bad_entries_are_refused_and_change_nothing(ctx: HubContext, entry: CallEntry, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        await do_log_call(ctx, entry)
    assert await rows(ctx, Call) == [] and await rows(ctx, Contact) == [] and await rows(ctx, EventRow) == []


async def test_a_call_in_the_future_is_refused(ctx: HubContext, clock: FakeClock) -> None:
    with pytest.raises(Invalid, match="future"):
        await do_log_call(ctx, CallEntry("973930247", started_at=clock.now() + timedelta(hours=1)))


async def test_calls_are_logged_on_both_databases(any_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    ctx = HubContext.create(make_settings(tmp_path, any_db_url), FakeClock())
    try:
        await do_log_call(ctx, CallEntry("973930247", outcome="missed"))
        back = await do_log_call(ctx, CallEntry("973930247", direction="outbound", duration_s=5))
        assert len(back.called_back_ticket_ids) == 1
        assert [c.done for c in await list_calls(ctx)] == [True, True]
    finally:
        await ctx.close()


async def _twilio_call(ctx: HubContext, clock: FakeClock, sid: str, number: str, *, answered: bool = True) -> int:
    from hub.actions.calls import do_record_call_signal
    from hub.calls import CallSignal, Signal

    call_id = await do_record_call_signal(ctx, CallSignal(sid, Signal.RINGING, clock.now(), "inbound", number, None, 0))
    if answered:
        await do_record_call_signal(ctx, CallSignal(sid, Signal.ANSWERED, clock.now() + timedelta(seconds=5), "inbound", number, None, 1))
        await do_record_call_signal(ctx, CallSignal(sid, Signal.COMPLETED, clock.now() + timedelta(seconds=65), "inbound", number, 60, 2))
    else:
        await do_record_call_signal(ctx, CallSignal(sid, Signal.NO_ANSWER, clock.now() + timedelta(seconds=30), "inbound", number, 0, 1))
    return call_id


async def test_an_answered_twilio_call_is_filed_on_a_ticket_afterwards(ctx: HubContext, clock: FakeClock, agent: int) -> None:
    wa = await whatsapp_contact(ctx, clock)
    call_id = await _twilio_call(ctx, clock, "CA1", MOBILE)
    assert [c.id for c in await list_calls(ctx, unfiled=True)] == [call_id]
    filed = await do_log_call(ctx, CallEntry("", call_id=call_id, topic="Padró", notes="Volant", agent_id=agent,
                                             ticket_id=wa.id))
    assert filed.call_id == call_id and filed.ticket_id == wa.id
    [call] = await rows(ctx, Call)
    assert (call.ticket_id, call.topic, call.notes, call.agent_id, call.duration_s) == (wa.id, "Padró", "Volant", agent, 60)
    [attached] = await rows(ctx, EventRow, EventRow.kind == "call_attached")
    assert attached.ticket_id == wa.id and attached.data == {"call_id": call_id}
    assert await list_calls(ctx, unfiled=True) == []
    assert len(await rows(ctx, EventRow, EventRow.kind == "call_logged")) == 1  # counted once, when it ended


async def test_filing_a_twilio_call_without_a_ticket_opens_one_resolved_on_the_call(ctx: HubContext, clock: FakeClock, agent: int) -> None:
    call_id = await _twilio_call(ctx, clock, "CA1", "+34973930247")
    filed = await do_log_call(ctx, CallEntry("", call_id=call_id, topic="Certificat", agent_id=agent))
    [ticket] = await rows(ctx, Ticket)
    assert filed.new_ticket and filed.ticket_id == ticket.id and ticket.status == "resolved" and ticket.channel == "phone"
    with pytest.raises(NotFound):
        await do_log_call(ctx, CallEntry("", call_id=999))


async def test_a_call_still_ringing_cannot_be_filed(ctx: HubContext, clock: FakeClock) -> None:
    from hub.actions.calls import do_record_call_signal
    from hub.calls import CallSignal, Signal

    call_id = await do_record_call_signal(ctx, CallSignal("CA9", Signal.RINGING, clock.now(), "inbound", MOBILE, None, 0))
    with pytest.raises(Conflict, match="not ended"):
        await do_log_call(ctx, CallEntry("", call_id=call_id, topic="x"))


async def test_simultaneous_callbacks_of_a_new_call_make_one_call_and_one_contact(any_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from hub.actions.calls import do_record_call_signal
    from hub.calls import CallSignal, Signal
    from tests.conftest import make_settings

    clock = FakeClock()
    ctx = HubContext.create(make_settings(tmp_path, any_db_url), clock)
    t = clock.now()
    signals = [
        CallSignal("CA1", Signal.RINGING, t, "inbound", MOBILE, None, 0),
        CallSignal("CA1", Signal.ANSWERED, t + timedelta(seconds=4), "inbound", MOBILE, None, 1),
        CallSignal("CA1", Signal.COMPLETED, t + timedelta(seconds=64), "inbound", MOBILE, 60, 2),
    ]
    try:
        ids = await asyncio.gather(*(do_record_call_signal(ctx, s) for s in signals))
        assert len(set(ids)) == 1
        [call] = await rows(ctx, Call)
        assert (call.outcome, call.wait_s, call.duration_s, call.state) == ("answered", 4, 60, "ended")
        assert len(await rows(ctx, Contact)) == 1 and len(await rows(ctx, Identity)) == 1
        assert len(await rows(ctx, EventRow, EventRow.kind == "call_logged")) == 1
    finally:
        await ctx.close()


async def test_resolving_a_ticket_that_cannot_be_resolved_logs_nothing(ctx: HubContext, clock: FakeClock, agent: int) -> None:
    wa = await whatsapp_contact(ctx, clock)  # still identifying: waiting for the citizen's name
    with pytest.raises(Conflict, match="identified"):
        await do_log_call(ctx, CallEntry(MOBILE, duration_s=20, agent_id=agent, ticket_id=wa.id, resolve=True))
    done = await do_log_call(ctx, CallEntry("973930247", duration_s=20, agent_id=agent))
    with pytest.raises(Conflict, match="resolved already"):
        await do_log_call(ctx, CallEntry("973930247", duration_s=20, agent_id=agent, ticket_id=done.ticket_id, resolve=True))
    assert len(await rows(ctx, Call)) == 1


async def test_resolving_a_whatsapp_ticket_on_a_call_sends_its_survey(ctx: HubContext, clock: FakeClock, agent: int) -> None:
    from hub.actions.lifecycle import do_assign

    wa = await whatsapp_contact(ctx, clock)
    await do_receive_message(ctx, InboundMessage(
        channel="whatsapp", provider_id="SM-name", received_at=clock.now(), body="Em dic Anna Serra",
        identities=[IdentityIn("phone", MOBILE)],
    ))
    await do_assign(ctx, wa.id, agent, by_agent_id=agent)
    await do_log_call(ctx, CallEntry(MOBILE, direction="outbound", duration_s=45, agent_id=agent, ticket_id=wa.id,
                                     resolve=True))
    [ticket] = await rows(ctx, Ticket)
    assert ticket.status == "resolved"
    assert len(await rows(ctx, SurveyResponse)) == 1  # the WhatsApp rule: a survey after resolution
