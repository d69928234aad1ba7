"""Errors become the right answer: JSON with a status on the API, a page or a redirect for browsers.

Domain errors (`hub.actions.errors`) map to 404/409/422; authentication to 401 (pages redirect
to the login form), permissions and CSRF to 403.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect

from hub.actions.errors import Conflict, DomainError, Forbidden, Invalid, NotFound, WeakPassword

_STATUS = {NotFound: 404, Conflict: 409, Invalid: 422, Forbidden: 403}
log = logging.getLogger("hub.errors")


def _json(status: int, detail: str) -> Response[dict[str, object]]:
    return Response({"status_code": status, "detail": detail}, status_code=status)


def domain_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    from agent_ui.web import wants_html

    if isinstance(exc, WeakPassword):  # the reason, in the agent's language
        from agent_ui.account import weak_password_response

        return weak_password_response(request, exc)
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    if request.method == "GET" and _browser(request) and request.scope.get("user") is not None:
        return _error_page(request, status, localised(request, exc))  # a page, never raw JSON
    return _json(status, localised(request, exc))


# What a core error means, for languages its English sentence is not written in.
_GENERIC = (
    (NotFound, "What you asked for does not exist (any more)."),
    (Forbidden, "You may not do this."),
    (Conflict, "This cannot be done in the consultation's current state (someone may have changed it): "
               "reload the page and try again."),
    (Invalid, "Something entered is not valid: check the fields and try again."),
)


def localised(request: Request[Any, Any, Any], exc: Exception) -> str:
    """A domain error's sentence in the agent's language: translated where it carries a template
    (`Refused`); otherwise the core's English sentence on English pages and, on Catalan and
    Spanish ones, what that kind of error means (never English on a ca/es page)."""
    from agent_ui.i18n import request_language, translate
    from hub.actions.errors import Refused, RefusedConflict

    if isinstance(exc, (Refused, RefusedConflict)):
        return translate(request, exc.template, **exc.values)
    if request_language(request) == "en":
        return str(exc)
    generic = next((text for cls, text in _GENERIC if isinstance(exc, cls)), None)
    return translate(request, generic or "That did not work: reload the page and try again.")


def _browser(request: Request[Any, Any, Any]) -> bool:
    """A page is wanted: `wants_html`, or a browser opening an API address itself (a GET asking
    for HTML and not for JSON; the pages' own scripts ask for JSON or a fragment)."""
    from agent_ui.web import wants_html

    if wants_html(request):
        return True
    accept = request.headers.get("accept", "")
    return (request.method == "GET" and request.scope["path"].startswith("/api/") and "text/html" in accept
            and "json" not in accept and not request.headers.get("x-hub-fragment"))


def _error_page(request: Request[Any, Any, Any], status: int, detail: str) -> Response[Any]:
    from agent_ui.web import page

    return page("error.html", request, status_code=status, status=status, detail=detail)  # type: ignore[return-value]


def not_authorized_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    from agent_ui.web import wants_html

    if wants_html(request):
        target = request.scope["path"] if request.method == "GET" else "/"
        query = request.scope.get("query_string", b"").decode("latin-1")
        if query and request.method == "GET":
            target += "?" + query
        return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)
    detail = exc.detail if isinstance(exc, HTTPException) else "log in first"
    response = _json(401, detail)
    response.headers["www-authenticate"] = 'Bearer realm="hub"'
    return response


def permission_denied_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    from agent_ui.web import wants_html

    from agent_ui.security import EnrolFirst

    detail = exc.detail if isinstance(exc, HTTPException) else "forbidden"
    if isinstance(exc, EnrolFirst) and wants_html(request):
        return Redirect("/account/two-factor", status_code=303)
    if wants_html(request) or (_browser(request) and request.scope.get("user") is not None):
        return _error_page(request, 403, "")
    return _json(403, detail)


def not_found_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    detail = exc.detail if isinstance(exc, HTTPException) else "not found"
    if _browser(request) and request.scope.get("user") is not None:
        return _error_page(request, 404, "")
    if _browser(request) and request.scope.get("route_handler") is None:
        return _UnknownAddressPage()  # no route took it: no middleware ran to say who is asking
    return _json(404, detail)


class _UnknownAddressPage(Response[Any]):
    """The 404 page for an address no route takes. No middleware ran (they belong to routes), so
    the session is read when the answer is sent (asynchronously), and the page is in the
    signed-in agent's language, with their menu; a visitor gets it in the browser's language."""

    def __init__(self) -> None:
        super().__init__(content=None, status_code=404)

    def to_asgi_response(self, app: Any = None, request: Any = None, **kwargs: Any) -> Any:  # type: ignore[override]
        async def send_page(scope: Any, receive: Any, send: Any) -> None:
            from agent_ui.security import CurrentAgent, signed_in_agent

            agent = await signed_in_agent(request)
            if agent is not None:
                scope["user"] = CurrentAgent.of(agent)
            page = _error_page(request, 404, "")
            await page.to_asgi_response(app, request, **kwargs)(scope, receive, send)  # type: ignore[attr-defined]

        return send_page


def server_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Any unexpected error: logged with the request id (bound by the web middleware), which the
    answer carries too, so a user's report can be found in the logs. No detail leaks."""
    from runtime.logs import request_id

    rid = request_id.get()
    log.error("server error on %s %s (request %s)", request.method, request.url.path, rid, exc_info=exc)
    body: dict[str, object] = {"status_code": 500, "detail": "Internal Server Error", "request_id": rid}
    return Response(body, status_code=500)


EXCEPTION_HANDLERS: dict[type[Exception] | int, object] = {
    500: server_error_handler,
    DomainError: domain_error_handler,
    NotAuthorizedException: not_authorized_handler,
    PermissionDeniedException: permission_denied_handler,
    NotFoundException: not_found_handler,
}
__all__ = ["EXCEPTION_HANDLERS", "HTTPException"]
