"""What every Twilio webhook shares: the signing secret, the URL Twilio called, the check.

`X-Twilio-Signature` is checked with twilio's `RequestValidator` against HUB_PUBLIC_URL plus
the path and query exactly as received, so it works behind a reverse proxy. The body is read
before anything else looks at it, and refused early: only a url-encoded form (415 otherwise), at
most 64 KB (413; Twilio's largest callbacks are a few KB) and 200 fields, parsed once. Without Twilio
credentials (sandbox mode) the secret is derived from the installation's key, so the citizen
simulator can sign its webhooks and nothing else can.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import unquote, urlparse

from litestar import Request, Response
from litestar.datastructures import FormMultiDict
from twilio.request_validator import (
    SIGNATURE_SETTINGS_HEADER, RequestValidator, add_port, get_signature_algorithm, remove_port,
)

from hub.config import Settings, require_secret_key

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'
MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 200


class FormRefused(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def refusal(status: int, reason: str) -> Response[str]:
    return Response(reason, status_code=status, media_type="text/plain")


async def read_form(request: Request) -> FormMultiDict:
    """The webhook's form, or `FormRefused` before a big or odd body costs anything."""
    content_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise FormRefused(415, "expected an application/x-www-form-urlencoded form")
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
        raise FormRefused(413, f"the form is larger than {MAX_BODY_BYTES // 1024} KB")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise FormRefused(413, f"the form is larger than {MAX_BODY_BYTES // 1024} KB")
    if body.count(b"&") >= MAX_FIELDS:
        raise FormRefused(413, f"the form has more than {MAX_FIELDS} fields")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise FormRefused(400, "the form is not valid UTF-8 url-encoded data") from None
    return FormMultiDict(form_pairs(text))


def form_pairs(text: str) -> list[tuple[str, str]]:
    """`urllib.parse.parse_qsl(text, keep_blank_values=True)`, exactly, in half its time.

    Every webhook pays for this; its values are mostly plain, so a piece is unquoted only when
    it holds a `+` or a `%` (the same decoding as parse_qsl's: UTF-8, bad escapes replaced)."""
    pairs = []
    for piece in text.split("&"):
        if not piece:
            continue
        name, _, value = piece.partition("=")
        if "+" in name:
            name = name.replace("+", " ")
        if "%" in name:
            name = unquote(name)
        if "+" in value:
            value = value.replace("+", " ")
        if "%" in value:
            value = unquote(value)
        pairs.append((name, value))
    return pairs


def sandbox_token(settings: Settings) -> str:
    """The signing secret in sandbox mode: stable per installation, never a real credential.

    Derived from the installation's secret key, which must have been resolved (never a constant
    from the source: anyone could sign with it).
    """
    return hmac.new(require_secret_key(settings), b"twilio-sandbox-webhooks", hashlib.sha256).hexdigest()


def signing_token(settings: Settings, auth_token: str) -> str:
    """The account's auth token (`HUB_TWILIO_AUTH_TOKEN`), or the sandbox's secret without one."""
    return auth_token or sandbox_token(settings)


def public_url_of(request: Request, settings: Settings) -> str:
    """The URL Twilio called: the public base, then the path and query exactly as received."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path)
    path = path.split("?", 1)[0]  # ASGI's raw_path has no query, but some servers include it
    query = request.scope.get("query_string", b"").decode("latin-1")
    return settings.public_url + path + (f"?{query}" if query else "")


class SignatureChecker:
    def __init__(self, settings: Settings, auth_token: str) -> None:
        self.settings = settings
        self.validator = RequestValidator(signing_token(settings, auth_token))

    async def signed_form(self, request: Request) -> FormMultiDict | Response[str]:
        """The form of a genuine Twilio request, or the answer refusing it (413, 415, 400, 403)."""
        signature = request.headers.get("x-twilio-signature", "")
        if not signature:
            return refusal(403, "invalid Twilio signature")
        try:
            form = await read_form(request)
        except FormRefused as exc:
            return refusal(exc.status, str(exc))
        if not self.valid(request, form, signature):
            return refusal(403, "invalid Twilio signature")
        return form

    def valid(self, request: Request, form: object, signature: str | None = None) -> bool:
        signature = request.headers.get("x-twilio-signature", "") if signature is None else signature
        if not signature:
            return False
        url = public_url_of(request, self.settings)
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER.lower(), ""))
        # The URL as configured is what Twilio signs in practice: one HMAC over the (capped) form.
        # Only when that fails, one more for the other default-port spelling of the same URL.
        try:
            if hmac.compare_digest(self.validator.compute_signature(url, form, algorithm), signature):
                return True
            parsed = urlparse(url)
            other = add_port(parsed) if parsed.port is None else remove_port(parsed)
            return other != url and hmac.compare_digest(
                self.validator.compute_signature(other, form, algorithm), signature)
        except ValueError:  # an algorithm this SDK does not know
            return False
