"""Files both ways in chromium: a citizen's image as a thumbnail in the timeline; the reply box's
file button and drop box with the channel's limits shown and checked before upload; an email
reply's subject, copies and the signature page; each page scanned with axe-core."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from hub.config import Settings
from hub.context import HubContext
from tests.support.live_server import LiveServer
from tests.support.browser import (  # noqa: F401  (fixtures)
    AXE, TIMEOUT_MS, _axe, browser, hub, logged_in,
)
from tests.support import services

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _png(width: int, height: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


async def _arrives(settings: Settings, channel: str, body: str, who: str, sid: str, image: bytes | None = None,
                   subject: str = "") -> int:
    from hub.actions.messages import do_receive_message
    from hub.inbound import AttachmentIn, IdentityIn, InboundMessage
    from runtime.reactions import wire_live_only

    attachments = []
    if image is not None:
        sha = hashlib.sha256(image).hexdigest()
        folder = Path(settings.data_dir) / "attachments"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / sha).write_bytes(image)
        attachments.append(AttachmentIn("foto del DNI.png", "image/png", len(image), storage_key=sha, sha256=sha))
    ctx = HubContext.create(settings)
    wire_live_only(ctx)
    try:
        got = await do_receive_message(ctx, InboundMessage(
            channel=channel, provider_id=sid, received_at=datetime.now(UTC), body=body, subject=subject,
            identities=[IdentityIn("email" if channel == "email" else "phone", who)], display_hint="Profile",
            attachments=attachments, meta={"from": who} if channel == "email" else {},
        ))
        assert got.ticket_id is not None
        return got.ticket_id
    finally:
        await ctx.close()


async def _take(page: Any, server: LiveServer, ticket: int) -> None:
    from playwright.async_api import expect

    await page.goto(f"/tickets/{ticket}")
    await page.get_by_role("button", name="Assign to me").click()
    await expect(page.locator("#ticket-status")).to_have_attribute("data-status", "assigned", timeout=3 * TIMEOUT_MS)


async def test_a_citizens_image_shows_as_a_thumbnail_and_files_are_checked_before_upload(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    server, settings = hub
    ticket = await _arrives(settings, "whatsapp", "Hola", "+34600166001", "SMfile1")
    await _arrives(settings, "whatsapp", "Em dic Pere Roig", "+34600166001", "SMfile2", image=_png(1200, 800))
    page = await logged_in(browser, server.url, "agent@example.org")
    await _take(page, server, ticket)

    thumb = page.get_by_role("img", name="Image foto del DNI.png (download)")
    await expect(thumb).to_be_visible()
    size = await thumb.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size == [320, 213]  # made small on the server, proportions kept

    limits = page.locator("#reply-files-limits")
    await expect(limits).to_contain_text("Up to 16 MB a file (images 5 MB), 32 MB in all, 5 files at most")
    await expect(limits).to_contain_text("PDF")
    assert await _axe(page) == []

    files = page.get_by_label("Attach files")
    await files.set_input_files([{"name": "foto.png", "mimeType": "image/png", "buffer": b"\x89PNG\r\n\x1a\n" + b"0" * (5 * 1024 * 1024 + 10)}])
    error = page.locator("#reply-files-error")
    await expect(error).to_have_text("foto.png is larger than 5 MB.")
    await page.get_by_label("Message to the citizen").fill("Aquí té la instància")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(files).to_be_focused()  # not sent: the limit was shown before any upload
    await expect(page.locator("#timeline")).not_to_contain_text("Aquí té la instància")
    await files.set_input_files([{"name": "llista.csv", "mimeType": "text/csv", "buffer": b"a;b\n"}])
    await expect(error).to_have_text("llista.csv: this type of file cannot be sent here.")
    assert await _axe(page) == []  # with the error shown

    await files.set_input_files([])
    await page.locator("#reply-drop").evaluate("""(box, pdf) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([pdf], "instància.pdf", {type: "application/pdf"}));
        box.dispatchEvent(new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true}));
    }""", PDF.decode())
    await expect(page.locator("#reply-files-list")).to_contain_text("instància.pdf")
    await expect(error).to_be_hidden()
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_text("Reply queued for sending.")).to_be_visible(timeout=3 * TIMEOUT_MS)  # a loaded machine
    await expect(page.locator("#timeline li.out", has_text="Aquí té la instància")).to_contain_text(
        "instància.pdf", timeout=3 * TIMEOUT_MS)


async def test_an_email_reply_has_a_subject_copies_and_the_agents_signature(
    hub: tuple[LiveServer, Settings], browser: Any,  # noqa: F811
) -> None:
    from playwright.async_api import expect

    from hub.db.tables import Message

    if not AXE.exists():
        services.unavailable("axe-core not installed (python -m agent_ui.assets install)")
    server, settings = hub
    ticket = await _arrives(settings, "email", "Bon dia, necessito un certificat.", "laia@example.cat", "m1@example.cat",
                            subject="Certificat")
    page = await logged_in(browser, server.url, "agent@example.org")
    await page.goto("/account/signature")
    await page.get_by_label("Signature").fill("Jordi Vidal\nOAC Lleida")
    await page.get_by_role("button", name="Save the signature").click()
    await expect(page.get_by_text("Signature saved.")).to_be_visible(timeout=3 * TIMEOUT_MS)
    assert await _axe(page) == []

    await _take(page, server, ticket)
    await expect(page.get_by_label("Subject")).to_have_value("Certificat")
    await expect(page.locator("#reply-files-limits")).to_contain_text("Up to 15 MB a file, 15 MB in all, 10 files at most")
    assert await _axe(page) == []
    await page.get_by_label("Subject").fill("Certificat d'empadronament")
    await page.get_by_label("Copy to (CC)").fill("gestoria@example.cat, adreça-sense-domini")
    await page.get_by_label("Message to the citizen").fill("Us l'adjunto.")
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_text("adreça-sense-domini is not an email address.")).to_be_visible(timeout=3 * TIMEOUT_MS)
    await page.get_by_label("Copy to (CC)").fill("gestoria@example.cat")
    await page.get_by_label("Subject").fill("Certificat d'empadronament")
    await page.get_by_label("Message to the citizen").fill("Us l'adjunto.")
    await page.get_by_label("Attach files").set_input_files(
        [{"name": "certificat.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    await page.get_by_role("button", name="Send", exact=True).click()
    await expect(page.get_by_text("Reply queued for sending.")).to_be_visible(timeout=3 * TIMEOUT_MS)  # a loaded machine

    ctx = HubContext.create(settings)
    try:
        async with ctx.sessionmaker() as session:
            reply = (await session.exec(select(Message).where(Message.direction == "out", Message.kind == "text"))).one()
    finally:
        await ctx.close()
    assert reply.body == "Us l'adjunto."
    assert reply.meta["subject"] == "Certificat d'empadronament" and reply.meta["cc"] == ["gestoria@example.cat"]
    assert reply.meta["signature"] == "Jordi Vidal\nOAC Lleida"
