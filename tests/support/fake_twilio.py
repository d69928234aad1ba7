"""A local stand-in for Twilio: its REST API for sending, its media URLs, and its webhook signing.

`FakeTwilio` is a stdlib HTTP server on 127.0.0.1 (its own thread) that answers
`POST /2010-04-01/Accounts/{sid}/Messages.json` like Twilio does: Basic auth with the account
SID and token, a 201 with a Twilio-shaped JSON message, or the error you queue with `fail_next`
(e.g. 400 code 21211, 429 code 63018, 500). A message exists from the moment its request
arrived, even if the sender is killed before the (delayed, `delay_s`) answer: `GET` on the same
list URL reads the messages like Twilio's Messages list, most recent first, filtered by `To`,
`From` and `DateSent` / `DateSent<` / `DateSent>` (GMT dates `YYYY-MM-DD`, inclusive), paged
with `PageSize` and `Page`. Every request is recorded. `add_media` serves a file behind Basic
auth, as Twilio's media URLs are. A message created with `MediaUrl`s has each one fetched
(HEAD, then GET, without credentials, as Twilio does) when it is created, if it is on a local
server: `Recorded.media` holds what came back.

`sign` and `post_webhook` produce requests exactly as Twilio signs them, with twilio's own
`RequestValidator.compute_signature` over the public URL and the form.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from twilio.request_validator import RequestValidator

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "fake-twilio-auth-token-0123456789"
WHATSAPP_FROM = "whatsapp:+14155238886"


@dataclass
class Recorded:
    method: str
    path: str
    form: dict[str, list[str]]
    headers: dict[str, str]
    at: float
    sid: str | None = None  # the MessageSid the fake answered with
    media: list["Fetched"] = field(default_factory=list)  # each MediaUrl, fetched when the message was created

    def value(self, key: str) -> str | None:
        values = self.form.get(key)
        return values[0] if values else None


@dataclass
class Fetched:
    """What the fake got when it fetched a `MediaUrl`, as Twilio does before sending a medium."""

    url: str
    status: int | None  # None: unreachable (only the hub's local test servers are fetched)
    content_type: str = ""
    disposition: str = ""
    content: bytes = b""
    head_status: int | None = None
    head_length: str = ""


@dataclass
class _Failure:
    status: int
    code: int | None
    message: str


@dataclass
class FakeTwilio:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    requests: list[Recorded] = field(default_factory=list)
    delay_s: float = 0.0  # answer each send after this long (a slow Twilio)
    in_flight: int = 0  # sends created and not yet answered
    _failures: list[_Failure] = field(default_factory=list)
    _media: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)  # created, oldest first (Twilio's records)
    _redirects: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # Control -----------------------------------------------------------------------------

    def start(self) -> "FakeTwilio":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            # Keep-alive, as Twilio's API: a sender reuses its connections (every answer has a length).
            protocol_version = "HTTP/1.1"

            def handle(self) -> None:
                try:
                    super().handle()
                except (ConnectionResetError, BrokenPipeError):
                    pass  # the sender was killed between two requests on its connection

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self, "POST")

            def do_GET(self) -> None:  # noqa: N802
                fake._handle(self, "GET")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def fail_next(self, status: int, code: int | None = None, message: str = "error", times: int = 1) -> None:
        with self._lock:
            self._failures.extend(_Failure(status, code, message) for _ in range(times))

    def add_media(self, name: str, content: bytes, content_type: str) -> str:
        with self._lock:
            self._media[name] = (content, content_type)
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages/MM{uuid.uuid4().hex}/Media/{name}"

    def add_redirect(self, name: str, location: str) -> str:
        """A media URL that answers 302 to `location` (as Twilio's redirect to its CDN)."""
        with self._lock:
            self._redirects[name] = location
        return f"{self.url}/2010-04-01/Accounts/{self.account_sid}/Messages/MM{uuid.uuid4().hex}/Media/{name}"

    def sent(self) -> list[Recorded]:
        """The accepted message creations (what reached the 'citizen')."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/Messages.json") and r.headers.get("x-fake-status") == "201"]

    def attempts(self) -> list[Recorded]:
        """Every message creation tried (listing the messages is not one)."""
        with self._lock:
            return [r for r in self.requests if r.path.endswith("/Messages.json") and r.method == "POST"]

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self.messages.clear()
            self._redirects.clear()
        self.delay_s = 0.0

    # Serving -----------------------------------------------------------------------------

    def _authorised(self, handler: BaseHTTPRequestHandler) -> bool:
        header = handler.headers.get("Authorization", "")
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return header == f"Basic {expected}"

    def _reply(self, handler: BaseHTTPRequestHandler, status: int, body: bytes, content_type: str) -> None:
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", content_type)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender is gone (a test killed it mid-request); what it sent is recorded

    def _error(self, handler: BaseHTTPRequestHandler, status: int, code: int | None, message: str) -> None:
        body = {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status}
        self._reply(handler, status, json.dumps(body).encode(), "application/json")

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length).decode() if length else ""
        form = parse_qs(raw, keep_blank_values=True)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        record = Recorded(method, handler.path, form, headers, time.monotonic())
        with self._lock:
            self.requests.append(record)
        if not self._authorised(handler):
            record.headers["x-fake-status"] = "401"
            return self._error(handler, 401, 20003, "Authenticate")
        if method == "GET" and handler.path == f"/2010-04-01/Accounts/{self.account_sid}.json":
            account = {"sid": self.account_sid, "status": "active", "friendly_name": "Fake", "type": "Full"}
            return self._reply(handler, 200, json.dumps(account).encode(), "application/json")  # `hub check`
        if method == "GET" and handler.path.split("?")[0] == f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return self._list(handler)
        if method == "GET":
            name = handler.path.rsplit("/", 1)[-1]
            with self._lock:
                media = self._media.get(name)
                location = self._redirects.get(name)
            if location is not None:
                handler.send_response(302)
                handler.send_header("Location", location)
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return None
            if media is None:
                return self._error(handler, 404, 20404, "not found")
            return self._reply(handler, 200, media[0], media[1])
        if not handler.path.startswith(f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"):
            return self._error(handler, 404, 20404, "The requested resource was not found")
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:
            if self.delay_s:
                time.sleep(self.delay_s)
            record.headers["x-fake-status"] = str(failure.status)
            return self._error(handler, failure.status, failure.code, failure.message)
        if "To" not in form or not ({"From", "MessagingServiceSid"} & form.keys()):
            record.headers["x-fake-status"] = "400"
            return self._error(handler, 400, 21604, "A 'To' and a 'From' or 'MessagingServiceSid' are required")
        if "Body" in form and "ContentSid" in form:
            record.headers["x-fake-status"] = "400"
            return self._error(handler, 400, 21619, "Body and ContentSid cannot go together")
        record.media = [fetch_media(url) for url in form.get("MediaUrl", [])]
        record.headers["x-fake-status"] = "201"
        sid = record.sid = "SM" + uuid.uuid4().hex
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        first = lambda k: (form.get(k) or [None])[0]  # noqa: E731
        body = {
            "sid": sid, "account_sid": self.account_sid, "api_version": "2010-04-01",
            "body": first("Body") or "", "date_created": now, "date_updated": now, "date_sent": None,
            "direction": "outbound-api", "error_code": None, "error_message": None,
            "from": first("From"), "messaging_service_sid": first("MessagingServiceSid"),
            "num_media": str(len(record.media)), "num_segments": "1", "price": None, "price_unit": "USD",
            "status": "accepted" if first("MessagingServiceSid") else "queued",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "to": first("To"), "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
        }
        with self._lock:  # it exists now, whether or not the sender lives to read the answer
            self.messages.append({**body, "date_sent": now, "status": "sent", "_sent_day": time.strftime("%Y-%m-%d", time.gmtime())})
            self.in_flight += 1
        try:
            if self.delay_s:
                time.sleep(self.delay_s)
            self._reply(handler, 201, json.dumps(body).encode(), "application/json")
        finally:
            with self._lock:
                self.in_flight -= 1

    def _list(self, handler: BaseHTTPRequestHandler) -> None:
        """Twilio's Messages list: most recent first, filtered, one page of `PageSize` (50 by default)."""
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
        if failure is not None:  # `fail_next` fails the next request to the Messages resource, a list too
            return self._error(handler, failure.status, failure.code, failure.message)
        query = parse_qs(urlsplit(handler.path).query, keep_blank_values=True)
        one = lambda k: (query.get(k) or [None])[0]  # noqa: E731
        days = {k: one(k) for k in ("DateSent", "DateSent<", "DateSent>") if one(k) is not None}
        if any(not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v or "") for v in days.values()):
            return self._error(handler, 400, 20001, "DateSent must be a GMT date, YYYY-MM-DD")
        size = min(int(one("PageSize") or 50), 1000)
        page = int(one("Page") or 0)
        with self._lock:
            found = [m for m in reversed(self.messages)
                     if (one("To") is None or m["to"] == one("To")) and (one("From") is None or m["from"] == one("From"))
                     and ("DateSent" not in days or m["_sent_day"] == days["DateSent"])
                     and ("DateSent<" not in days or m["_sent_day"] <= days["DateSent<"])
                     and ("DateSent>" not in days or m["_sent_day"] >= days["DateSent>"])]
        items = [{k: v for k, v in m.items() if not k.startswith("_")} for m in found[page * size:(page + 1) * size]]
        base = f"/2010-04-01/Accounts/{self.account_sid}/Messages.json"

        def uri(n: int) -> str:
            return base + "?" + urlencode({**{k: v[0] for k, v in query.items() if k not in ("Page", "PageToken")},
                                           "PageSize": size, "Page": n})
        more = (page + 1) * size < len(found)
        body = {
            "messages": items, "uri": uri(page), "first_page_uri": uri(0), "page": page, "page_size": size,
            "next_page_uri": uri(page + 1) if more else None, "previous_page_uri": uri(page - 1) if page else None,
            "start": page * size, "end": page * size + max(len(items) - 1, 0),
        }
        self._reply(handler, 200, json.dumps(body).encode(), "application/json")


# Webhooks, signed as Twilio signs them ------------------------------------------------------


def fetch_media(url: str) -> Fetched:
    """Fetch a MediaUrl as Twilio does (HEAD, then GET; no credentials). Only local servers are
    tried: a test's public URL such as https://hub.example.org is recorded as unreachable."""
    import urllib.error
    import urllib.request

    host = (urlsplit(url).hostname or "").lower()
    if host not in ("127.0.0.1", "localhost", "::1"):
        return Fetched(url, None)
    got = Fetched(url, None)
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=10) as answer:
            got.head_status, got.head_length = answer.status, answer.headers.get("Content-Length", "")
    except urllib.error.HTTPError as exc:
        got.head_status = exc.code
    except OSError:
        return got
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            got.status, got.content = answer.status, answer.read()
            got.content_type = answer.headers.get("Content-Type", "")
            got.disposition = answer.headers.get("Content-Disposition", "")
    except urllib.error.HTTPError as exc:
        got.status = exc.code
    except OSError:
        pass
    return got


def sign(token: str, url: str, form: dict[str, str]) -> str:
    return RequestValidator(token).compute_signature(url, form)


def signed_headers(token: str, url: str, form: dict[str, str], **extra: str) -> dict[str, str]:
    return {"X-Twilio-Signature": sign(token, url, form), **extra}


def inbound_form(sid: str, body: str, number: str = "+34600111222", profile: str = "Anna", **extra: str) -> dict[str, str]:
    """An inbound WhatsApp webhook as Twilio sends it to a single sender."""
    form = {
        "SmsMessageSid": sid, "NumMedia": "0", "ProfileName": profile, "MessageType": "text",
        "SmsSid": sid, "WaId": number.lstrip("+"), "SmsStatus": "received", "Body": body,
        "To": WHATSAPP_FROM, "NumSegments": "1", "ReferralNumMedia": "0", "MessageSid": sid,
        "AccountSid": ACCOUNT_SID, "From": f"whatsapp:{number}", "ApiVersion": "2010-04-01",
    }
    form.update(extra)
    return form


def status_form(sid: str, status: str, error_code: str | None = None, **extra: str) -> dict[str, str]:
    form = {
        "MessageSid": sid, "SmsSid": sid, "MessageStatus": status, "SmsStatus": status,
        "AccountSid": ACCOUNT_SID, "From": WHATSAPP_FROM, "To": "whatsapp:+34600111222",
        "ApiVersion": "2010-04-01", "ChannelPrefix": "whatsapp", "ChannelInstallSid": "XE" + "0" * 32,
    }
    if error_code:
        form["ErrorCode"] = error_code
    form.update(extra)
    return form


def post_webhook(base_url: str, public_url: str, path: str, form: dict[str, str], token: str = AUTH_TOKEN,
                 timeout: float = 10.0) -> Any:
    """POST a signed webhook to a running hub (e.g. `hub run`), like Twilio does."""
    import httpx

    headers = signed_headers(token, public_url + path, form, **{"I-Twilio-Idempotency-Token": uuid.uuid4().hex})
    return httpx.post(base_url + path, data=form, headers=headers, timeout=timeout)
