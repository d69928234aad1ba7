"""`column` is one of a list of values, written so that PostgreSQL prepares it once.

`column.in_(values)` renders `IN ($1, $2, ...)`, one placeholder per value: each list length
is another statement to PostgreSQL, prepared anew (asyncpg keeps a hundred per connection, and
a worker's batches come in every length from 1 to 100, so most are prepared every time). There
`= ANY($1)` with one array parameter is one statement whatever the length. SQLite has no
arrays: it keeps `IN`.

For plain lookups on an index only. One statement means one generic plan per connection, made
with the table as it was then: a join or anti-join planned while a table was nearly empty can
stay slow as the table grows (no ANALYZE yet). The inbox claim (`hub.actions.claim`) is written
as one index probe per element (LATERAL subqueries, LIMIT 1) for that reason: as an anti-join, a
14,000-row backlog took 30-40 s per claim.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import any_, bindparam
from sqlalchemy.dialects import postgresql


def among(dialect: str, column: Any, values: Iterable[Any]) -> Any:
    """`column` equals one of `values` (`dialect`: the engine's, e.g. `ctx.engine.dialect.name`)."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=postgresql.ARRAY(column.type)))
    return column.in_(list(values))
