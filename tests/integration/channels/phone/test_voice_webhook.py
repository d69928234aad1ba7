"""POST /webhooks/twilio/voice: signed call status callbacks build each call's log."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.phone.parse import parse_call_status
from hub.actions.calls import CallEntry, do_log_call
from hub.actions.messages import do_receive_message
from hub.calls import Signal
from hub.db.tables import Call, Contact, EventRow, Identity, Ticket
from hub.events import CallAttached, CallChanged, CallLogged, CallRinging
from hub.inbound import IdentityIn, InboundMessage
from tests.support.phone_channel import PUBLIC_URL, T0, VoiceHub, callback

ANSWERED = [("ringing", 0, None), ("in-progress", 8, None), ("completed", 128, 120)]
MISSED = [("initiated", 0, None), ("ringing", 1, None), ("no-answer", 31, 0)]

# What a call's log is, leaving out what differs between calls by construction.
FRESH = itertools.count(1000)
LOG_FIELDS = ("number", "direction", "state", "outcome", "started_at", "answered_at", "ended_at",
              "duration_s", "wait_s", "done", "last_sequence", "contact_id")


def forms(sid: str, scenario: list[tuple[str, int, int | None]], **kw: str) -> list[dict[str, str]]:
    return [callback(sid, status, seq, at, duration=d, **kw) for seq, (status, at, d) in enumerate(scenario)]


def log(call: Call) -> tuple[object, ...]:
    return tuple(getattr(call, f) for f in LOG_FIELDS)


async def test_an_answered_call_logs_itself_and_answers_empty_twiml(voice: VoiceHub) -> None:
    for form in forms("CA1", ANSWERED):
        response = await voice.post(form)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/xml")
        assert response.text.endswith("<Response />")
    [call] = await voice.rows(Call)
    assert (call.provider_id, call.number, call.direction, call.state, call.outcome) == (
        "CA1", "+34600111222", "inbound", "ended", "answered")
    assert call.started_at == T0 and call.wait_s == 8 and call.duration_s == 120 and call.done
    [event] = await voice.rows(EventRow, EventRow.kind == "call_logged")
    assert event.data["source"] == "provider" and event.data["talk_s"] == 120 and event.channel == "phone"


async def test_answered_callbacks_give_the_same_log_in_every_order(voice: VoiceHub) -> None:
    logs = set()
    for i, order in enumerate(itertools.permutations(forms("X", ANSWERED))):
        for form in order:
            assert (await voice.post({**form, "CallSid": f"CA{i}"})).status_code == 200
    for call in await voice.rows(Call):
        logs.add(log(call))
    assert len(logs) == 1 and len(await voice.rows(Call)) == 6
    assert len(await voice.rows(EventRow, EventRow.kind == "call_logged")) == 6  # one per call, whatever the order


async def test_missed_callbacks_in_every_order_make_one_call_back_task(voice: VoiceHub) -> None:
    for i, order in enumerate(itertools.permutations(forms("X", MISSED))):
        for form in order:
            assert (await voice.post({**form, "CallSid": f"CA{i}"})).status_code == 200
    calls = await voice.rows(Call)
    assert len({log(c) for c in calls}) == 1 and len(calls) == 6
    assert (calls[0].outcome, calls[0].done, calls[0].wait_s) == ("missed", False, 31)
    [task] = await voice.rows(Ticket)
    assert task.kind == "callback" and task.status == "waiting" and {c.ticket_id for c in calls} == {task.id}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_duplicated_and_shuffled_callbacks_change_nothing(voice: VoiceHub, data: st.DataObject) -> None:
    scenario = data.draw(st.sampled_from([ANSWERED, MISSED]))
    sid = f"CA{next(FRESH)}"  # examples share the database: each one is a call of its own
    once = forms(sid, scenario)
    delivered = data.draw(st.permutations(once + data.draw(st.lists(st.sampled_from(once), min_size=1, max_size=4))))
    for form in delivered:
        assert (await voice.post(form)).status_code == 200
    [call] = await voice.rows(Call, Call.provider_id == sid)
    reference = ("answered", 8, 120) if scenario is ANSWERED else ("missed", 31, 0)
    assert (call.outcome, call.wait_s, call.duration_s, call.started_at, call.state) == (*reference, T0, "ended")
    assert len(await voice.rows(EventRow, EventRow.kind == "call_logged", EventRow.data["call_id"].as_integer() == call.id)) == 1


async def test_bad_or_missing_signatures_get_403_and_store_nothing(voice: VoiceHub) -> None:
    form = callback("CA1", "ringing", 0, 0)
    assert (await voice.post(form, signature="")).status_code == 403
    assert (await voice.post(form, signature="bm90IGEgc2lnbmF0dXJl")).status_code == 403
    assert (await voice.post(form, url="http://127.0.0.1:8000/webhooks/twilio/voice")).status_code == 403
    forged = voice.post  # signed for one form, sent with another
    from twilio.request_validator import RequestValidator

    from tests.support.phone_channel import TOKEN

    good = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + "/webhooks/twilio/voice", form)
    assert (await forged({**form, "CallStatus": "completed"}, signature=good)).status_code == 403
    assert (await forged({**form, "Extra": "1"}, signature=good)).status_code == 403
    assert await voice.rows(Call) == [] and await voice.rows(Contact) == [] and await voice.rows(EventRow) == []
    assert [e for e in voice.events if isinstance(e, CallRinging)] == []
    assert (await voice.post(form, signature=good)).status_code == 200  # the genuine one passes


async def test_the_query_string_is_part_of_what_twilio_signs(voice: VoiceHub) -> None:
    form = callback("CA1", "ringing", 0, 0)
    path = "/webhooks/twilio/voice?office=lleida"
    assert (await voice.post(form, path=path)).status_code == 200
    assert (await voice.post(form, path=path, url=PUBLIC_URL + "/webhooks/twilio/voice")).status_code == 403


async def test_malformed_callbacks_get_400_and_unknown_statuses_are_ignored(voice: VoiceHub) -> None:
    no_sid = callback("CA1", "ringing", 0, 0)
    del no_sid["CallSid"]
    response = await voice.post(no_sid)
    assert response.status_code == 400 and "CallSid" in response.text
    assert (await voice.post(callback("CA2", "teleported", 0, 0))).status_code == 200
    assert await voice.rows(Call) == []


async def test_a_ringing_call_from_a_whatsapp_contact_is_announced_with_that_contact(voice: VoiceHub) -> None:
    await do_receive_message(voice.ctx, InboundMessage(
        channel="whatsapp", provider_id="SM1", received_at=voice.clock.now(), body="Hola",
        identities=[IdentityIn("phone", "+34600111222")], display_hint="Anna",
    ))
    [contact] = await voice.rows(Contact)
    await voice.post(callback("CA1", "ringing", 0, 0, number="+34 600 11 12 22"))
    [ringing] = [e for e in voice.events if isinstance(e, CallRinging)]
    [call] = await voice.rows(Call)
    # Ids only: the calls page reloads the number, the name and the open consultations.
    assert ringing == CallRinging(call.id, contact.id) and call.number == "+34600111222"
    assert len(await voice.rows(Contact)) == 1 and len(await voice.rows(Identity)) == 1  # same citizen
    # Answered: the screens hear it, and no second ringing notice for a repeated callback.
    await voice.post(callback("CA1", "in-progress", 1, 5))
    await voice.post(callback("CA1", "ringing", 0, 0, number="+34 600 11 12 22"))
    calls = (CallRinging, CallChanged, CallLogged, CallAttached)
    assert [type(e) for e in voice.events if isinstance(e, calls)] == [CallRinging, CallChanged]


async def test_a_missed_call_is_called_back_by_an_outbound_twilio_call(voice: VoiceHub) -> None:
    for form in forms("CA1", MISSED):
        await voice.post(form)
    [task] = await voice.rows(Ticket)
    for form in forms("CA2", ANSWERED, direction="outbound-api"):
        await voice.post(form)
    missed, back = await voice.rows(Call)
    assert back.direction == "outbound" and back.number == "+34600111222" and back.outcome == "answered"
    assert missed.done and back.ticket_id == task.id
    [task] = await voice.rows(Ticket)
    assert task.status == "resolved"
    assert len(await voice.rows(EventRow, EventRow.kind == "called_back")) == 1


async def test_an_agent_logging_the_call_back_closes_a_task_twilio_opened(voice: VoiceHub) -> None:
    for form in forms("CA1", MISSED):
        await voice.post(form)
    logged = await do_log_call(voice.ctx, CallEntry("600 111 222", direction="outbound", duration_s=60))
    [task] = await voice.rows(Ticket)
    assert logged.called_back_ticket_ids == (task.id,) and task.status == "resolved"
    assert all(c.done for c in await voice.rows(Call))


async def test_withheld_callers_are_logged_without_a_contact(voice: VoiceHub) -> None:
    for form in forms("CA1", MISSED, number="anonymous"):
        await voice.post(form)
    [call] = await voice.rows(Call)
    assert call.number == "anonymous" and call.contact_id is None and call.outcome == "missed"
    assert await voice.rows(Ticket) == [] and await voice.rows(Contact) == []


def test_the_parser_reads_who_the_citizen_is_on_each_leg() -> None:
    inbound = parse_call_status(callback("CA1", "ringing", 0, 0), T0)
    forwarded = parse_call_status(callback("CA1", "ringing", 0, 0, direction="outbound-dial"), T0)
    outbound = parse_call_status(callback("CA1", "completed", 3, 60, direction="outbound-api", duration=50), T0)
    assert (inbound.direction, inbound.number, inbound.signal) == ("inbound", "+34600111222", Signal.RINGING)
    assert (forwarded.direction, forwarded.number) == ("inbound", "+34600111222")
    assert (outbound.direction, outbound.number, outbound.duration_s, outbound.sequence) == (
        "outbound", "+34600111222", 50, 3)
    no_time = callback("CA1", "ringing", 0, 0)
    del no_time["Timestamp"]
    assert parse_call_status(no_time, T0).at == T0  # the arrival time stands in
    assert parse_call_status({**no_time, "Timestamp": "2026-03-02T09:00:05Z"}, T0).at.second == 5


def test_the_hub_app_serves_the_voice_webhook_signed(monkeypatch, tmp_path, db_url: str) -> None:  # type: ignore[no-untyped-def]
    """The adapter is installed: the composed app has the route, outside login and CSRF."""
    from litestar.testing import TestClient

    from channels import phone
    from entrypoints.bootstrap import CHANNELS
    from entrypoints.web import create_app
    from tests.support.phone_channel import ACCOUNT, TOKEN
    from tests.conftest import make_settings, whatsapp_env

    assert phone.CHANNEL in CHANNELS
    whatsapp_env(monkeypatch, twilio_account_sid=ACCOUNT, twilio_auth_token=TOKEN)
    settings = make_settings(tmp_path, db_url, public_url=PUBLIC_URL)
    form = callback("CA1", "ringing", 0, 0)
    with TestClient(create_app(settings)) as client:
        assert client.post("/webhooks/twilio/voice", data=form).status_code == 403
        from twilio.request_validator import RequestValidator

        signature = RequestValidator(TOKEN).compute_signature(PUBLIC_URL + "/webhooks/twilio/voice", form)
        response = client.post("/webhooks/twilio/voice", data=form, headers={"X-Twilio-Signature": signature})
        assert response.status_code == 200 and response.text.endswith("<Response />")


def test_answering_machine_detection_turns_a_completed_call_into_a_voicemail() -> None:
    answered = parse_call_status(callback("CA1", "in-progress", 1, 5, direction="outbound-api", AnsweredBy="machine_start"), T0)
    ended = parse_call_status(callback("CA1", "completed", 2, 40, direction="outbound-api", duration=30,
                                       AnsweredBy="machine_end_beep"), T0)
    human = parse_call_status(callback("CA1", "completed", 2, 40, duration=30, AnsweredBy="human"), T0)
    assert (answered.signal, ended.signal, human.signal) == (Signal.RINGING, Signal.VOICEMAIL, Signal.COMPLETED)


async def test_a_call_back_that_reaches_voicemail_leaves_the_task_open(voice: VoiceHub) -> None:
    for form in forms("CA1", MISSED):
        await voice.post(form)
    for form in forms("CA2", [("ringing", 100, None), ("completed", 140, 30)], direction="outbound-api",
                      AnsweredBy="machine_end_beep"):
        assert (await voice.post(form)).status_code == 200
    missed, attempt = await voice.rows(Call)
    [task] = await voice.rows(Ticket)
    assert attempt.outcome == "voicemail" and attempt.ticket_id == task.id and task.status == "waiting"
    assert not missed.done
