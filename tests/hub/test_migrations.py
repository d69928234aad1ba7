"""Migrations: one linear history whose result matches the tables in hub/db/tables.py."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import hub.db.tables  # noqa: F401
from hub.db.engine import make_engine
from hub.db.migrate import current_heads


def test_there_is_exactly_one_head() -> None:
    assert len(current_heads("sqlite+aiosqlite:///unused.db")) == 1


def _compare(conn: Any) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(ctx, SQLModel.metadata))


async def test_migrated_database_matches_the_models(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_compare)
    finally:
        await engine.dispose()
    assert diff == []
