"""core: the full-text vectors of messages and subjects stored with the row (PostgreSQL)

core_0004 indexed the expression `to_tsvector('simple', hub_unaccent(body))`. The index finds
the candidate rows, but PostgreSQL then computes the expression again for every one of them (a
bitmap heap scan rechecks the condition on the row; a walk down the newest messages filters
with it): at 5,000,000 messages a common word cost ~10,000 of those computations, most of a
search's time. The vector is now a stored generated column (`messages.body_search`,
`tickets.subject_search`), written once when the row is written, and the GIN indexes are on
the columns; the search (hub/search.py) compares with the column.

Adding a stored generated column rewrites the table under an exclusive lock: minutes for
millions of messages, during which the hub waits (run it in a quiet hour; `hub migrate`).

SQLite: nothing changes (FTS5 tables, core_0004).

Revision ID: core_0006
Revises: reports_0003
Create Date: 2026-12-04 15:40:00
"""
from typing import Sequence, Union

from alembic import op

revision: str = 'core_0006'
down_revision: Union[str, Sequence[str], None] = 'reports_0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# table -> (text column, stored vector column, old expression index, new index)
VECTORS = {
    "messages": ("body", "body_search", "ix_messages_body_fts", "ix_messages_body_search"),
    "tickets": ("subject", "subject_search", "ix_tickets_subject_fts", "ix_tickets_subject_search"),
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (text_column, vector, old_index, new_index) in VECTORS.items():
        op.execute(f"DROP INDEX IF EXISTS {old_index}")
        op.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {vector} tsvector "
                   f"GENERATED ALWAYS AS (to_tsvector('simple'::regconfig, hub_unaccent({text_column}))) STORED")
        op.execute(f"CREATE INDEX IF NOT EXISTS {new_index} ON {table} USING gin ({vector})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, (text_column, vector, old_index, new_index) in VECTORS.items():
        op.execute(f"DROP INDEX IF EXISTS {new_index}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS {vector}")
        op.execute(f"CREATE INDEX IF NOT EXISTS {old_index} ON {table} "
                   f"USING gin (to_tsvector('simple'::regconfig, hub_unaccent({text_column})))")
