"""core: full-text search over every consultation (subject, messages and notes, names)

PostgreSQL: `hub_unaccent(text)`, an IMMUTABLE wrapper of the `unaccent` extension (contrib, a
trusted extension) so that expression indexes can use it; GIN indexes on
`to_tsvector('simple', hub_unaccent(...))` of `messages.body` and `tickets.subject`; the
contacts' trigram indexes of core_0003 are rebuilt on the unaccented, lower-cased name, so
"nuria" finds "Núria". Where `unaccent` is missing the wrapper only lower-cases (search works,
accents then matter) and the migration says so.

SQLite: FTS5 tables with external content (`messages_fts`, `tickets_fts`, `contacts_fts`)
kept in step by triggers; the `unicode61` tokenizer folds case and removes diacritics.

The shape of the queries that use them is in `hub/search.py`.

Revision ID: core_0004
Revises: accounts_0001
Create Date: 2026-12-02 21:10:00
"""
import logging
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'core_0004'
down_revision: Union[str, Sequence[str], None] = 'accounts_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

log = logging.getLogger("alembic.runtime.migration")

OLD_TRIGRAMS = {"ix_contacts_name_trgm": "name", "ix_contacts_hint_trgm": "display_hint"}
TRIGRAMS = {"ix_contacts_name_search": "name", "ix_contacts_hint_search": "display_hint"}
PG_FTS = {"ix_messages_body_fts": ("messages", "body"), "ix_tickets_subject_fts": ("tickets", "subject")}

_UNACCENT = """
CREATE OR REPLACE FUNCTION hub_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$
"""
_LOWER_ONLY = """
CREATE OR REPLACE FUNCTION hub_unaccent(text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
AS $$ SELECT lower($1) $$
"""

# SQLite: table -> (indexed columns, the columns whose change must update the index).
SQLITE_FTS = {
    "messages": ("body",),
    "tickets": ("subject",),
    "contacts": ("name", "display_hint"),
}


def _try(bind: sa.Connection, sql: str) -> str | None:
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text(sql))
        savepoint.commit()
        return None
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        return str(exc.orig).splitlines()[0]


def _upgrade_postgresql(bind: sa.Connection) -> None:
    problem = _try(bind, "CREATE EXTENSION IF NOT EXISTS unaccent")
    if problem:
        log.warning("unaccent is not available (%s): the search will not ignore accents", problem)
        op.execute(_LOWER_ONLY)
    else:
        op.execute(_UNACCENT)
    for name, (table, column) in PG_FTS.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} "
                   f"USING gin (to_tsvector('simple'::regconfig, hub_unaccent({column})))")
    has_trgm = bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first()
    if has_trgm:
        for name in OLD_TRIGRAMS:
            op.execute(f"DROP INDEX IF EXISTS {name}")
        for name, column in TRIGRAMS.items():
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON contacts USING gin (hub_unaccent({column}) gin_trgm_ops)")


def _upgrade_sqlite() -> None:
    for table, columns in SQLITE_FTS.items():
        fts = f"{table}_fts"
        cols = ", ".join(columns)
        new = ", ".join(f"new.{c}" for c in columns)
        old = ", ".join(f"old.{c}" for c in columns)
        op.execute(f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content='{table}', content_rowid='id', "
                   "tokenize='unicode61 remove_diacritics 2')")
        op.execute(f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
                   f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END")
        op.execute(f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
                   f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); END")
        # Only a change of an indexed column touches the index (tickets change often, subjects not).
        op.execute(f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {table} BEGIN "
                   f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.id, {old}); "
                   f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.id, {new}); END")
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        _upgrade_postgresql(bind)
    else:
        _upgrade_sqlite()


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for name in (*PG_FTS, *TRIGRAMS):
            op.execute(f"DROP INDEX IF EXISTS {name}")
        if bind.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).first():
            for name, column in OLD_TRIGRAMS.items():
                op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON contacts USING gin (lower({column}) gin_trgm_ops)")
        op.execute("DROP FUNCTION IF EXISTS hub_unaccent(text)")
        return
    for table in SQLITE_FTS:
        for suffix in ("ai", "ad", "au"):
            op.execute(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}")
        op.execute(f"DROP TABLE IF EXISTS {table}_fts")
