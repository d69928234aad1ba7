"""The hub's cookies by their base name, whatever the prefix: `__Host-hub_session` and
`__Host-hub_csrf` when the hub is served over https (`HUB_PUBLIC_URL`), `hub_session` and
`hub_csrf` over plain http (agent_ui.security.cookie_name)."""

from __future__ import annotations

from typing import Any

SESSION = "hub_session"
CSRF = "hub_csrf"


def cookie(client: Any, base: str) -> str:
    """The value of the hub cookie `base` held by an httpx (or Litestar test) client, or ''."""
    return client.cookies.get(f"__Host-{base}") or client.cookies.get(base) or ""


def csrf_token(client: Any) -> str:
    return cookie(client, CSRF)


def session_cookie(client: Any) -> str:
    return cookie(client, SESSION)
