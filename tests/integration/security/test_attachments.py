"""Attachments are served as downloads with safe headers, never rendered as HTML by the hub's origin."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from litestar.testing import TestClient
from sqlmodel import select

from hub.config import Settings
from hub.context import HubContext
from tests.support.agent_ui import login


async def _mail_with(settings: Settings, files: list[tuple[str, str, bytes]]) -> list[int]:
    from hub.actions.messages import do_receive_message
    from hub.db.tables import Attachment
    from hub.inbound import AttachmentIn, IdentityIn, InboundMessage

    folder = Path(settings.data_dir) / "attachments"
    folder.mkdir(parents=True, exist_ok=True)
    atts = []
    for name, ctype, data in files:
        sha = hashlib.sha256(data).hexdigest()
        (folder / sha).write_bytes(data)
        atts.append(AttachmentIn(filename=name, content_type=ctype, size=len(data), storage_key=sha, sha256=sha))
    ctx = HubContext.create(settings)
    try:
        got = await do_receive_message(ctx, InboundMessage(
            channel="email", provider_id="<att@x>", received_at=datetime.now(UTC), body="annex",
            identities=[IdentityIn("email", "c@citizen.example")], attachments=atts,
        ))
        async with ctx.sessionmaker() as session:
            rows = (await session.exec(select(Attachment).where(Attachment.message_id == got.message_id)
                                       .order_by(Attachment.id))).all()
        return [r.id for r in rows]  # type: ignore[misc]
    finally:
        await ctx.close()


def test_attachments_download_with_safe_headers(client: TestClient[Any], settings: Settings) -> None:
    html = b"<html><script>alert(1)</script></html>"
    html_id, pdf_id, svg_id = asyncio.run(_mail_with(settings, [
        ('"><script>alert(1)</script>../../evil.html', "text/html", html),
        ("factura café.pdf", "application/pdf", b"%PDF-1.4"),
        ("logo.svg", "image/svg+xml", b"<svg onload='alert(1)'/>"),
    ]))
    assert client.get(f"/attachments/{html_id}").status_code == 401
    login(client, "agent@example.org")
    r = client.get(f"/attachments/{html_id}")
    assert r.status_code == 200 and r.content == html
    assert r.headers["content-type"].startswith("application/octet-stream")  # never text/html
    cd = r.headers["content-disposition"]
    assert cd.startswith("attachment;") and "<" not in cd and "/" not in cd.split("filename*")[0]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-security-policy"].startswith("sandbox")
    pdf = client.get(f"/attachments/{pdf_id}")
    assert pdf.headers["content-type"] == "application/pdf"
    assert "filename*=UTF-8''factura%20caf%C3%A9.pdf" in pdf.headers["content-disposition"]
    assert client.get(f"/attachments/{svg_id}").headers["content-type"].startswith("application/octet-stream")
    assert client.get("/attachments/999999").status_code == 404
