"""statistics roll-ups: stats_daily, stats_days; index on survey answers

Revision ID: stats_0001
Revises: email_0001
Create Date: 2026-11-28 11:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision: str = 'stats_0001'
down_revision: Union[str, Sequence[str], None] = 'email_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BINS = 36


def upgrade() -> None:
    op.create_table(
        'stats_daily',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('metric', sa.String(length=30), nullable=False),
        sa.Column('n', sa.Integer(), server_default='0', nullable=False),
        sa.Column('total', sa.BigInteger(), server_default='0', nullable=False),
        *[sa.Column(f'b{i:02d}', sa.Integer(), server_default='0', nullable=False) for i in range(BINS)],
        sa.PrimaryKeyConstraint('day', 'channel', 'agent_id', 'metric'),
    )
    op.create_table(
        'stats_days',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('built_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('day'),
    )
    op.create_index('ix_survey_responses_answered', 'survey_responses', ['answered_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_survey_responses_answered', table_name='survey_responses')
    op.drop_table('stats_days')
    op.drop_table('stats_daily')
