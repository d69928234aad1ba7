"""Twilio's webhooks for WhatsApp: inbound messages and outbound status callbacks.

Both check `X-Twilio-Signature` with twilio's `RequestValidator` against the URL Twilio called,
rebuilt from HUB_PUBLIC_URL (so it works behind a reverse proxy) plus the path and query exactly
as received. A bad or missing signature gets 403 and nothing is stored.

The inbound hot path is: parse the form, check the signature, one INSERT committed by
`do_accept_inbound`, empty TwiML. Turning the message into a ticket happens in the worker.
"""

from __future__ import annotations

import asyncio
import logging

from litestar import Request, Response, post
from litestar.di import NamedDependency

from channels.twilio_webhooks import EMPTY_TWIML, SignatureChecker
from channels.whatsapp.errors import explain
from channels.whatsapp.parse import ParseError, parse_inbound, parse_status
from hub.actions.messages import do_accept_inbound
from hub.actions.outbox import do_update_message_status, provider_message_exists
from hub.config import Settings
from hub.context import HubContext

log = logging.getLogger(__name__)

INBOUND_PATH = "/webhooks/twilio/whatsapp"
STATUS_PATH = "/webhooks/twilio/status"
# A status callback may beat our own bookkeeping of the send it reports on (the provider id is
# stored right after Twilio's answer). Wait this long for it before giving up on the callback.
UNKNOWN_SID_WAIT_S = (0.1, 0.2, 0.4, 0.6)


def _twiml(status: int = 200) -> Response[str]:
    return Response(EMPTY_TWIML, status_code=status, media_type="text/xml")


def make_handlers(settings: Settings, auth_token: str) -> list[object]:
    checker = SignatureChecker(settings, auth_token)

    @post(INBOUND_PATH, exclude_from_auth=True, exclude_from_csrf=True, include_in_schema=False, status_code=200)
    async def whatsapp_inbound(request: Request, ctx: NamedDependency[HubContext]) -> Response[str]:
        form = await checker.signed_form(request)
        if isinstance(form, Response):
            return form
        try:
            message = parse_inbound(form, ctx.clock.now())
        except ParseError as exc:
            return Response(f"bad request: {exc}", status_code=400, media_type="text/plain")
        await do_accept_inbound(ctx, message)  # committed (or a known duplicate) before we answer
        return _twiml()

    @post(STATUS_PATH, exclude_from_auth=True, exclude_from_csrf=True, include_in_schema=False, status_code=200)
    async def whatsapp_status(request: Request, ctx: NamedDependency[HubContext]) -> Response[str]:
        form = await checker.signed_form(request)
        if isinstance(form, Response):
            return form
        try:
            sid, status, code = parse_status(form)
        except ParseError as exc:
            return Response(f"bad request: {exc}", status_code=400, media_type="text/plain")
        detail = explain(code, form.get("ErrorMessage") or form.get("ChannelStatusMessage") or "") if code else None
        for pause in (*UNKNOWN_SID_WAIT_S, None):
            if await do_update_message_status(ctx, "whatsapp", sid, status, code, detail):
                break
            if await provider_message_exists(ctx, "whatsapp", sid) or pause is None:
                break  # known but not a step forward (late or repeated callback), or never ours
            await asyncio.sleep(pause)
        return _twiml()

    return [whatsapp_inbound, whatsapp_status]
