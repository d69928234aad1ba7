"""statistics: today's roll-up built up to a watermark (stats_days.partial_until)

Revision ID: stats_0003
Revises: stats_0002
Create Date: 2026-11-28 11:35:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision: str = 'stats_0003'
down_revision: Union[str, Sequence[str], None] = 'stats_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('stats_days') as batch:
        batch.add_column(sa.Column('partial_until', hub.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('stats_days') as batch:
        batch.drop_column('partial_until')
