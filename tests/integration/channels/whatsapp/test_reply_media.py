"""An agent's files on WhatsApp: Twilio gets a `MediaUrl` on the hub that serves exactly that
file without a login, until it expires; one medium per message; Twilio's limits refused early."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from channels.whatsapp.outbound_media import parse_token
from hub.actions.agents import do_create_agent, do_set_presence
from hub.actions.messages import do_process_inbox, pending_inbox_ids
from hub.clock import FakeClock
from hub.db.tables import Attachment, Message
from tests.support.live_server import LiveServer
from tests.support.whatsapp_channel import Hub, channel_settings, due_outbox_ids, whatsapp_settings
from tests.support import fake_twilio
from tests.support.fake_twilio import FakeTwilio
from tests.support.services import free_port

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n" + bytes(range(256)) * 64 + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PASSWORD = "correct horse battery"


async def work(ctx) -> dict[str, int]:  # type: ignore[no-untyped-def]
    from runtime.tasks import deliver_one

    done: dict[str, int] = {}
    while True:
        progressed = False
        for inbox_id in await pending_inbox_ids(ctx):
            await do_process_inbox(ctx, inbox_id)
            progressed = True
        for outbox_id in await due_outbox_ids(ctx):
            outcome = await deliver_one(outbox_id)
            done[outcome] = done.get(outcome, 0) + 1
            progressed = progressed or outcome != "skipped"
        if not progressed:
            return done


@pytest.mark.parametrize("store", ["local", "database"])  # HUB_ATTACHMENTS
async def test_an_agents_pdf_reaches_twilio_as_a_media_url_that_serves_it_without_login_until_it_expires(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, db_url: str, twilio: FakeTwilio, clock: FakeClock, store: str,
) -> None:
    from entrypoints.web import create_app
    from runtime import state

    port = free_port()
    public = f"http://127.0.0.1:{port}"
    settings = whatsapp_settings(monkeypatch, tmp_path, db_url, twilio)
    settings.public_url = public  # Twilio fetches the media from here
    settings.attachments = store
    with LiveServer(create_app(settings, clock=clock), port):
        ctx = state.context()
        agent = await do_create_agent(ctx, "jordi@oac.example", "Jordi Vidal", "agent", PASSWORD)
        await do_set_presence(ctx, agent, "available")
        for sid, body in (("SM1", "Hola"), ("SM2", "Anna")):
            assert fake_twilio.post_webhook(public, public, "/webhooks/twilio/whatsapp",
                                            fake_twilio.inbound_form(sid, body)).status_code == 200
        await work(ctx)
        async with httpx.AsyncClient(base_url=public) as api:
            token = (await api.post("/api/v1/auth/token", json={"email": "jordi@oac.example", "password": PASSWORD})).json()
            headers = {"authorization": f"Bearer {token['token']}"}
            [ticket] = (await api.get("/api/v1/queue", headers=headers)).json()["mine"]["tickets"]
            answer = await api.post(f"/api/v1/tickets/{ticket['id']}/messages", headers=headers,
                                    data={"body": "Aquí té el formulari"},
                                    files=[("files", ("instància.pdf", PDF, "application/pdf"))])
            assert answer.status_code == 201, answer.text
        twilio.reset()
        assert (await work(ctx)) == {"sent": 1}

        [sent] = twilio.sent()
        assert sent.value("Body") == "Aquí té el formulari"
        [url] = sent.form["MediaUrl"]
        assert url.startswith(f"{public}/media/")
        [fetched] = sent.media  # Twilio fetched it while creating the message: HEAD, then GET
        assert fetched.head_status == 200 and fetched.head_length == str(len(PDF))
        assert fetched.status == 200 and fetched.content == PDF
        assert fetched.content_type.startswith("application/pdf")
        assert "inst" in fetched.disposition and fetched.disposition.startswith("inline")

        async with httpx.AsyncClient() as anyone:  # no session, no token
            again = await anyone.get(url)
            assert again.status_code == 200 and again.content == PDF
            assert again.headers["x-content-type-options"] == "nosniff"
            attachment_id, expires, mac = parse_token(url.rsplit("/", 1)[1])  # type: ignore[misc]
            forged = [f"{attachment_id + 1}.{expires}.{mac}", f"{attachment_id}.{expires + 3600}.{mac}",
                      f"{attachment_id}.{expires}.{mac[:-2]}xx", "1.2", "x.y.z"]
            for token_text in forged:
                assert (await anyone.get(f"{public}/media/{token_text}")).status_code == 404, token_text
            clock.advance(channel_settings().whatsapp_media_url_ttl + timedelta(seconds=1))
            expired = await anyone.get(url)
            assert expired.status_code == 404 and expired.content != PDF
        await ctx.close()


async def test_several_files_go_one_per_message_in_order_the_text_with_the_first(hub: Hub, twilio: FakeTwilio) -> None:
    ticket, headers = await _assigned(hub)
    answer = hub.client.post(f"/api/v1/tickets/{ticket}/messages", headers=headers, data={"body": "Els documents"},
                             files=[("files", ("a.pdf", PDF, "application/pdf")), ("files", ("b.png", PNG, "image/png"))])
    assert answer.status_code == 201, answer.text
    twilio.reset()
    await hub.work()
    first, second = twilio.sent()
    assert first.value("Body") == "Els documents" and len(first.form["MediaUrl"]) == 1
    assert second.value("Body") is None and len(second.form["MediaUrl"]) == 1
    async with hub.ctx.sessionmaker() as s:
        rows = (await s.exec(select(Attachment).order_by(Attachment.id))).all()
        messages = (await s.exec(select(Message).where(Message.direction == "out", Message.kind == "text")
                                 .order_by(Message.id))).all()
    assert [a.filename for a in rows] == ["a.pdf", "b.png"] and [a.content_type for a in rows] == ["application/pdf", "image/png"]
    assert [m.status for m in messages] == ["queued", "queued"] and messages[1].meta["part_of"] == messages[0].id

    from agent_ui.simulator import conversation  # the citizen simulator names the files

    for sent in (first, second):
        hub.status(sent.sid or "", "delivered")
    lines, _ = await conversation(hub.ctx, "+34600111222")
    assert [line.body for line in lines if line.direction == "out"][-2:] == ["Els documents\n📎 a.pdf", "📎 b.png"]


@pytest.mark.parametrize("name,content,reason", [
    ("foto.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * (5 * 1024 * 1024), "fa més de 5 MB"),  # images: 5 MB on WhatsApp
    ("full.csv", b"a;b\n1;2\n", "(text/csv) no es pot enviar"),
])
async def test_files_whatsapp_does_not_take_are_refused_before_anything_is_sent(
    hub: Hub, twilio: FakeTwilio, name: str, content: bytes, reason: str,
) -> None:
    ticket, headers = await _assigned(hub)
    twilio.reset()
    answer = hub.client.post(f"/api/v1/tickets/{ticket}/messages", headers=headers, data={"body": "Té"},
                             files=[("files", (name, content, "application/octet-stream"))])
    assert answer.status_code == 422 and reason in answer.json()["detail"]
    subject = hub.client.post(f"/api/v1/tickets/{ticket}/messages", headers=headers,
                              json={"body": "Té", "subject": "Assumpte"})
    assert subject.status_code == 422
    await hub.work()
    assert twilio.sent() == []


async def _assigned(hub: Hub) -> tuple[int, dict[str, str]]:
    agent = await do_create_agent(hub.ctx, "jordi@oac.example", "Jordi Vidal", "agent", PASSWORD)
    await do_set_presence(hub.ctx, agent, "available")
    hub.inbound("SM1", "Hola")
    hub.inbound("SM2", "Anna")
    await hub.work()
    token = hub.client.post("/api/v1/auth/token", json={"email": "jordi@oac.example", "password": PASSWORD}).json()
    headers = {"authorization": f"Bearer {token['token']}"}
    [ticket] = hub.client.get("/api/v1/queue", headers=headers).json()["mine"]["tickets"]
    return ticket["id"], headers


async def test_a_file_written_after_the_window_closed_waits_and_goes_with_a_fresh_url_when_the_citizen_writes(
    hub: Hub, twilio: FakeTwilio,
) -> None:
    channel_settings().twilio_template_agent_reply = "HX" + "7" * 32
    ticket, headers = await _assigned(hub)
    hub.clock.advance(hours=25)
    token = hub.client.post("/api/v1/auth/token", json={"email": "jordi@oac.example", "password": PASSWORD}).json()
    headers = {"authorization": f"Bearer {token['token']}"}  # a token lasts 12 hours
    twilio.reset()
    assert hub.client.post(f"/api/v1/tickets/{ticket}/messages", headers=headers, data={"body": "El formulari"},
                           files=[("files", ("formulari.pdf", PDF, "application/pdf"))]).status_code == 201
    await hub.work()
    [notice] = twilio.sent()  # only the approved template: no free text, no media outside the window
    assert notice.value("ContentSid") and "MediaUrl" not in notice.form
    hub.clock.advance(hours=30)  # long after: the URL is made when the file is finally sent
    hub.inbound("SM9", "Hola, ja soc aquí")
    await hub.work()
    held = twilio.sent()[-1]
    assert held.value("Body") == "El formulari" and len(held.form["MediaUrl"]) == 1
    _, expires, _ = parse_token(held.form["MediaUrl"][0].rsplit("/", 1)[1])  # type: ignore[misc]
    assert expires > hub.clock.now().timestamp() + 5 * 3600
