"""What every Twilio webhook shares: the signing secret, the URL Twilio called, the check.

`X-Twilio-Signature` is checked with twilio's `RequestValidator` against HUB_PUBLIC_URL plus
the path and query exactly as received, so it works behind a reverse proxy. Without Twilio
credentials (sandbox mode) the secret is derived from the installation's key, so the citizen
simulator can sign its webhooks and nothing else can.
"""

from __future__ import annotations

import hashlib
import hmac

from litestar import Request
from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator, get_signature_algorithm

from hub.config import Settings, require_secret_key

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


def sandbox_token(settings: Settings) -> str:
    """The signing secret in sandbox mode: stable per installation, never a real credential.

    Derived from the installation's secret key, which must have been resolved (never a constant
    from the source: anyone could sign with it).
    """
    return hmac.new(require_secret_key(settings), b"twilio-sandbox-webhooks", hashlib.sha256).hexdigest()


def signing_token(settings: Settings) -> str:
    return settings.twilio_auth_token or sandbox_token(settings)


def public_url_of(request: Request, settings: Settings) -> str:
    """The URL Twilio called: the public base, then the path and query exactly as received."""
    raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
    path = raw_path.decode("latin-1") if isinstance(raw_path, bytes) else str(raw_path)
    path = path.split("?", 1)[0]  # ASGI's raw_path has no query, but some servers include it
    query = request.scope.get("query_string", b"").decode("latin-1")
    return settings.public_url + path + (f"?{query}" if query else "")


class SignatureChecker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.validator = RequestValidator(signing_token(settings))

    def valid(self, request: Request, form: object) -> bool:
        signature = request.headers.get("x-twilio-signature", "")
        if not signature:
            return False
        url = public_url_of(request, self.settings)
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER.lower(), ""))
        # The URL as configured is what Twilio signs in practice: one HMAC. Only when that
        # fails let twilio's validate() also try the with/without-default-port variants.
        try:
            if hmac.compare_digest(self.validator.compute_signature(url, form, algorithm), signature):
                return True
        except ValueError:  # an algorithm this SDK does not know
            return False
        return bool(self.validator.validate(url, form, signature, algorithm))
