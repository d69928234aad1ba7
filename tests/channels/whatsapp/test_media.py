"""Media citizens send: fetched with the account's credentials, checked, stored by checksum."""

from __future__ import annotations

import hashlib

from sqlmodel import select

from channels.whatsapp.tasks import fetch_message_media
from hub.db.tables import Attachment, Message
from tests.channels.whatsapp.conftest import Hub
from tests.support.fake_twilio import FakeTwilio


async def attachments(hub: Hub) -> list[Attachment]:
    async with hub.ctx.sessionmaker() as s:
        return list((await s.exec(select(Attachment).order_by(Attachment.id))).all())


async def test_media_is_fetched_with_basic_auth_and_stored_by_sha256(hub: Hub, twilio: FakeTwilio) -> None:
    photo = b"\xff\xd8\xff" + b"jpeg-bytes" * 1000
    url = twilio.add_media("ME1", photo, "image/jpeg")
    hub.inbound("SM1", "", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    await hub.work()
    [pending] = await attachments(hub)
    assert pending.status == "pending" and pending.source_url == url
    async with hub.ctx.sessionmaker() as s:
        [message] = (await s.exec(select(Message).where(Message.direction == "in"))).all()
    assert message.kind == "media"
    assert await fetch_message_media(hub.ctx, message.id) == {"stored": 1, "rejected": 0}
    [stored] = await attachments(hub)
    digest = hashlib.sha256(photo).hexdigest()
    assert stored.status == "stored" and stored.sha256 == digest and stored.size == len(photo)
    assert stored.storage_key == digest and stored.filename.endswith(".jpg")
    assert (hub.settings.data_dir / "attachments" / digest).read_bytes() == photo
    [download] = [r for r in twilio.requests if r.method == "GET"]
    assert download.headers["authorization"].startswith("Basic ")
    assert await fetch_message_media(hub.ctx, message.id) == {"stored": 0, "rejected": 0}  # done once


async def test_oversized_and_unaccepted_media_are_rejected_with_a_reason(hub: Hub, twilio: FakeTwilio) -> None:
    hub.settings.whatsapp_media_max_bytes = 2048
    big = twilio.add_media("ME1", b"x" * 5000, "application/pdf")
    exe = twilio.add_media("ME2", b"MZ...", "application/x-msdownload")
    hub.inbound("SM1", "", NumMedia="2", MediaUrl0=big, MediaContentType0="application/pdf",
                MediaUrl1=exe, MediaContentType1="application/x-msdownload")
    await hub.work()
    async with hub.ctx.sessionmaker() as s:
        [message] = (await s.exec(select(Message).where(Message.direction == "in"))).all()
    assert await fetch_message_media(hub.ctx, message.id) == {"stored": 0, "rejected": 2}
    first, second = await attachments(hub)
    assert first.status == "rejected" and "larger than" in (first.reason or "")
    assert second.status == "rejected" and "not accepted" in (second.reason or "")
    assert not list((hub.settings.data_dir / "attachments").glob("[0-9a-f]*"))
