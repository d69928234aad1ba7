"""statistics: monthly roll-ups (stats_monthly) and an index on stats_daily (metric, day)

Revision ID: stats_0002
Revises: privacy_0001
Create Date: 2026-11-28 11:25:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'stats_0002'
down_revision: Union[str, Sequence[str], None] = 'privacy_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BINS = 36


def upgrade() -> None:
    op.create_table(
        'stats_monthly',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('metric', sa.String(length=30), nullable=False),
        sa.Column('n', sa.Integer(), server_default='0', nullable=False),
        sa.Column('total', sa.BigInteger(), server_default='0', nullable=False),
        *[sa.Column(f'b{i:02d}', sa.Integer(), server_default='0', nullable=False) for i in range(BINS)],
        sa.PrimaryKeyConstraint('month', 'channel', 'agent_id', 'metric'),
    )
    op.create_index('ix_stats_daily_metric_day', 'stats_daily', ['metric', 'day'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_stats_daily_metric_day', table_name='stats_daily')
    op.drop_table('stats_monthly')
