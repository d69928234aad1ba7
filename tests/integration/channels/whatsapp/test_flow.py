"""The office's WhatsApp rules end to end: signed webhooks into the real app, the worker's path,
the fake Twilio receiving what citizens would read; time moved by a fake clock."""

from __future__ import annotations


from sqlmodel import select

from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.lifecycle import do_assign, do_resolve
from hub.actions.messages import do_reply
from hub.db.tables import Contact, Inbox, Message, SurveyResponse, Ticket
from tests.support.whatsapp_channel import Hub
from tests.support.fake_twilio import FakeTwilio


async def rows(hub: Hub, table, *where):  # type: ignore[no-untyped-def]
    async with hub.ctx.sessionmaker() as s:
        return list((await s.exec(select(table).where(*where).order_by(table.id))).all())


def texts_sent(twilio: FakeTwilio) -> list[str]:
    return [r.value("Body") or f"[template {r.value('ContentSid')}]" for r in twilio.sent()]


async def test_welcome_name_queue_assignment_reply_resolve_survey(hub: Hub, twilio: FakeTwilio) -> None:
    agent = await do_create_agent(hub.ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    r = hub.inbound("SM" + "1" * 32, "Hola, tinc un dubte amb el padró")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/xml")
    assert "<Response" in r.text
    await hub.work()
    [ticket] = await rows(hub, Ticket)
    assert ticket.status == "identifying"
    [welcome] = twilio.sent()
    assert "nom" in (welcome.value("Body") or "")
    assert welcome.value("To") == "whatsapp:+34600111222" and welcome.value("From") == "whatsapp:+14155238886"
    assert welcome.value("StatusCallback") == "https://hub.example.org/webhooks/twilio/status"

    hub.clock.advance(minutes=3)
    hub.inbound("SM" + "2" * 32, "Em dic Anna Serra")
    await hub.work()
    [ticket] = await rows(hub, Ticket)
    [contact] = await rows(hub, Contact)
    assert ticket.status == "waiting" and contact.name == "Anna Serra"
    assert len(twilio.sent()) == 1  # nothing more until an agent is assigned

    await do_assign(hub.ctx, ticket.id, agent, by_agent_id=agent)
    await hub.work()
    intro = twilio.sent()[-1].value("Body") or ""
    assert "Jordi" in intro and "Vidal" not in intro and "Anna Serra" in intro

    await do_reply(hub.ctx, ticket.id, agent, "Bon dia Anna, què necessites?")
    await hub.work()
    assert twilio.sent()[-1].value("Body") == "Bon dia Anna, què necessites?"
    reply_sid = (await rows(hub, Message, Message.body == "Bon dia Anna, què necessites?"))[0].provider_id
    assert reply_sid and reply_sid.startswith("SM")

    resolved = await do_resolve(hub.ctx, ticket.id, agent)
    await hub.work()
    survey = twilio.sent()[-1].value("Body") or ""
    assert resolved.survey_url and resolved.survey_url in survey
    assert len(await rows(hub, SurveyResponse)) == 1
    assert len(twilio.sent()) == 4  # welcome, intro, reply, survey

    # A message after that starts a new consultation. The citizen gave their name recently,
    # so it is not asked again: welcomed back by name and queued at once.
    hub.inbound("SM" + "3" * 32, "Una altra cosa")
    await hub.work()
    tickets = await rows(hub, Ticket)
    assert [t.status for t in tickets] == ["resolved", "waiting"]
    assert tickets[1].identified_at is not None
    assert "Hola de nou, Anna Serra" in (twilio.sent()[-1].value("Body") or "")


async def test_a_returning_citizen_is_asked_the_name_again_once_the_memory_has_expired(hub: Hub, twilio: FakeTwilio) -> None:
    agent = await do_create_agent(hub.ctx, "jordi@oac.example", "Jordi Vidal", "agent", "password123")
    hub.inbound("SM1", "Hola")
    hub.inbound("SM2", "Anna")
    await hub.work()
    [ticket] = await rows(hub, Ticket)
    await do_resolve(hub.ctx, ticket.id, agent)
    hub.clock.advance(days=31)  # HUB_WHATSAPP_REMEMBER_NAME is 30 days by default
    hub.inbound("SM3", "Hola again")
    await hub.work()
    assert [t.status for t in await rows(hub, Ticket)] == ["resolved", "identifying"]
    assert "nom" in (twilio.sent()[-1].value("Body") or "")


async def test_a_transfer_tells_the_citizen_the_new_agents_full_name_when_configured(hub: Hub, twilio: FakeTwilio) -> None:
    hub.settings.agent_intro_name = "full"
    a = await do_create_agent(hub.ctx, "a@oac.example", "Jordi Vidal", "manager", "password123")  # may take a colleague's
    b = await do_create_agent(hub.ctx, "b@oac.example", "Marta Puig Soler", "agent", "password123")
    await do_set_presence(hub.ctx, b, "available")
    hub.inbound("SMa", "Hola")
    hub.inbound("SMb", "Pere")
    await hub.work()
    [ticket] = await rows(hub, Ticket)
    assert ticket.assignee_id == b  # auto-assigned to the available agent
    assert "Marta Puig Soler" in (twilio.sent()[-1].value("Body") or "")
    await do_assign(hub.ctx, ticket.id, a, by_agent_id=a)
    await hub.work()
    assert "Jordi Vidal" in (twilio.sent()[-1].value("Body") or "")


async def test_silence_brings_the_reminder_at_20_minutes_then_the_close_message(hub: Hub, twilio: FakeTwilio) -> None:
    hub.inbound("SM1", "Hola")
    await hub.work()
    hub.clock.advance(minutes=19, seconds=59)
    assert (await hub.tick())["fired"] == 0
    hub.clock.advance(seconds=1)
    assert (await hub.tick())["fired"] == 1
    assert "Reprenem el contacte" in (twilio.sent()[-1].value("Body") or "")
    hub.clock.advance(minutes=19)
    assert (await hub.tick())["fired"] == 0
    hub.clock.advance(minutes=1)
    assert (await hub.tick())["fired"] == 1
    [ticket] = await rows(hub, Ticket)
    assert ticket.status == "closed_unidentified"
    assert "contactar de nou" in (twilio.sent()[-1].value("Body") or "")
    assert len(twilio.sent()) == 3 and await rows(hub, SurveyResponse) == []
    hub.inbound("SM2", "Ja hi soc")
    await hub.work()
    assert [t.status for t in await rows(hub, Ticket)] == ["closed_unidentified", "identifying"]


async def test_an_answer_after_the_reminder_identifies_and_queues_as_usual(hub: Hub, twilio: FakeTwilio) -> None:
    hub.inbound("SM1", "Hola")
    await hub.work()
    hub.clock.advance(minutes=20)
    await hub.tick()
    hub.clock.advance(minutes=5)
    hub.inbound("SM2", "Sóc la Núria")
    await hub.work()
    hub.clock.advance(minutes=30)
    assert (await hub.tick())["fired"] == 0  # the close timer was cancelled
    [ticket] = await rows(hub, Ticket)
    [contact] = await rows(hub, Contact)
    assert ticket.status == "waiting" and "Núria" in contact.name
    assert len(twilio.sent()) == 2  # welcome and reminder only


async def test_retried_and_reordered_webhooks_make_one_message_and_one_automatic_answer(hub: Hub, twilio: FakeTwilio) -> None:
    for _ in range(3):  # Twilio retrying the same MessageSid, each with a new idempotency token
        r = hub.inbound("SM1", "Hola", headers={"I-Twilio-Idempotency-Token": "tok"})
        assert r.status_code == 200
    await hub.work()
    hub.inbound("SM1", "Hola")
    await hub.work()
    assert len(await rows(hub, Inbox)) == 1
    assert len(await rows(hub, Message, Message.direction == "in")) == 1
    assert len(twilio.sent()) == 1
    # Two answers arriving out of order still make one identification, and both are kept.
    hub.inbound("SM3", "segona frase")
    hub.inbound("SM2", "Anna")
    hub.inbound("SM3", "segona frase")
    await hub.work()
    assert len(await rows(hub, Message, Message.direction == "in")) == 3
    [ticket] = await rows(hub, Ticket)
    assert ticket.status == "waiting"


async def test_bad_or_missing_signatures_get_403_and_store_nothing(hub: Hub) -> None:
    from tests.support import fake_twilio

    form = fake_twilio.inbound_form("SM1", "Hola")
    assert hub.client.post("/webhooks/twilio/whatsapp", data=form).status_code == 403
    assert hub.inbound("SM1", "Hola", signature="bm90IGEgc2lnbmF0dXJl").status_code == 403
    # Signed for another URL (the internal one), or with the wrong token, or tampered.
    internal = fake_twilio.sign(hub.token, "http://127.0.0.1:8000/webhooks/twilio/whatsapp", form)
    assert hub.inbound("SM1", "Hola", signature=internal).status_code == 403
    wrong = fake_twilio.sign("not-the-token", "https://hub.example.org/webhooks/twilio/whatsapp", form)
    assert hub.inbound("SM1", "Hola", signature=wrong).status_code == 403
    good = fake_twilio.sign(hub.token, "https://hub.example.org/webhooks/twilio/whatsapp", form)
    tampered = {**form, "Body": "Hola!"}
    r = hub.client.post("/webhooks/twilio/whatsapp", data=tampered, headers={"X-Twilio-Signature": good})
    assert r.status_code == 403
    extra = {**form, "Extra": "1"}
    r = hub.client.post("/webhooks/twilio/whatsapp", data=extra, headers={"X-Twilio-Signature": good})
    assert r.status_code == 403
    assert hub.status("SMx", "delivered").status_code == 200  # (unknown sid, but signed)
    bad_status = hub.client.post("/webhooks/twilio/status", data=fake_twilio.status_form("SMx", "read"))
    assert bad_status.status_code == 403
    await hub.work()
    assert await rows(hub, Inbox) == [] and await rows(hub, Message) == []


async def test_the_signature_covers_the_query_string_and_the_port_variant(hub: Hub) -> None:
    from tests.support import fake_twilio

    form = fake_twilio.inbound_form("SMq", "Hola")
    path = "/webhooks/twilio/whatsapp?office=lleida"
    sig = fake_twilio.sign(hub.token, "https://hub.example.org:443" + path, form)
    assert hub.client.post(path, data=form, headers={"X-Twilio-Signature": sig}).status_code == 200
    sig = fake_twilio.sign(hub.token, "https://hub.example.org/webhooks/twilio/whatsapp", form)
    assert hub.client.post(path, data=form, headers={"X-Twilio-Signature": sig}).status_code == 403


async def test_a_messaging_service_sends_with_its_sid_and_its_inbound_is_accepted(
    monkeypatch, tmp_path, db_url, twilio: FakeTwilio, clock,  # type: ignore[no-untyped-def]
) -> None:
    from tests.support.whatsapp_channel import open_hub, whatsapp_settings

    settings = whatsapp_settings(monkeypatch, tmp_path, db_url, twilio, twilio_messaging_service_sid="MG" + "a" * 32)
    gen = open_hub(settings, clock)
    hub = next(gen)
    try:
        r = hub.inbound("SM1", "Hola", MessagingServiceSid="MG" + "a" * 32)
        assert r.status_code == 200
        await hub.work()
        [sent] = twilio.sent()
        assert sent.value("MessagingServiceSid") == "MG" + "a" * 32 and sent.value("From") is None
        [msg] = await rows(hub, Message, Message.direction == "in")
        assert msg.meta["MessagingServiceSid"] == "MG" + "a" * 32
    finally:
        from hub.delivery import sender_for

        await sender_for("whatsapp").close()  # type: ignore[union-attr]
        await hub.ctx.close()
        next(gen, None)


async def test_a_signed_form_that_is_not_a_message_gets_a_clear_400_and_stores_nothing(hub: Hub) -> None:
    r = hub.post("/webhooks/twilio/whatsapp", {"AccountSid": "AC1", "Body": "hola"})
    assert r.status_code == 400 and "MessageSid is missing" in r.text
    r = hub.post("/webhooks/twilio/status", {"MessageSid": "SM1"})
    assert r.status_code == 400 and "MessageStatus" in r.text
    assert await rows(hub, Inbox) == []


async def test_location_and_button_replies_reach_the_ticket_readably(hub: Hub) -> None:
    hub.inbound("SM1", "", Latitude="41.6176", Longitude="0.6200", Label="Paeria")
    hub.inbound("SM2", "", ButtonText="Sí", ButtonPayload="yes")
    await hub.work()
    first, second = await rows(hub, Message, Message.direction == "in")
    assert first.kind == "location" and "Paeria" in first.body and first.meta["location"]["latitude"] == 41.6176
    assert second.kind == "button" and second.body == "Sí" and second.meta["button"]["payload"] == "yes"
