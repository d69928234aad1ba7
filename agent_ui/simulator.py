"""The citizen simulator (sandbox mode only): staff play a citizen on WhatsApp in a browser.

`GET /simulator` shows a phone-like chat. Sending posts a webhook signed exactly as Twilio
would (with the sandbox signing secret) through the whole web app, so the message takes the
real path: signature check, inbox, worker, ticket. `GET /simulator/conversation` returns the
conversation as JSON for the page to poll; it also plays Twilio's part for the messages the
sandbox "sent", posting signed `delivered` and `read` status callbacks, so agents see the ticks.

Logged-in staff only (the app-wide guard); answers 404 when Twilio credentials are set.
Texts come from the page's own catalogue (`agent_ui/locale/<lang>/LC_MESSAGES/simulator.po`).
A web page about the WhatsApp channel: it lives on the web side and uses the channel's
parser and paths; the channel knows nothing of it.
"""

from __future__ import annotations

import uuid
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from babel.messages.pofile import read_po
from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery, JSONBody
from litestar.response import Template
from msgspec import Meta, Struct
from sqlmodel import col, select
from twilio.request_validator import RequestValidator

from agent_ui.web import page
from channels.whatsapp.parse import phone_from
from channels.twilio_webhooks import sandbox_token
from channels.whatsapp.webhook import INBOUND_PATH, STATUS_PATH
from hub.config import Settings
from hub.context import HubContext
from hub.db.tables import Attachment, Identity, Message

HERE = Path(__file__).parent
SCRIPT = HERE / "static" / "simulator.js"
SANDBOX_FROM = "whatsapp:+14155238886"
SANDBOX_ACCOUNT = "AC" + "0" * 32

# English source texts (the msgids of simulator.po).
TEXTS = {
    "title": "Citizen simulator",
    "intro": "Play a citizen writing to the office on WhatsApp. Messages go through the real webhook; nothing leaves this machine.",
    "number": "Phone number",
    "name": "WhatsApp profile name",
    "message": "Message",
    "send": "Send",
    "empty": "No messages yet. Write something to start a consultation.",
    "office": "Citizen help office",
    "you": "Citizen",
    "failed": "not delivered",
    "error": "The message could not be sent",
    "conversation": "Conversation",
}


@cache
def _catalogue(language: str) -> dict[str, str]:
    path = HERE / "locale" / language / "LC_MESSAGES" / "simulator.po"
    if not path.exists():
        return {}
    with path.open("rb") as fh:
        return {m.id: m.string for m in read_po(fh, locale=language) if m.id and m.string and not m.fuzzy}


def texts_for(language: str) -> dict[str, str]:
    catalogue = _catalogue(language) if language != "en" else {}
    return {key: catalogue.get(source, source) for key, source in TEXTS.items()}


def _sandbox_only(ctx: HubContext) -> None:
    if not ctx.facts("whatsapp").sandbox:
        raise NotFoundException("the citizen simulator exists only in sandbox mode (no Twilio credentials)")


class SimulatedMessage(Struct, forbid_unknown_fields=True):
    number: Annotated[str, Meta(min_length=8, max_length=20)]
    body: Annotated[str, Meta(min_length=1, max_length=1600)]
    name: Annotated[str, Meta(max_length=100)] = ""


class ChatLine(Struct):
    id: int
    direction: str  # in (from the citizen) | out (to the citizen)
    body: str
    status: str
    at: str


async def _post_signed(request: Request[Any, Any, Any], settings: Settings, path: str, form: dict[str, str]) -> int:
    """POST a Twilio-signed form through the app itself (ASGI), as Twilio would over HTTP."""
    signature = RequestValidator(sandbox_token(settings)).compute_signature(settings.public_url + path, form)
    import httpx  # the simulator runs only in sandbox mode: no web worker pays for it otherwise

    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://simulator.local") as client:
        response = await client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    return response.status_code


@get("/simulator", include_in_schema=False)
async def simulator_page(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext],
                         text: FromQuery[str | None] = None) -> Template:
    """The citizen's phone. `text` is typed in the message box, as a wa.me link's `?text=` is
    (the entry points page's "try it" links come here in sandbox mode)."""
    _sandbox_only(ctx)
    response = page("simulator.html", request, nav="simulator", prefill=(text or "")[:1600])
    response.context["t"] = texts_for(response.context["lang"])
    return response


@get("/simulator/simulator.js", include_in_schema=False, cache=False)
async def simulator_script() -> Response[bytes]:
    return Response(SCRIPT.read_bytes(), media_type="text/javascript; charset=utf-8")


@post("/simulator/send", include_in_schema=False, status_code=200)
async def simulator_send(
    request: Request[Any, Any, Any], data: JSONBody[SimulatedMessage], ctx: NamedDependency[HubContext],
) -> Response[dict[str, Any]]:
    settings = ctx.settings
    _sandbox_only(ctx)
    number = phone_from(data.number)
    if number is None:
        return Response({"detail": "expected a number such as +34600111222"}, status_code=400)
    sid = "SM" + uuid.uuid4().hex
    form = {
        "SmsMessageSid": sid, "NumMedia": "0", "ProfileName": data.name.strip(), "MessageType": "text",
        "SmsSid": sid, "WaId": number[1:], "SmsStatus": "received", "Body": data.body, "To": SANDBOX_FROM,
        "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid, "AccountSid": SANDBOX_ACCOUNT,
        "From": f"whatsapp:{number}", "ApiVersion": "2010-04-01",
    }
    status = await _post_signed(request, settings, INBOUND_PATH, form)
    return Response({"sid": sid, "webhook_status": status}, status_code=200 if status == 200 else 502)


@get("/simulator/conversation", include_in_schema=False)
async def simulator_conversation(request: Request[Any, Any, Any], ctx: NamedDependency[HubContext]) -> list[ChatLine]:
    settings = ctx.settings
    _sandbox_only(ctx)
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
        # At one instant the citizen's message comes before our answer to it.
        rows = sorted((await session.exec(stmt)).all(), key=lambda m: (m.created_at, m.direction != "in", m.id))
        # An agent's files: the phone would show them; the simulator names them.
        out_ids = [m.id for m in rows if m.direction == "out"]
        files: dict[int, list[str]] = {}
        if out_ids:
            for message_id, filename in (await session.exec(
                select(Attachment.message_id, Attachment.filename).where(col(Attachment.message_id).in_(out_ids))
                .order_by(col(Attachment.id))
            )).all():
                files.setdefault(message_id, []).append(filename)
    # What the phone shows: the citizen's messages, and ours once they have left the hub.
    lines = [
        ChatLine(m.id or 0, m.direction, "\n".join([m.body, *(f"📎 {f}" for f in files.get(m.id or 0, []))]).strip(),
                 m.status, m.created_at.isoformat())
        for m in rows if m.direction == "in" or m.status not in ("queued", "sending")
    ]
    to_tick = [
        (m.provider_id or "", m.status) for m in rows
        if m.direction == "out" and (m.provider_id or "").startswith("SANDBOX-") and m.status in ("sent", "delivered")
    ]
    return lines, to_tick


ROUTES = [simulator_page, simulator_script, simulator_send, simulator_conversation]
