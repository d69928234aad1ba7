"""reports: managers' weekly summary by email (the opt-in, and one row per manager and week)

Revision ID: reports_0001
Revises: core_0004
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision: str = 'reports_0001'
down_revision: Union[str, Sequence[str], None] = 'core_0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _pg() -> bool:
    # Foreign keys are DEFERRABLE INITIALLY IMMEDIATE on PostgreSQL (see core_0002).
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    with op.batch_alter_table('agents') as batch:
        batch.add_column(sa.Column('weekly_summary', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        'weekly_summaries',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('week', sa.Date(), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('claimed_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', hub.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['agent_id'], ['agents.id'],
                                **({'deferrable': True, 'initially': 'IMMEDIATE'} if _pg() else {})),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('week', 'agent_id', name='uq_weekly_summaries_week_agent'),
    )


def downgrade() -> None:
    op.drop_table('weekly_summaries')
    with op.batch_alter_table('agents') as batch:
        batch.drop_column('weekly_summary')
