"""reports: daily and monthly statistics roll-ups per WhatsApp entry point (stats_daily_entry_point,
stats_monthly_entry_point), so the By-entry-point table reads roll-up rows like By topic

Days rolled up before this revision have no entry point rows until rebuilt: `hub stats rebuild
--entry-points` fills them (only the consultations that came through an entry point are read).

Revision ID: reports_0004
Revises: core_0006
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'reports_0004'
down_revision: Union[str, Sequence[str], None] = 'core_0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BINS = 36


def _table(name: str, period: str) -> None:
    op.create_table(
        name,
        sa.Column(period, sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('metric', sa.String(length=30), nullable=False),
        sa.Column('n', sa.Integer(), server_default='0', nullable=False),
        sa.Column('total', sa.BigInteger(), server_default='0', nullable=False),
        *[sa.Column(f'b{i:02d}', sa.Integer(), server_default='0', nullable=False) for i in range(BINS)],
        sa.Column('entry_point_id', sa.Integer(), nullable=False),
        sa.Column('topic_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(period, 'channel', 'agent_id', 'metric', 'entry_point_id', 'topic_id'),
    )


def upgrade() -> None:
    _table('stats_daily_entry_point', 'day')
    _table('stats_monthly_entry_point', 'month')


def downgrade() -> None:
    op.drop_table('stats_monthly_entry_point')
    op.drop_table('stats_daily_entry_point')
