"""Test databases: a migrated SQLite file per test, or a PostgreSQL database per test session.

Which backend the default fixtures use is chosen by `HUB_TEST_DATABASE` (`sqlite`, the
default, or `postgres`); tests that must run on both ask for `any_db_url` instead.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from hub.db.migrate import upgrade

_SQLITE_TEMPLATE: Path | None = None
_PG_DATABASES: dict[str, str] = {}


def backend() -> str:
    return os.environ.get("HUB_TEST_DATABASE", "sqlite")


def sqlite_url(directory: Path) -> str:
    """A fresh migrated SQLite database (copied from a template migrated once per session)."""
    global _SQLITE_TEMPLATE
    if _SQLITE_TEMPLATE is None:
        tmpl_dir = Path(os.environ.get("PYTEST_TMPL_DIR", "/tmp")) / f"hub-sqlite-template-{os.getpid()}"
        tmpl_dir.mkdir(parents=True, exist_ok=True)
        template = tmpl_dir / "template.sqlite3"
        if template.exists():
            template.unlink()
        upgrade(f"sqlite+aiosqlite:///{template}")
        _SQLITE_TEMPLATE = template
    target = directory / "hub.sqlite3"
    shutil.copyfile(_SQLITE_TEMPLATE, target)
    return f"sqlite+aiosqlite:///{target}"


def _admin_url(base: str) -> str:
    return base.rsplit("/", 1)[0] + "/postgres"


async def _exec_autocommit(url: str, sql: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def postgres_database(base_url: str, purpose: str = "main", revision: str = "head") -> str:
    """A PostgreSQL database migrated to `revision` for this test session (created once per
    purpose, dropped at exit)."""
    if purpose in _PG_DATABASES:
        return _PG_DATABASES[purpose]
    name = f"hub_test_{os.getpid()}_{purpose}_{uuid.uuid4().hex[:6]}"
    asyncio.run(_exec_autocommit(_admin_url(base_url), f'CREATE DATABASE "{name}"'))
    url = base_url.rsplit("/", 1)[0] + f"/{name}"
    upgrade(url, revision)
    _PG_DATABASES[purpose] = url
    return url


TABLES = [
    "audit_log", "options", "texts", "survey_responses", "inbox", "outbox", "events", "calls",
    "attachments", "messages", "tickets", "identities", "contacts", "api_tokens", "agents",
]


async def truncate_postgres(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            rows = await conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' AND tablename <> 'alembic_version'"
            ))
            names = ", ".join(f'"{r[0]}"' for r in rows)
            if names:
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


def drop_postgres_databases(base_url: str) -> None:
    for url in _PG_DATABASES.values():
        name = url.rsplit("/", 1)[1]
        try:
            asyncio.run(_exec_autocommit(_admin_url(base_url), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception:
            pass
    _PG_DATABASES.clear()
