"""Page helpers shared by every UI module: templates, flashes, redirects, the request's agent.

A page handler returns `page("area/name.html", request, key=value)`; the template extends
`base.html`. Templates find `request`, `agent` (the `CurrentAgent` or None), `settings`,
`sandbox`, `_()` and `csrf_input` without being passed them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from litestar import Request
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from agent_ui import i18n
from agent_ui.security import current_agent

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
FLASH_KEY = "flash"
# Our pages run no inline script; email HTML keeps its inline styles inside a sandboxed iframe.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "frame-src 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "content-security-policy": CSP, "x-content-type-options": "nosniff", "referrer-policy": "same-origin",
}


def _flashes(request: Request[Any, Any, Any]) -> list[dict[str, str]]:
    """Messages queued by `flash()`, emptied once shown."""
    session = request.scope.get("session")
    if not isinstance(session, dict) or not session.get(FLASH_KEY):
        return []
    items = list(session.pop(FLASH_KEY))
    return items


def _static_url(path: str) -> str:
    return f"/static/{path}"


def _vendor_available(name: str) -> bool:
    return (STATIC / "vendor" / name).exists()


def _has_role(request: Request[Any, Any, Any], *roles: str) -> bool:
    agent = current_agent(request)
    return agent is not None and agent.role in roles


def template_config(extra_dirs: list[Path], settings: Any, sandbox: bool = False) -> TemplateConfig[JinjaTemplateEngine]:
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(str(TEMPLATES))] + [FileSystemLoader(str(d)) for d in extra_dirs]),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True, lstrip_blocks=True,
    )
    i18n.install(env)
    env.globals.update(
        current_agent=current_agent, now_utc=lambda: datetime.now(UTC), flashes=_flashes, static=_static_url, vendor_available=_vendor_available,
        has_role=_has_role, language_names=i18n.LANGUAGE_NAMES, language_of=i18n.request_language,
        settings=settings, sandbox=sandbox,
    )
    from agent_ui import filters

    env.filters.update(filters.FILTERS)
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(env))


def page(template: str, request: Request[Any, Any, Any], status_code: int = 200, **context: Any) -> Template:
    """Render a full page (or a fragment) with the common context."""
    context.setdefault("agent", current_agent(request))
    context.setdefault("lang", i18n.request_language(request))
    return Template(template_name=template, context=context, status_code=status_code, headers=SECURITY_HEADERS)


def flash(request: Request[Any, Any, Any], message: str, level: str = "info", clears: str = "") -> None:
    """Show `message` on the next page this agent sees (levels: info, success, error). `clears`
    names a draft the page's script may now forget (the text it kept was sent)."""
    session = request.scope.get("session")
    if not isinstance(session, dict):
        return
    session.setdefault(FLASH_KEY, []).append({"message": message, "level": level, "clears": clears})
    request.set_session(session)


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go back to (never another site)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def back(request: Request[Any, Any, Any], target: str | None = None, default: str = "/") -> Redirect:
    """303 to `target` (a form's `next`), else the referring page of this site, else `default`."""
    if target is None:
        referer = request.headers.get("referer", "")
        parts = urlsplit(referer)
        if parts.netloc and parts.netloc == request.headers.get("host"):
            target = parts.path + (f"?{parts.query}" if parts.query else "")
    return Redirect(safe_next(target, default), status_code=303)


def wants_html(request: Request[Any, Any, Any]) -> bool:
    path = request.scope["path"]
    if path.startswith(("/api/", "/events")) or request.headers.get("x-hub-fragment"):
        return False
    return "text/html" in request.headers.get("accept", "") or request.method != "GET"
