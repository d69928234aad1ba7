"""core: foreign keys DEFERRABLE INITIALLY IMMEDIATE on PostgreSQL, for bulk writes in one transaction

SQLite is left as it is: it cannot alter a constraint, and the hub never defers there (rows
get their ids by flushing, parents first; see UnitOfWork.assign_id).

Revision ID: core_0002
Revises: stats_0003
Create Date: 2026-11-28 14:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'core_0002'
down_revision: Union[str, Sequence[str], None] = 'stats_0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _set(clause: str) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    rows = bind.execute(sa.text(
        "SELECT conrelid::regclass::text, conname FROM pg_constraint "
        "WHERE contype = 'f' AND connamespace = current_schema()::regnamespace ORDER BY 1, 2"
    )).all()
    for table, name in rows:
        op.execute(f'ALTER TABLE {table} ALTER CONSTRAINT "{name}" {clause}')


def upgrade() -> None:
    _set("DEFERRABLE INITIALLY IMMEDIATE")


def downgrade() -> None:
    _set("NOT DEFERRABLE")
