"""core: trigram indexes for finding a citizen by part of a name (PostgreSQL, pg_trgm)

The agents' search (`hub.views._search`) matches `lower(name) LIKE '%text%'` and the same on
`display_hint`; without these indexes that is a scan of every contact. pg_trgm ships with
PostgreSQL (contrib) and is a trusted extension (a database owner may create it). Where it is
not available the migration says so and goes on: search still works, as a scan.

Revision ID: core_0003
Revises: core_0002
Create Date: 2026-11-28 15:55:00
"""
import logging
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'core_0003'
down_revision: Union[str, Sequence[str], None] = 'core_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

log = logging.getLogger("alembic.runtime.migration")
INDEXES = {"ix_contacts_name_trgm": "name", "ix_contacts_hint_trgm": "display_hint"}


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    savepoint = bind.begin_nested()
    try:
        bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
        savepoint.commit()
    except sa.exc.DBAPIError as exc:
        savepoint.rollback()
        log.warning("pg_trgm is not available (%s): searching contacts by name stays a table scan",
                    str(exc.orig).splitlines()[0])
        return
    for name, column in INDEXES.items():
        op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON contacts USING gin (lower({column}) gin_trgm_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name in INDEXES:
        op.execute(f"DROP INDEX IF EXISTS {name}")
