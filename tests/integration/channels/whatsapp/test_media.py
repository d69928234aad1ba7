"""Media citizens send: fetched with the account's credentials, checked, stored by checksum."""

from __future__ import annotations

import hashlib

import pytest

from sqlmodel import select

from channels.whatsapp.tasks import fetch_message_media
from hub.db.tables import Attachment, Message
from tests.support.whatsapp_channel import Hub, channel_settings
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
    channel_settings().whatsapp_media_max_bytes = 2048
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


# Finding 13.2: the media fetch is no server-side request forgery ---------------------------------


class Victim:
    """An internal HTTP service (think `/metrics` on the hub's own port) that records every hit."""

    def __init__(self) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        import threading

        hits = self.hits = []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                hits.append((self.path, self.headers.get("Authorization")))
                body = b"hub_requests_total 1\n"
                self.send_response(200)
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def _message_id(hub: Hub) -> int:
    async with hub.ctx.sessionmaker() as s:
        [message] = (await s.exec(select(Message).where(Message.direction == "in"))).all()
    assert message.id is not None
    return message.id


async def test_a_signed_webhook_cannot_make_the_hub_fetch_its_own_network(hub: Hub, twilio: FakeTwilio) -> None:
    victim = Victim()
    try:
        port = victim.url.rsplit(":", 1)[1]
        urls = [
            f"{victim.url}/metrics",                                  # http, loopback: the reproduction
            f"https://127.0.0.1:{port}/metrics",                      # https, but not Twilio
            f"https://169.254.169.254/latest/meta-data/",             # cloud metadata
            twilio.add_redirect("ME9", f"{victim.url}/metrics"),      # Twilio's origin redirecting inside
            twilio.url.replace("127.0.0.1", "localhost") + "/x",      # the fake's port under another name
        ]
        form = {f"MediaUrl{i}": u for i, u in enumerate(urls)}
        form.update({f"MediaContentType{i}": "image/jpeg" for i in range(len(urls))})
        hub.inbound("SM1", "", NumMedia=str(len(urls)), **form)
        await hub.work()
        assert await fetch_message_media(hub.ctx, await _message_id(hub)) == {"stored": 0, "rejected": len(urls)}
        assert victim.hits == []
        reasons = [a.reason for a in await attachments(hub)]
        assert reasons[0] == "only https media URLs are fetched"
        assert reasons[1] == "media is only fetched from Twilio, not from 127.0.0.1"
        assert reasons[3] == "only https media URLs are fetched"
        assert not list((hub.settings.data_dir / "attachments").glob("[0-9a-f]*"))
    finally:
        victim.stop()


async def test_twilio_hosts_must_resolve_to_public_addresses_and_get_no_credentials(hub: Hub) -> None:
    from channels.whatsapp.media import MediaRejected, plan_hop

    def resolver(*addresses: str):  # noqa: ANN202 - the answer a DNS server would give
        async def answer(host: str, port: int) -> list[str]:
            return list(addresses)
        return answer

    for private in ("10.0.0.5", "127.0.0.1", "169.254.169.254", "::1", "::ffff:127.0.0.1", "fd00::1", "0.0.0.0"):
        with pytest.raises(MediaRejected, match="private address"):
            await plan_hop("https://media.twiliocdn.com/a", channel_settings(), redirect=True, resolver=resolver(private))
    with pytest.raises(MediaRejected, match="private address"):  # one bad answer is enough
        await plan_hop("https://api.twilio.com/a", channel_settings(), redirect=False, resolver=resolver("54.1.2.3", "10.1.1.1"))
    with pytest.raises(MediaRejected, match="not from s3.amazonaws.com"):  # storage only after Twilio's redirect
        await plan_hop("https://s3.amazonaws.com/a", channel_settings(), redirect=False, resolver=resolver("54.1.2.3"))
    with pytest.raises(MediaRejected, match="not from api.twilio.com.evil.org"):
        await plan_hop("https://api.twilio.com.evil.org/a", channel_settings(), redirect=False, resolver=resolver("54.1.2.3"))
    hop = await plan_hop("https://media.twiliocdn.com/a?b=1", channel_settings(), redirect=True, resolver=resolver("54.1.2.3"))
    assert (hop.url, hop.host, hop.credentials) == ("https://54.1.2.3/a?b=1", "media.twiliocdn.com", False)
    # Credentials go to the configured API origin exactly: scheme, host and port.
    real = channel_settings().model_copy(update={"twilio_api_url": "https://api.twilio.com"})
    assert (await plan_hop("https://api.twilio.com/M", real, redirect=False)).credentials is True
    other_port = await plan_hop("https://api.twilio.com:8443/M", real, redirect=False, resolver=resolver("54.1.2.3"))
    assert other_port.credentials is False
    assert (await plan_hop(channel_settings().twilio_api_url + "/M", channel_settings(), redirect=False)).credentials is True


async def test_plain_text_is_not_fetched_unless_allowed(hub: Hub, twilio: FakeTwilio) -> None:
    url = twilio.add_media("ME1", b"hub_requests_total 1", "text/plain")
    hub.inbound("SM1", "", NumMedia="1", MediaUrl0=url, MediaContentType0="text/plain")
    await hub.work()
    assert await fetch_message_media(hub.ctx, await _message_id(hub)) == {"stored": 0, "rejected": 1}
    assert not [r for r in twilio.requests if r.method == "GET"]


async def test_each_job_fetches_only_its_own_attachment(hub: Hub, twilio: FakeTwilio) -> None:
    import asyncio

    from channels.whatsapp.tasks import fetch_attachment
    from hub.events import AttachmentPending

    jobs: list[int] = []
    hub.ctx.bus.listen(lambda events: jobs.extend(  # what `enqueue_media` turns into one job each
        e.attachment_id for e in events if isinstance(e, AttachmentPending)))
    urls = [twilio.add_media(f"ME{i}", b"\xff\xd8\xff" + bytes([i]) * 500, "image/jpeg") for i in range(4)]
    form = {f"MediaUrl{i}": u for i, u in enumerate(urls)}
    form.update({f"MediaContentType{i}": "image/jpeg" for i in range(4)})
    hub.inbound("SM1", "", NumMedia="4", **form)
    await hub.work()
    ids = sorted(jobs)
    assert ids == sorted(a.id for a in await attachments(hub))  # one job per attachment, by its id
    outcomes = await asyncio.gather(*(fetch_attachment(hub.ctx, i) for i in ids))  # the jobs run at once
    assert outcomes == ["stored"] * 4
    assert len([r for r in twilio.requests if r.method == "GET"]) == 4  # not 4 x 4


async def test_a_late_duplicate_job_leaves_no_file_after_erasure(hub: Hub, twilio: FakeTwilio) -> None:
    from channels.whatsapp.tasks import download, fetch_attachment
    from hub.actions.attachments import do_settle_attachment, pending_attachment
    from hub.actions.privacy import do_erase_contact

    import httpx

    url = twilio.add_media("ME1", b"\xff\xd8\xff" + b"x" * 500, "image/jpeg")
    hub.inbound("SM1", "", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    await hub.work()
    [row] = await attachments(hub)
    item = await pending_attachment(hub.ctx, row.id)
    assert item is not None
    async with httpx.AsyncClient() as client:
        late = await download(item, channel_settings(), client, hub.ctx.files.staging_dir())  # a second job got them too
    assert await fetch_attachment(hub.ctx, row.id) == "stored"
    async with hub.ctx.sessionmaker() as s:
        message = await s.get(Message, item.message_id)
    assert message is not None
    await do_erase_contact(hub.ctx, message.contact_id, None)
    folder = hub.settings.data_dir / "attachments"
    assert not list(folder.glob("[0-9a-f]*"))
    settled = await do_settle_attachment(hub.ctx, row.id, "stored", storage_key=late.sha256, sha256=late.sha256,
                                         size=late.size, staged=late.path)
    late.path.unlink(missing_ok=True)
    assert settled is False and not list(folder.iterdir())  # no file that no record points to


# Finding 13.14: with HUB_ATTACHMENTS=database the file lives in the database, not on this host ----


async def test_with_database_attachments_media_is_kept_in_the_database_and_erased_with_the_contact(
    hub: Hub, twilio: FakeTwilio,
) -> None:
    from channels.whatsapp.tasks import download, fetch_attachment
    from hub.actions.attachments import do_settle_attachment, pending_attachment
    from hub.actions.privacy import do_erase_contact

    import httpx

    hub.settings.attachments = "database"
    photo = b"\xff\xd8\xff" + b"jpeg-bytes" * 100_000  # 1 MB: several chunks
    url = twilio.add_media("ME1", photo, "image/jpeg")
    hub.inbound("SM1", "", NumMedia="1", MediaUrl0=url, MediaContentType0="image/jpeg")
    await hub.work()
    [row] = await attachments(hub)
    item = await pending_attachment(hub.ctx, row.id)
    assert item is not None
    async with httpx.AsyncClient() as client:
        late = await download(item, channel_settings(), client, hub.ctx.files.staging_dir())  # a racing second job
    assert await fetch_attachment(hub.ctx, row.id) == "stored"
    [stored] = await attachments(hub)
    digest = hashlib.sha256(photo).hexdigest()
    assert stored.status == "stored" and stored.sha256 == digest and stored.size == len(photo)
    assert await hub.ctx.files.read(digest) == photo
    assert not list((hub.settings.data_dir / "attachments").glob("*"))  # nothing on this host's disk
    assert not [p for p in hub.ctx.files.staging_dir().iterdir() if p != late.path]  # no staged leftovers

    async with hub.ctx.sessionmaker() as s:
        message = await s.get(Message, item.message_id)
    assert message is not None
    erased = await do_erase_contact(hub.ctx, message.contact_id, None)
    assert erased.files == 1 and await hub.ctx.files.size(digest) is None
    # The racing job comes back after the erasure: it keeps nothing.
    assert await do_settle_attachment(hub.ctx, row.id, "stored", storage_key=late.sha256, sha256=late.sha256,
                                      size=late.size, staged=late.path) is False
    late.path.unlink(missing_ok=True)
    assert await hub.ctx.files.size(digest) is None
