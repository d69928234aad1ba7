"""Path ids outside what the database can hold are answered 404, before any handler runs.

Row ids are 32-bit integers on PostgreSQL (64-bit on SQLite); a path such as
`/api/v1/tickets/99999999999999999999` would otherwise reach the database driver and fail with
an overflow (a 500). Found by tests/security/test_fuzz_api.py.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers.base import BaseRouteHandler

MAX_ID = 2**31 - 1


async def ids_in_range(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """App-wide guard: every integer path parameter must be a possible row id."""
    for name, value in (connection.scope.get("path_params") or {}).items():
        if isinstance(value, int) and not isinstance(value, bool) and not 0 <= value <= MAX_ID:
            raise NotFoundException(f"no such {name.removesuffix('_id') or 'item'}")
