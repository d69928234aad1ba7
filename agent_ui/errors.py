"""Domain errors become JSON answers with the right status; the message is the domain's."""

from __future__ import annotations

from litestar import Request, Response
from litestar.exceptions import HTTPException

from hub.actions.errors import Conflict, DomainError, Invalid, NotFound

_STATUS = {NotFound: 404, Conflict: 409, Invalid: 422}


def domain_error_handler(_: Request, exc: Exception) -> Response[dict[str, object]]:
    status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 400)
    return Response({"status_code": status, "detail": str(exc)}, status_code=status)


EXCEPTION_HANDLERS: dict[type[Exception], object] = {DomainError: domain_error_handler}
__all__ = ["EXCEPTION_HANDLERS", "HTTPException"]
