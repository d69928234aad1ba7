"""core: the identifying lane reads its first rows off a small index of its own

The queue's identifying lane (WhatsApp consultations whose citizen has not said who they are)
is ordered by arrival; with no index in that order every look at the queue read and sorted all
of them (0.6 ms of PostgreSQL per look at 834 such tickets). A partial index holds only those
tickets, so it costs nothing to the others' writes.

Revision ID: core_0009
Revises: core_0008
Create Date: 2026-12-04 23:40:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'core_0009'
down_revision: Union[str, Sequence[str], None] = 'core_0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

IDENTIFYING = sa.text("status = 'identifying'")


def upgrade() -> None:
    op.create_index('ix_tickets_identifying', 'tickets', ['created_at', 'id'],
                    postgresql_where=IDENTIFYING, sqlite_where=IDENTIFYING)


def downgrade() -> None:
    op.drop_index('ix_tickets_identifying', table_name='tickets')
