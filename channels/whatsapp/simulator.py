"""The citizen simulator (sandbox mode only): play a citizen on WhatsApp from a browser.

`GET /simulator` shows a phone-like chat. Sending posts a webhook signed exactly as Twilio
would (with the sandbox signing secret) through the whole web app, so the message takes the
real path: signature check, inbox, worker, ticket. `GET /simulator/conversation` returns the
conversation as JSON for the page to poll; it also plays Twilio's part for messages the sandbox
"sent", posting signed `delivered` and `read` status callbacks, so agents see the ticks.

Offered only when no Twilio credentials are set. Once the web UI has logins these routes
require one (they are not excluded from authentication).
"""

from __future__ import annotations

import html
import json
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import httpx
from babel.messages.pofile import read_po
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody
from msgspec import Meta, Struct
from sqlmodel import col, select
from twilio.request_validator import RequestValidator
from typing import Annotated

from channels.whatsapp.parse import phone_from
from channels.whatsapp.webhook import INBOUND_PATH, STATUS_PATH, signing_token
from hub.config import LANGUAGES, Settings
from hub.context import HubContext
from hub.db.tables import Identity, Message

LOCALE_DIR = Path(__file__).parent / "locale"
SANDBOX_FROM = "whatsapp:+14155238886"
SANDBOX_ACCOUNT = "AC" + "0" * 32

# English source texts (gettext msgids) of the page.
TEXTS = {
    "title": "Citizen simulator",
    "intro": "Play a citizen writing to the office on WhatsApp. Messages go through the real webhook; nothing leaves this machine.",
    "number": "Phone number",
    "name": "WhatsApp profile name",
    "message": "Message",
    "send": "Send",
    "empty": "No messages yet. Write something to start a consultation.",
    "office": "Citizen help office",
    "failed": "not delivered",
    "error": "The message could not be sent",
}


@cache
def _catalogue(language: str) -> dict[str, str]:
    path = LOCALE_DIR / language / "LC_MESSAGES" / "simulator.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return {m.id: m.string for m in read_po(fh, locale=language) if m.id and m.string and not m.fuzzy}


def texts_for(language: str) -> dict[str, str]:
    catalogue = _catalogue(language) if language != "en" else {}
    return {key: catalogue.get(source, source) for key, source in TEXTS.items()}


def pick_language(request: Request, settings: Settings) -> str:
    asked = request.query_params.get("lang") or ""
    if asked in LANGUAGES:
        return asked
    for part in request.headers.get("accept-language", "").split(","):
        short = part.split(";")[0].strip().lower()[:2]
        if short in LANGUAGES:
            return short
    return settings.language


class SimulatedMessage(Struct, forbid_unknown_fields=True):
    number: Annotated[str, Meta(min_length=8, max_length=20)]
    body: Annotated[str, Meta(max_length=1600)]
    name: Annotated[str, Meta(max_length=100)] = "Ciutadà"


class ChatLine(Struct):
    id: int
    direction: str  # in (from the citizen) | out (to the citizen)
    body: str
    status: str
    at: str


def _transport(request: Request) -> httpx.AsyncClient:
    # Through the app itself (ASGI), so the webhook path is exercised exactly as Twilio uses it.
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=request.app), base_url="http://simulator.local")


async def _post_signed(request: Request, settings: Settings, path: str, form: dict[str, str]) -> int:
    signature = RequestValidator(signing_token(settings)).compute_signature(settings.public_url + path, form)
    async with _transport(request) as client:
        response = await client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    return response.status_code


def make_handlers(settings: Settings) -> list[Any]:
    @get("/simulator", include_in_schema=False)
    async def simulator_page(request: Request) -> Response[str]:
        return Response(render_page(texts_for(pick_language(request, settings)), pick_language(request, settings)),
                        media_type="text/html")

    @post("/simulator/send", include_in_schema=False, status_code=200)
    async def simulator_send(request: Request, data: JSONBody[SimulatedMessage]) -> dict[str, Any]:
        number = phone_from(data.number)
        if number is None:
            return Response({"detail": "expected a number such as +34600111222"}, status_code=400)  # type: ignore[return-value]
        sid = "SM" + uuid.uuid4().hex
        form = {
            "SmsMessageSid": sid, "NumMedia": "0", "ProfileName": data.name.strip(), "MessageType": "text",
            "SmsSid": sid, "WaId": number[1:], "SmsStatus": "received", "Body": data.body, "To": SANDBOX_FROM,
            "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid, "AccountSid": SANDBOX_ACCOUNT,
            "From": f"whatsapp:{number}", "ApiVersion": "2010-04-01",
        }
        status = await _post_signed(request, settings, INBOUND_PATH, form)
        return {"sid": sid, "webhook_status": status}

    @get("/simulator/conversation", include_in_schema=False)
    async def simulator_conversation(request: Request, ctx: NamedDependency[HubContext]) -> list[ChatLine]:
        number = phone_from(request.query_params.get("number") or "")
        if number is None:
            return []
        lines, to_tick = await conversation(ctx, number)
        for provider_id, status in to_tick:  # play Twilio: the phone got it, then it was read
            for step in ("delivered", "read")[("sent", "delivered").index(status):]:
                await _post_signed(request, settings, STATUS_PATH, {
                    "MessageSid": provider_id, "MessageStatus": step, "AccountSid": SANDBOX_ACCOUNT,
                    "From": SANDBOX_FROM, "To": f"whatsapp:{number}", "ChannelPrefix": "whatsapp",
                })
        return lines

    return [simulator_page, simulator_send, simulator_conversation]


async def conversation(ctx: HubContext, number: str, limit: int = 200) -> tuple[list[ChatLine], list[tuple[str, str]]]:
    """The citizen's side of the chat (read only), and the sandbox messages still to tick."""
    async with ctx.sessionmaker() as session:
        contact_ids = select(Identity.contact_id).where(Identity.kind == "phone", Identity.value == number)
        stmt = (
            select(Message).where(
                col(Message.contact_id).in_(contact_ids), Message.channel == "whatsapp",
                col(Message.direction).in_(["in", "out"]),
            ).order_by(col(Message.created_at).desc(), col(Message.id).desc()).limit(limit)
        )
        rows = list(reversed((await session.exec(stmt)).all()))
    lines = [
        ChatLine(m.id or 0, m.direction, m.body, m.status, m.created_at.isoformat())
        for m in rows if m.direction == "in" or m.status not in ("queued", "sending")
    ]
    to_tick = [
        (m.provider_id, m.status) for m in rows
        if m.direction == "out" and (m.provider_id or "").startswith("SANDBOX-") and m.status in ("sent", "delivered")
    ]
    return lines, to_tick  # type: ignore[return-value]


def render_page(t: dict[str, str], language: str) -> str:
    e = html.escape
    strings = json.dumps({"empty": t["empty"], "failed": t["failed"], "error": t["error"]})
    return f"""<!doctype html>
<html lang="{e(language)}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(t["title"])}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:0;background:#e5ddd5;color:#111}}
main{{max-width:28rem;margin:0 auto;min-height:100vh;display:flex;flex-direction:column;background:#efeae2}}
header{{background:#075e54;color:#fff;padding:.75rem 1rem}} header h1{{font-size:1.1rem;margin:0}}
header p{{font-size:.8rem;margin:.25rem 0 0}}
#setup{{display:flex;gap:.5rem;padding:.5rem 1rem;background:#f7f7f7;flex-wrap:wrap}}
#setup label{{font-size:.8rem;display:flex;flex-direction:column;flex:1}}
#chat{{flex:1;padding:1rem;overflow-y:auto;display:flex;flex-direction:column;gap:.4rem}}
.msg{{max-width:80%;padding:.4rem .6rem;border-radius:.5rem;white-space:pre-wrap;word-wrap:break-word}}
.in{{align-self:flex-end;background:#d9fdd3}} .out{{align-self:flex-start;background:#fff}}
.meta{{font-size:.7rem;color:#555;text-align:right}} .failed .meta{{color:#a00}}
form#compose{{display:flex;gap:.5rem;padding:.5rem;background:#f0f0f0}}
form#compose textarea{{flex:1;resize:none}} button{{background:#075e54;color:#fff;border:0;padding:.5rem 1rem;border-radius:.4rem}}
#status{{color:#a00;font-size:.8rem;padding:0 1rem}}
</style></head>
<body><main>
<header><h1>{e(t["title"])}</h1><p>{e(t["intro"])}</p></header>
<div id="setup">
<label>{e(t["number"])}<input id="number" value="+34600111222" inputmode="tel" autocomplete="off"></label>
<label>{e(t["name"])}<input id="name" value="Anna" autocomplete="off"></label>
</div>
<div id="chat" aria-live="polite"></div>
<p id="status" role="status"></p>
<form id="compose"><label for="body" class="visually-hidden" style="position:absolute;left:-9999px">{e(t["message"])}</label>
<textarea id="body" rows="2" required></textarea><button type="submit">{e(t["send"])}</button></form>
</main>
<script>
const T = {strings};
const chat = document.getElementById("chat"), statusLine = document.getElementById("status");
const ticks = {{sent: "✓", delivered: "✓✓", read: "✓✓ 👁", failed: "✗ " + T.failed, undelivered: "✗ " + T.failed}};
function csrf() {{ const m = document.cookie.match(/(?:^|; )csrftoken=([^;]*)/); return m ? decodeURIComponent(m[1]) : ""; }}
async function refresh() {{
  const number = document.getElementById("number").value.trim();
  const r = await fetch("/simulator/conversation?number=" + encodeURIComponent(number));
  if (!r.ok) return;
  const lines = await r.json();
  chat.replaceChildren();
  if (!lines.length) {{ const p = document.createElement("p"); p.textContent = T.empty; chat.append(p); }}
  for (const line of lines) {{
    const div = document.createElement("div");
    div.className = "msg " + line.direction + (ticks[line.status] && line.status.endsWith("failed") ? " failed" : "");
    div.textContent = line.body;
    const meta = document.createElement("div"); meta.className = "meta";
    meta.textContent = new Date(line.at).toLocaleTimeString() + (line.direction === "out" ? "" : " " + (ticks[line.status] || ""));
    div.append(meta); chat.append(div);
  }}
  chat.scrollTop = chat.scrollHeight;
}}
document.getElementById("compose").addEventListener("submit", async (ev) => {{
  ev.preventDefault();
  const body = document.getElementById("body");
  const r = await fetch("/simulator/send", {{method: "POST", headers: {{"Content-Type": "application/json", "x-csrftoken": csrf()}},
    body: JSON.stringify({{number: document.getElementById("number").value.trim(), name: document.getElementById("name").value, body: body.value}})}});
  statusLine.textContent = r.ok ? "" : T.error + " (" + r.status + ")";
  if (r.ok) body.value = "";
  refresh();
}});
refresh(); setInterval(refresh, 1500);
</script></body></html>"""
