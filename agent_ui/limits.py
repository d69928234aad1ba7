"""Path ids outside what the database can hold are answered 404, before any handler runs.

Query values with a NUL character are a 400 there too: PostgreSQL cannot store or compare them
(found by tests/integration/security/test_fuzz_api.py on PostgreSQL).

Row ids are 32-bit integers on PostgreSQL (64-bit on SQLite); a path such as
`/api/v1/tickets/99999999999999999999` would otherwise reach the database driver and fail with
an overflow (a 500). Found by tests/integration/security/test_fuzz_api.py.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import QueryParameter

MAX_ID = 2**31 - 1
# A row id in a query or a body: out-of-range values are a 400, never an overflow in the driver.
Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, QueryParameter(ge=1, le=MAX_ID)]  # (msgspec.Meta is not applied to queries)


def parse_id(text: str) -> int | None:
    """A row id typed in a form, or None (`²` is a digit to `str.isdigit`, but not to `int`)."""
    text = text.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


async def ids_in_range(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """App-wide guard: every integer path parameter must be a possible row id."""
    for name, value in (connection.scope.get("path_params") or {}).items():
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_ID:
            raise NotFoundException(f"no such {name.removesuffix('_id') or 'item'}")
    if b"%00" in connection.scope.get("query_string", b"") or any(
        "\x00" in v for _, v in connection.query_params.multi_items()
    ):
        raise ValidationException("query values must not contain NUL characters")
