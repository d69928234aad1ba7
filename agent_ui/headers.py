"""Security headers on every HTTP response (pages, API, errors, static files, webhooks).

An app-level `before_send` hook, so nothing answers without them. A header a handler set
itself is kept (e.g. the pages' own CSP from `agent_ui.web`). The one exception to the strict
CSP is the Swagger UI under `/schema`, whose renderer writes an inline bootstrap script; it
shows no citizen data.

- Content-Security-Policy: scripts only from our origin, no inline script, no framing.
- X-Frame-Options DENY (old browsers), X-Content-Type-Options nosniff, Referrer-Policy.
- Strict-Transport-Security when the hub's public URL is https (it is then behind TLS).
"""

from __future__ import annotations

from litestar.types import Message, Scope

from agent_ui.web import CSP
from hub.config import Settings

SCHEMA_CSP = CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
HSTS = "max-age=31536000; includeSubDomains"


def headers_for(settings: Settings) -> list[tuple[bytes, bytes]]:
    base = [
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"same-origin"),
        (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
    ]
    if settings.public_url.startswith("https://"):
        base.append((b"strict-transport-security", HSTS.encode()))
    return base


def security_headers(settings: Settings):  # type: ignore[no-untyped-def]
    """A `before_send` hook for `Litestar(before_send=[...])`: it sees every response the app
    sends, including 404s for unknown paths and errors raised in middleware."""
    fixed = headers_for(settings)

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start" or scope["type"] != "http":
            return
        headers = list(message.get("headers", []))
        present = {bytes(name).lower() for name, _ in headers}
        headers += [(k, v) for k, v in fixed if k not in present]
        if b"content-security-policy" not in present:
            csp = SCHEMA_CSP if scope["path"].startswith("/schema") else CSP
            headers.append((b"content-security-policy", csp.encode()))
        message["headers"] = headers

    return add_headers
