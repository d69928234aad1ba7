"""Migrations: one linear history whose result matches the tables in hub/db/tables.py."""

from __future__ import annotations

import asyncio
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

import hub.db.tables  # noqa: F401
from hub.db.engine import make_engine
from hub.db.migrate import current_heads


def test_there_is_exactly_one_head() -> None:
    assert len(current_heads("sqlite+aiosqlite:///unused.db")) == 1


def _fk_key(constraint: Any) -> tuple[Any, ...]:
    return (
        constraint.table.name, tuple(c.name for c in constraint.columns),
        constraint.referred_table.name, tuple(e.column.name for e in constraint.elements),
    )


# Expression indexes the models cannot declare for both backends: trigram indexes for the name
# search (migration core_0003, rebuilt on the unaccented name by core_0004) and full-text
# indexes on the stored vectors (core_0004, core_0006: generated columns the models leave out, so
# the ORM never reads or writes them), PostgreSQL only (tests below); SQLite's FTS5 tables and
# their shadow tables.
TRIGRAM_INDEXES = {"ix_contacts_name_search", "ix_contacts_hint_search"}
FULL_TEXT_INDEXES = {"ix_messages_body_search", "ix_tickets_subject_search"}
VECTOR_COLUMNS = {("messages", "body_search"), ("tickets", "subject_search")}
FTS5_TABLES = ("messages_fts", "tickets_fts", "contacts_fts")


def _search_structure(d: Any) -> bool:
    if d[0] == "remove_index" and d[1].name in TRIGRAM_INDEXES | FULL_TEXT_INDEXES:
        return True
    if d[0] == "remove_column" and (d[2], d[3].name) in VECTOR_COLUMNS:
        return True
    return d[0] == "remove_table" and d[1].name.startswith(FTS5_TABLES)


def _compare(conn: Any) -> list[Any]:
    ctx = MigrationContext.configure(conn, opts={"compare_type": True})
    diff = [d for d in compare_metadata(ctx, SQLModel.metadata) if not _search_structure(d)]
    if conn.dialect.name == "sqlite":
        # The one intended difference: foreign keys are DEFERRABLE on PostgreSQL only (migration
        # core_0002); SQLite keeps immediate ones. Such a key shows as removed and added again.
        removed = {_fk_key(d[1]) for d in diff if d[0] == "remove_fk"}
        added = {_fk_key(d[1]) for d in diff if d[0] == "add_fk" and d[1].deferrable}
        same = removed & added
        diff = [d for d in diff if not (d[0] in ("remove_fk", "add_fk") and _fk_key(d[1]) in same)]
    return diff


async def test_migrated_database_matches_the_models(any_db_url: str) -> None:
    engine = make_engine(any_db_url)
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(_compare)
    finally:
        await engine.dispose()
    assert diff == []


async def test_contacts_have_trigram_indexes_for_the_name_search_on_postgresql(any_db_url: str) -> None:
    from sqlalchemy import text

    if not any_db_url.startswith("postgresql"):
        return  # SQLite: the search scans the contacts (no trigram indexes there)
    engine = make_engine(any_db_url)
    try:
        async with engine.connect() as conn:
            found = set((await conn.execute(text(
                "SELECT indexname FROM pg_indexes WHERE tablename = 'contacts' AND indexdef LIKE '%gin_trgm_ops%'"
            ))).scalars())
            await conn.execute(text("SET enable_seqscan = off"))  # a test database is tiny: ask what it could use
            plan = "\n".join((await conn.execute(text(
                "EXPLAIN SELECT id FROM contacts WHERE hub_unaccent(name) LIKE '%anna serra%' "
                "OR hub_unaccent(display_hint) LIKE '%anna serra%'"
            ))).scalars())
    finally:
        await engine.dispose()
    assert found == TRIGRAM_INDEXES
    assert "ix_contacts_name_search" in plan and "ix_contacts_hint_search" in plan, plan  # the search's own shape


async def test_messages_and_subjects_have_full_text_indexes_the_search_uses(any_db_url: str) -> None:
    from sqlalchemy import text

    from hub.db.tables import Message, Ticket
    from hub.search import _ts_match

    engine = make_engine(any_db_url)
    try:
        async with engine.connect() as conn:
            if not any_db_url.startswith("postgresql"):
                tables = set((await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))).scalars())
                assert set(FTS5_TABLES) <= tables
                return
            await conn.execute(text("SET enable_seqscan = off"))
            for column, index in ((Message.body, "ix_messages_body_search"), (Ticket.subject, "ix_tickets_subject_search")):
                from sqlalchemy import select

                stmt = select(column).where(_ts_match(column, ["padro"]))
                compiled = stmt.compile(conn.sync_connection, compile_kwargs={"literal_binds": True})
                plan = "\n".join((await conn.execute(text(f"EXPLAIN {compiled}"))).scalars())
                assert index in plan, plan
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_managers_texts_follow_their_keys_renamed_after_the_rule(backend: str, tmp_path: Path) -> None:
    # core_0007: an override stored under a WhatsApp-named key is still the office's text after
    # the upgrade (under the rule's key), and goes back under the old key on a downgrade.
    from sqlalchemy import text

    from hub.db.migrate import downgrade, upgrade
    from hub.texts import DEFAULTS, RENAMED_KEYS
    from tests.support import databases, services

    if backend == "postgres":
        url = databases.postgres_database(services.require_postgres(), "text_keys", revision="reports_0004")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'old.sqlite3'}"
        upgrade(url, "reports_0004")
    stored = {**{old: f"Custom {old}" for old in RENAMED_KEYS}, "survey.invitation": "Custom survey {url}"}

    async def rows(sql: str, **values: object) -> set[tuple[str, str, str]]:
        engine = make_engine(url)
        try:
            async with engine.begin() as conn:
                result = await conn.execute(text(sql), values)
                return {tuple(r) for r in result} if result.returns_rows else set()  # type: ignore[misc]
        finally:
            await engine.dispose()

    for key, body in stored.items():
        for language in ("ca", "es"):
            asyncio.run(rows('INSERT INTO texts ("key", language, body, updated_at) VALUES (:k, :l, :b, :t)',
                             k=key, l=language, b=f"{body} {language}", t=datetime(2026, 12, 1)))
    upgrade(url)
    after = asyncio.run(rows('SELECT "key", language, body FROM texts'))
    assert after == {(RENAMED_KEYS.get(k, k), lang, f"{b} {lang}") for k, b in stored.items() for lang in ("ca", "es")}
    assert {k for k, _, _ in after} <= set(DEFAULTS)  # every stored key is one the code sends
    downgrade(url, "reports_0004")
    assert asyncio.run(rows('SELECT "key", language, body FROM texts')) == {
        (k, lang, f"{b} {lang}") for k, b in stored.items() for lang in ("ca", "es")}
