"""Outbound WhatsApp: `hub.delivery.Sender` on Twilio's REST API (async SDK client), or sandbox.

The outbox actor calls `deliver` once per attempt. Errors are sorted for it: network trouble,
timeouts and 5xx are `TransientError` (retried with backoff), rate limits (63018, 429) are
transient with a longer pause, and everything Twilio says will never work (21211, 21614, 63024,
a closed 24-hour window without a template, ...) is `PermanentError` with a sentence for the agent.

Without Twilio credentials the channel runs in sandbox mode: `SandboxSender` applies the same
window rules and records the message as sent with a `SANDBOX-...` id; the citizen simulator
shows it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from channels.whatsapp.config import WhatsAppSettings
from hub.config import Settings
from hub.context import HubContext
from hub.delivery import ChannelFacts, Delivered, OutboundMessage, PermanentError, TransientError
from channels.whatsapp.errors import PERMANENT, RATE_LIMITED, explain
from channels.whatsapp.outbound_media import media_url
from channels.whatsapp.window import FreeForm, Refuse, UseTemplate, decide

log = logging.getLogger(__name__)

RATE_LIMIT_PAUSE_S = 30.0
REQUEST_TIMEOUT_S = 15.0


class RateLimiter:
    """At most `rate` sends per second from this process, spread evenly (thread-safe).

    Every event loop of the process (web, worker threads) shares the one limiter, so the
    sender's Twilio limit (80 messages/s by default) holds per process; with several worker
    processes, divide the rate between them (HUB_TWILIO_RATE_PER_SECOND).
    """

    def __init__(self, rate: float, clock: Any = time.monotonic) -> None:
        self.interval = 1.0 / rate
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Book the next slot; returns how long to wait for it (seconds)."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now

    async def wait(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


def recipient(message: OutboundMessage) -> str:
    """The `To` address: the citizen's number, or their WhatsApp user id when the number is hidden."""
    phones = message.identities.get("phone") or []
    users = message.identities.get("whatsapp_user") or []
    if phones:
        return f"whatsapp:{phones[0]}"
    if users:
        return f"whatsapp:{users[0]}"
    raise PermanentError("The contact has no WhatsApp number or user id to write to.", code="no_recipient")


def _rewrite(url: str, base: str) -> str:
    u, b = urlsplit(url), urlsplit(base)
    return urlunsplit((b.scheme, b.netloc, u.path, u.query, u.fragment))


def _http_client_class() -> type:
    from twilio.http.async_http_client import AsyncTwilioHttpClient

    class HubAsyncTwilioHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
        """Sends every request to HUB_TWILIO_API_URL (Twilio's own by default, a fake in tests)."""

        def __init__(self, base_url: str, **kw: Any) -> None:
            super().__init__(**kw)
            self.base_url = base_url

        async def request(self, method: str, url: str, *args: Any, **kw: Any) -> Any:
            return await super().request(method, _rewrite(url, self.base_url), *args, **kw)

    return HubAsyncTwilioHttpClient


def whatsapp_facts(twilio: WhatsAppSettings, *, sandbox: bool) -> ChannelFacts:
    """What the core and the web read of this channel's settings (`HubContext.facts`)."""
    return ChannelFacts(address=twilio.twilio_whatsapp_from, held_reply_notice=bool(twilio.twilio_template_agent_reply),
                        sandbox=sandbox)


class TwilioSender:
    def __init__(self, settings: Settings, twilio: WhatsAppSettings) -> None:
        self.settings = settings
        self.twilio = twilio
        self.limiter = RateLimiter(twilio.twilio_rate_per_second)
        self._clients: dict[int, tuple[Any, Any, Any]] = {}  # loop id -> (Client, http client, loop)
        self._lock = threading.Lock()

    @property
    def facts(self) -> ChannelFacts:
        return whatsapp_facts(self.twilio, sandbox=False)

    def _client(self) -> Any:
        # aiohttp sessions belong to the loop that opened them: one client per event loop.
        loop = asyncio.get_running_loop()
        with self._lock:
            entry = self._clients.get(id(loop))
            if entry is not None and entry[2] is loop:
                return entry[0]
            from twilio.rest import Client

            http = _http_client_class()(self.twilio.twilio_api_url, timeout=REQUEST_TIMEOUT_S)
            client = Client(self.twilio.twilio_account_sid, self.twilio.twilio_auth_token, http_client=http)
            self._clients[id(loop)] = (client, http, loop)
            return client

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        entry = self._clients.pop(id(loop), None)
        if entry is not None:
            await entry[1].close()

    def _params(self, message: OutboundMessage) -> tuple[dict[str, Any], dict[str, Any]]:
        decision = decide(
            message, _now(message), self.twilio.twilio_template_survey, self.twilio.twilio_template_agent_reply,
        )
        if isinstance(decision, Refuse):
            raise PermanentError(decision.reason, code="window_closed")
        params: dict[str, Any] = {
            "to": recipient(message),
            "status_callback": f"{self.settings.public_url}/webhooks/twilio/status",
        }
        if self.twilio.twilio_messaging_service_sid:
            params["messaging_service_sid"] = self.twilio.twilio_messaging_service_sid
        else:
            params["from_"] = _whatsapp_address(self.twilio.twilio_whatsapp_from)
        meta: dict[str, Any] = {}
        if isinstance(decision, UseTemplate):
            params["content_sid"] = decision.content_sid
            params["content_variables"] = decision.content_variables
            meta = {"template": decision.content_sid, "window": "closed"}
        else:
            assert isinstance(decision, FreeForm)
            media = [
                media_url(self.settings, self.twilio, int(a["id"]), str(a["sha256"]), _now(message))
                for a in message.attachments if a.get("id") and a.get("sha256") and a.get("storage_key")
            ]
            if decision.body or not media:
                params["body"] = decision.body
            if media:
                params["media_url"] = media
                meta = {"media": len(media)}
        return params, meta

    async def deliver(self, message: OutboundMessage, ctx: HubContext) -> Delivered:
        from twilio.base.exceptions import TwilioRestException

        params, meta = self._params(message)
        if "from_" in params and params["from_"] == "whatsapp:":
            raise PermanentError(
                "No WhatsApp sender is configured: set HUB_TWILIO_WHATSAPP_FROM or HUB_TWILIO_MESSAGING_SERVICE_SID.",
                code="no_sender",
            )
        await self.limiter.wait()
        try:
            with warnings.catch_warnings():
                # aiohttp 3.14 deprecates the auth style the SDK still uses (STACK-NOTES §7.17).
                warnings.simplefilter("ignore", DeprecationWarning)
                created = await self._client().messages.create_async(**params)
        except TwilioRestException as exc:
            raise classify(exc.status, exc.code, exc.msg) from exc
        except (asyncio.TimeoutError, TimeoutError) as exc:
            raise TransientError("Twilio did not answer in time") from exc
        except OSError as exc:  # connection refused, reset, DNS (aiohttp's errors derive from it)
            raise TransientError(f"cannot reach Twilio: {exc}") from exc
        except Exception as exc:
            import aiohttp

            if isinstance(exc, aiohttp.ClientError):
                raise TransientError(f"cannot reach Twilio: {exc}") from exc
            raise
        return Delivered(provider_id=created.sid, status=(created.status or "queued"), meta=meta)


    def finds(self, message: OutboundMessage) -> bool:
        """Could `already_sent` recognise this message's attempt? A text yes; a template (Twilio
        renders its text) or a file alone no (`hub.delivery.Lookup`)."""
        try:
            params, _ = self._params(message)
        except PermanentError:
            return True  # refused before anything leaves
        return "body" in params

    async def already_sent(self, message: OutboundMessage, ctx: HubContext) -> list[Delivered]:
        """Twilio's messages that may be this one's interrupted attempt (`hub.delivery.Lookup`).

        The Messages list filtered by `To` and `DateSent` (GMT days, from the day the message was
        written, a few minutes' clock skew allowed), matched on the body: outbound, created since
        the message was written, not failed. A template's text is rendered by Twilio, so it cannot
        be matched: an interrupted template send is sent again (see hub/actions/outbox.py).
        """
        from twilio.base.exceptions import TwilioRestException

        params, _ = self._params(message)
        if "body" not in params:
            return []
        since = (message.created_at or datetime.now(UTC)) - LOOKUP_SKEW
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                found = await self._client().messages.list_async(
                    to=params["to"], date_sent_after=since.strftime("%Y-%m-%d"), limit=LOOKUP_LIMIT, page_size=LOOKUP_LIMIT,
                )
        except TwilioRestException as exc:
            raise TransientError(f"cannot ask Twilio whether an interrupted send arrived: {exc.msg}") from exc
        except Exception as exc:
            raise TransientError(f"cannot ask Twilio whether an interrupted send arrived: {exc}") from exc
        with_media = bool(params.get("media_url"))
        matches = [
            m for m in found
            if (m.direction or "").startswith("outbound") and m.body == params["body"]
            and (str(m.num_media or "0") != "0") == with_media
            and m.status not in ("failed", "undelivered", "canceled")
            and (m.date_created is None or m.date_created >= since)
        ]
        matches.sort(key=lambda m: m.date_created or since)
        return [Delivered(provider_id=m.sid, status=m.status or "queued") for m in matches]


LOOKUP_SKEW = timedelta(minutes=5)
LOOKUP_LIMIT = 100


def classify(status: int | None, code: int | str | None, text: str | None) -> Exception:
    """A Twilio REST error -> TransientError or PermanentError."""
    code_s = str(code) if code is not None else ""
    detail = explain(code_s, text or f"Twilio answered HTTP {status}") if code_s else (text or f"HTTP {status}")
    if code_s in RATE_LIMITED or status == 429:
        return TransientError(detail, retry_after=RATE_LIMIT_PAUSE_S)
    if code_s in PERMANENT:
        return PermanentError(detail, code=code_s)
    if status is None or status >= 500 or status == 408:
        return TransientError(detail)
    if 400 <= status < 500:
        return PermanentError(detail, code=code_s or str(status))
    return TransientError(detail)


def _now(message: OutboundMessage) -> datetime:
    # The hub's clock at claim time (a fake clock in tests), else the wall clock.
    return message.claimed_at or datetime.now(UTC)


def _whatsapp_address(value: str) -> str:
    value = value.strip()
    return value if value.lower().startswith("whatsapp:") else f"whatsapp:{value}"


class SandboxSender:
    """No Twilio credentials: apply the same rules, record the message as sent, send nothing."""

    def __init__(self, settings: Settings, twilio: WhatsAppSettings) -> None:
        self.settings = settings
        self.twilio = twilio

    @property
    def facts(self) -> ChannelFacts:
        return whatsapp_facts(self.twilio, sandbox=True)

    async def deliver(self, message: OutboundMessage, ctx: HubContext) -> Delivered:
        recipient(message)
        decision = decide(
            message, _now(message), self.twilio.twilio_template_survey, self.twilio.twilio_template_agent_reply,
        )
        if isinstance(decision, Refuse):
            raise PermanentError(decision.reason, code="window_closed")
        meta: dict[str, Any] = {"sandbox": True}
        if isinstance(decision, UseTemplate):
            meta.update(template=decision.content_sid, window="closed")
        return Delivered(provider_id=f"SANDBOX-{uuid.uuid4().hex}", status="sent", meta=meta)
