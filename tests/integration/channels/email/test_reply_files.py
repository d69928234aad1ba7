"""An agent's email reply through the API: attachments, copies, a changed subject, the quoted
mail and the agent's signature, arriving at a real SMTP server threaded on the citizen's mail;
refused files change nothing; the attachment survives a worker that died mid-send."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from litestar.testing import TestClient
from sqlmodel import col, select

from hub.actions.agents import do_create_agent
from hub.actions.messages import do_receive_message
from hub.actions.outbox import claim_delivery
from hub.clock import FakeClock
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Attachment, Message, Outbox
from hub.inbound import IdentityIn, InboundMessage
from tests.support import mailservers

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n" + bytes(range(256)) * 40
PASSWORD = "correct horse battery"


@pytest.fixture
def client(settings: Settings, clock: FakeClock) -> Iterator[TestClient[Any]]:
    from entrypoints.web import create_app

    with TestClient(create_app(settings, clock=clock), base_url="https://testserver.local") as client:
        yield client


def ctx() -> HubContext:
    from runtime import state

    return state.context()


async def citizen_mail(clock: FakeClock, body: str = "Hola,\nvoldria el volant de padró.\nGràcies") -> int:
    got = await do_receive_message(ctx(), InboundMessage(
        channel="email", provider_id="citizen-1@example.cat", received_at=clock.now(), body=body,
        subject="Padró", identities=[IdentityIn("email", "laia@example.cat")], display_hint="Laia Pons",
        meta={"from": "laia@example.cat", "to": ["oac360@paeria.cat"]},
    ))
    assert got.ticket_id is not None
    return got.ticket_id


async def signed_in(client: TestClient[Any]) -> dict[str, str]:
    await do_create_agent(ctx(), "jordi@oac.example", "Jordi Vidal", "agent", PASSWORD)
    answer = client.post("/api/v1/auth/token", json={"email": "jordi@oac.example", "password": PASSWORD})
    assert answer.status_code == 201, answer.text
    return {"authorization": f"Bearer {answer.json()['token']}"}


async def deliver_all() -> list[str]:
    from runtime.tasks import deliver_one

    async with ctx().sessionmaker() as s:
        ids = (await s.exec(select(Outbox.id).where(Outbox.status == "pending").order_by(col(Outbox.id)))).all()
    return [await deliver_one(i) for i in ids if i is not None]


async def test_a_reply_with_a_pdf_a_copy_and_a_new_subject_arrives_threaded_with_quote_and_signature(
    client: TestClient[Any], smtp: mailservers.SmtpSink, clock: FakeClock,
) -> None:
    headers = await signed_in(client)
    signature = client.put("/api/v1/agents/me/signature", headers=headers,
                           json={"signature": "Jordi Vidal\nOficina d'Atenció Ciutadana"})
    assert signature.status_code == 200 and signature.json()["signature"].startswith("Jordi Vidal")
    ticket = await citizen_mail(clock)
    assert client.post(f"/api/v1/tickets/{ticket}/assign", headers=headers).status_code == 200
    clock.advance(minutes=5)
    answer = client.post(f"/api/v1/tickets/{ticket}/messages", headers=headers, data={
        "body": "Bon dia, Laia:\n\nUs envio el volant.", "subject": "Volant de padró", "cc": "gestoria@example.cat",
    }, files=[("files", ("volant padró.pdf", PDF, "application/pdf"))])
    assert answer.status_code == 201, answer.text

    assert await deliver_all() == ["sent"]
    [got] = smtp.wait_for(1)
    mail = got.message
    assert sorted(got.rcpt_tos) == ["gestoria@example.cat", "laia@example.cat"]
    assert mail["To"] == "laia@example.cat" and mail["Cc"] == "gestoria@example.cat"
    reference = client.get(f"/api/v1/tickets/{ticket}", headers=headers).json()["ticket"]["reference"]
    assert str(mail["Subject"]) == f"[{reference}] Volant de padró"
    assert mail["In-Reply-To"] == "<citizen-1@example.cat>" and "<citizen-1@example.cat>" in mail["References"]
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "volant padró.pdf"
    assert attachment.get_content_type() == "application/pdf" and attachment.get_content() == PDF
    text = mail.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text.startswith("Bon dia, Laia:\n\nUs envio el volant.\n\n-- \nJordi Vidal\nOficina d'Atenció Ciutadana")
    assert "Laia Pons <laia@example.cat> va escriure:" in text  # the contact's language (ca)
    assert "> voldria el volant de padró." in text
    html = mail.get_body(("html",)).get_content()
    assert "<blockquote" in html and "Oficina d&#x27;Atenció Ciutadana" in html

    async with ctx().sessionmaker() as s:
        sent = (await s.exec(select(Message).where(Message.direction == "out"))).one()
    assert sent.meta["cc"] == ["gestoria@example.cat"] and sent.meta["signature"].startswith("Jordi Vidal")
    timeline = client.get(f"/api/v1/tickets/{ticket}", headers=headers).json()["timeline"]
    assert any(a["filename"] == "volant padró.pdf" for item in timeline for a in item.get("attachments") or [])


@pytest.mark.parametrize("name,content,reason", [
    ("programa.pdf", b"MZ\x90\x00" + b"\x00" * 100, "no es pot enviar per aquí"),  # a program named .pdf
    ("pagina.html", b"<html><script>alert(1)</script></html>", "(text/html) no es pot enviar"),
    ("gran.pdf", b"%PDF-1.4\n" + b"0" * (15 * 1024 * 1024 + 1), "fa més de 15 MB"),
    ("buit.pdf", b"", "és buit"),
])
async def test_a_refused_file_is_a_422_naming_it_and_nothing_is_stored_or_sent(
    client: TestClient[Any], settings: Settings, smtp: mailservers.SmtpSink, clock: FakeClock,
    name: str, content: bytes, reason: str,
) -> None:
    headers = await signed_in(client)
    ticket = await citizen_mail(clock)
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=headers)
    answer = client.post(f"/api/v1/tickets/{ticket}/messages", headers=headers,  # the agent's language: ca
                         data={"body": "Aquí el teniu"}, files=[("files", (name, content, "application/pdf"))])
    assert answer.status_code == 422, answer.text
    assert name in answer.json()["detail"] and reason in answer.json()["detail"]
    async with ctx().sessionmaker() as s:
        assert (await s.exec(select(Message).where(Message.direction == "out"))).all() == []
        assert (await s.exec(select(Attachment))).all() == []
        assert (await s.exec(select(Outbox))).all() == []
    folder = Path(settings.data_dir) / "attachments"
    assert not folder.exists() or not [p for p in folder.iterdir() if not p.name.startswith(".")]


async def test_copies_that_are_not_addresses_or_too_many_are_refused_and_change_nothing(
    client: TestClient[Any], settings: Settings, clock: FakeClock,
) -> None:
    headers = await signed_in(client)
    ticket = await citizen_mail(clock)
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=headers)
    answer = client.post(f"/api/v1/tickets/{ticket}/messages", headers=headers,
                         json={"body": "Hola", "cc": ["adreça-dolenta"]})
    assert answer.status_code == 422 and answer.json()["detail"] == "adreça-dolenta no és una adreça de correu."
    too_many = client.post(f"/api/v1/tickets/{ticket}/messages", headers=headers,
                           json={"body": "Hola", "cc": [f"a{i}@example.cat" for i in range(11)]})
    assert too_many.status_code == 400
    async with ctx().sessionmaker() as s:
        assert (await s.exec(select(Message).where(Message.direction == "out"))).all() == []
    empty = client.post(f"/api/v1/tickets/{ticket}/messages", headers=headers, data={"body": "  "},
                        files=[("files", ("", b"", "application/octet-stream"))])  # an empty file input
    assert empty.status_code == 422 and empty.json()["detail"] == "Una resposta necessita text o un fitxer."


@pytest.mark.parametrize("store", ["local", "database"])
async def test_the_attachment_survives_a_worker_that_died_mid_send(
    client: TestClient[Any], settings: Settings, smtp: mailservers.SmtpSink, clock: FakeClock, store: str,
) -> None:
    settings.attachments = store  # HUB_ATTACHMENTS: with `database`, kept in the reply's own transaction
    headers = await signed_in(client)
    ticket = await citizen_mail(clock)
    client.post(f"/api/v1/tickets/{ticket}/assign", headers=headers)
    assert client.post(f"/api/v1/tickets/{ticket}/messages", headers=headers, data={"body": "El volant"},
                       files=[("files", ("volant.pdf", PDF, "application/pdf"))]).status_code == 201
    async with ctx().sessionmaker() as s:
        outbox_id = (await s.exec(select(Outbox.id))).one()
    assert outbox_id is not None
    taken = await claim_delivery(ctx(), outbox_id)  # a worker takes it ... and dies (no answer, no renewal)
    assert taken is not None and taken.attachments[0]["filename"] == "volant.pdf"
    assert smtp.messages == []
    clock.advance(settings.outbox_lease + timedelta(seconds=1))
    from runtime.tasks import deliver_one

    assert await deliver_one(outbox_id) == "sent"  # another worker sends it, file and all
    [got] = smtp.wait_for(1)
    [attachment] = list(got.message.iter_attachments())
    assert attachment.get_content() == PDF
    on_disk = Path(settings.data_dir) / "attachments"
    assert (on_disk.exists() and any(on_disk.iterdir())) is (store == "local")
