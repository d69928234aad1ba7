"""POST /webhooks/twilio/voice: Twilio Voice call status callbacks build the call's log.

Signed like every Twilio webhook: `X-Twilio-Signature` checked with twilio's `RequestValidator`
against HUB_PUBLIC_URL + the path + the query exactly as received (the URL Twilio called, also
behind a proxy). A bad or missing signature gets 403 and nothing is stored. Without Twilio
credentials the secret is the same installation-derived sandbox secret the WhatsApp webhooks use.

Each callback is folded into its call's log at once (`do_record_call_signal`, one short
transaction, committed before the answer), in any order and as often as Twilio repeats it.
"""

from __future__ import annotations

import logging

from litestar import Request, Response, post
from litestar.di import NamedDependency

from channels.twilio_webhooks import EMPTY_TWIML, SignatureChecker
from channels.phone.parse import ParseError, UnknownStatus, parse_call_status
from hub.actions.calls import do_record_call_signal
from hub.config import Settings
from hub.context import HubContext

log = logging.getLogger(__name__)

VOICE_PATH = "/webhooks/twilio/voice"


def make_handlers(settings: Settings, auth_token: str) -> list[object]:
    checker = SignatureChecker(settings, auth_token)

    @post(VOICE_PATH, exclude_from_auth=True, exclude_from_csrf=True, include_in_schema=False, status_code=200)
    async def twilio_voice_status(request: Request, ctx: NamedDependency[HubContext]) -> Response[str]:
        form = await checker.signed_form(request)
        if isinstance(form, Response):
            return form
        try:
            signal = parse_call_status(form, ctx.clock.now(), settings.phone_region)
        except UnknownStatus as exc:
            log.warning("voice callback ignored: %s", exc)
            return Response(EMPTY_TWIML, media_type="text/xml")
        except ParseError as exc:
            return Response(f"bad request: {exc}", status_code=400, media_type="text/plain")
        await do_record_call_signal(ctx, signal)
        return Response(EMPTY_TWIML, media_type="text/xml")

    return [twilio_voice_status]
