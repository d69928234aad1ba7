"""Citizens' content never runs in the agents' browser (Debian chromium through playwright).

Payloads arrive the way citizens send them: a WhatsApp text and profile name, a name given in
answer to the welcome, and a mail (parsed by the email channel's real pipeline) with hostile HTML,
a hostile subject, sender name and attachment file name. Each payload would set `window.__xss`
and open a dialog. The pages that show them are opened; the test fails on any dialog, on the
flag, or on any element built from a payload (which catches a broken escape even where the CSP
would still have blocked the script).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hub.config import Settings
from hub.context import HubContext
from tests.support.agent_ui import PASSWORD, _make_agents
from tests.support.live_server import LiveServer
from tests.conftest import make_settings
from tests.support import services
from tests.support.browser import browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

IMG = '<img src=x onerror="window.__xss=1;alert(1)">'
SCRIPT = "<script>window.__xss=2;alert(2)</script>"
SVG = '<svg onload="window.__xss=3;alert(3)">'
QUOTE = '"><img src=x onerror=alert(4)>'
HOSTILE_HTML = (
    "<p>Bon dia</p>" + SCRIPT + IMG + '<a href="javascript:window.__xss=5;alert(5)">clica</a>'
    '<iframe srcdoc="<script>parent.__xss=6</script>"></iframe><form action="https://evil.example"><input></form>'
)
FOUND_IN_DOM = """() => {
  const docs = [document, ...Array.from(document.querySelectorAll('iframe'))
      .map(f => { try { return f.contentDocument } catch (e) { return null } }).filter(Boolean)];
  const bad = [];
  for (const d of docs) {
    for (const el of d.querySelectorAll('*')) {
      for (const a of el.attributes) {
        if (/^on/i.test(a.name) || /^\\s*javascript:/i.test(a.value)) bad.push(el.tagName + ' ' + a.name);
      }
      if (el.tagName === 'SCRIPT' && !el.src) bad.push('inline script');
      if (el.tagName === 'IMG' && el.getAttribute('src') === 'x') bad.push('payload img');
    }
  }
  return bad;
}"""


def _hostile_mail() -> bytes:
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"] = f'"Eve {SVG}" <eve@citizen.example>'
    msg["To"] = "oac360@paeria.cat"
    msg["Subject"] = f"Consulta {IMG}"
    msg["Message-ID"] = "<xss-1@citizen.example>"
    msg.set_content(f"Text {SCRIPT}")
    msg.add_alternative(HOSTILE_HTML, subtype="html")
    msg.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename=f"factura{QUOTE}.pdf")
    return msg.as_bytes()


async def _citizens(settings: Settings) -> dict[str, int]:
    from channels.email.config import MailSettings
    from channels.email.pipeline import Pipeline
    from hub.actions.messages import do_receive_message
    from hub.inbound import IdentityIn, InboundMessage

    ctx = HubContext.create(settings)
    try:
        def wa(sid: str, body: str) -> InboundMessage:
            return InboundMessage(channel="whatsapp", provider_id=sid, received_at=datetime.now(UTC), body=body,
                                  identities=[IdentityIn("phone", "+34600999001")], display_hint=f"Pep {SVG}")
        first = await do_receive_message(ctx, wa("SMxss1", f"Hola {IMG} {SCRIPT}"))
        await do_receive_message(ctx, wa("SMxss2", f"Em dic Joan {QUOTE}"))
        outcome = await Pipeline(ctx, MailSettings(_env_file=None, mail_auto_ack=False)).ingest(_hostile_mail())
        assert first.ticket_id is not None and outcome.ticket_id is not None
        return {"whatsapp": first.ticket_id, "email": outcome.ticket_id}
    finally:
        await ctx.close()


@pytest.fixture
def hub(tmp_path: Path, db_url: str) -> Iterator[tuple[LiveServer, Settings]]:
    from entrypoints.web import create_app

    services.require_chromium()
    port = services.free_port()
    settings = make_settings(tmp_path, db_url, public_url=f"http://127.0.0.1:{port}", auto_assign=False)
    asyncio.run(_make_agents(settings))
    with LiveServer(create_app(settings, embedded=True), port=port) as server:
        yield server, settings


async def test_hostile_citizen_content_never_runs_in_the_agents_pages(
    hub: tuple[LiveServer, Settings], browser: Any,
) -> None:
    server, settings = hub
    tickets = await _citizens(settings)
    context = await browser.new_context(base_url=server.url, locale="en-GB")
    await context.add_cookies([{"name": "hub_lang", "value": "en", "url": server.url}])
    page = await context.new_page()
    page.set_default_timeout(10_000)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), asyncio.ensure_future(d.dismiss())))
    await page.goto("/login")
    await page.get_by_label("Email").fill("manager@example.org")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(f"{server.url}/")

    async with HubContext.create(settings).sessionmaker() as session:
        from hub.db.tables import Ticket

        contacts = [(await session.get(Ticket, t)).contact_id for t in tickets.values()]  # type: ignore[union-attr]
    pages = ["/", f"/tickets/{tickets['whatsapp']}", f"/tickets/{tickets['email']}",
             *(f"/contacts/{c}/privacy" for c in contacts)]
    shown = ""
    for path in pages:
        response = await page.goto(path)
        assert response is not None and response.status == 200, path
        await page.wait_for_load_state("networkidle")
        await page.wait_for_timeout(300)  # let anything that would run, run
        assert await page.evaluate("() => window.__xss") is None, path
        assert await page.evaluate(FOUND_IN_DOM) == [], path
        shown += await page.inner_text("body")
    assert dialogs == []
    # The payloads were on the pages, as text: the test looked at the right places.
    assert "onerror" in shown and "Joan" in shown and "Eve" in shown
