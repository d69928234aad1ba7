"""reports: daily statistics roll-ups per topic (stats_daily_topic), for trends by topic

Days rolled up before this revision have no topic rows until rebuilt: `hub stats rebuild`.

Revision ID: reports_0002
Revises: answers_0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'reports_0002'
down_revision: Union[str, Sequence[str], None] = 'answers_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BINS = 36


def upgrade() -> None:
    op.create_table(
        'stats_daily_topic',
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('metric', sa.String(length=30), nullable=False),
        sa.Column('n', sa.Integer(), server_default='0', nullable=False),
        sa.Column('total', sa.BigInteger(), server_default='0', nullable=False),
        *[sa.Column(f'b{i:02d}', sa.Integer(), server_default='0', nullable=False) for i in range(BINS)],
        sa.Column('topic_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('day', 'channel', 'agent_id', 'metric', 'topic_id'),
    )


def downgrade() -> None:
    op.drop_table('stats_daily_topic')
