"""reports: monthly roll-ups per topic (stats_monthly_topic) and an index on stats_daily_topic
(topic_id, metric, day), so the key figures, comparison and exports filtered by topic read one
topic's rows; the monthly rows are filled from the daily ones already built

Revision ID: reports_0003
Revises: attachments_0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'reports_0003'
down_revision: Union[str, Sequence[str], None] = 'attachments_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

BINS = 36
SUMS = ", ".join(["n", "total", *[f"b{i:02d}" for i in range(BINS)]])


def upgrade() -> None:
    op.create_table(
        'stats_monthly_topic',
        sa.Column('month', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=20), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('metric', sa.String(length=30), nullable=False),
        sa.Column('n', sa.Integer(), server_default='0', nullable=False),
        sa.Column('total', sa.BigInteger(), server_default='0', nullable=False),
        *[sa.Column(f'b{i:02d}', sa.Integer(), server_default='0', nullable=False) for i in range(BINS)],
        sa.Column('topic_id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('month', 'channel', 'agent_id', 'metric', 'topic_id'),
    )
    op.create_index('ix_stats_daily_topic_topic_metric_day', 'stats_daily_topic', ['topic_id', 'metric', 'day'],
                    unique=False)
    # The months of the days rolled up so far (hub.rollups.refresh_month keeps them from now on).
    if op.get_bind().dialect.name == "postgresql":
        month = "CAST(date_trunc('month', day) AS date)"
    else:
        month = "date(day, 'start of month')"
    sums = ", ".join(f"sum({c})" for c in SUMS.split(", "))
    op.execute(
        f"INSERT INTO stats_monthly_topic (month, channel, agent_id, metric, topic_id, {SUMS}) "
        f"SELECT {month}, channel, agent_id, metric, topic_id, {sums} FROM stats_daily_topic "
        f"GROUP BY {month}, channel, agent_id, metric, topic_id"
    )


def downgrade() -> None:
    op.drop_index('ix_stats_daily_topic_topic_metric_day', table_name='stats_daily_topic')
    op.drop_table('stats_monthly_topic')
