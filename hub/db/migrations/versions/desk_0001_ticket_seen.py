"""desk: what each agent has seen of a consultation (the unread count, kept on the server)

Revision ID: desk_0001
Revises: files_0001
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

import hub.db.types

revision: str = 'desk_0001'
down_revision: Union[str, Sequence[str], None] = 'files_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _deferrable() -> dict[str, object]:
    # Foreign keys are DEFERRABLE INITIALLY IMMEDIATE on PostgreSQL (see core_0002).
    return {'deferrable': True, 'initially': 'IMMEDIATE'} if op.get_bind().dialect.name == "postgresql" else {}


def upgrade() -> None:
    op.create_table(
        'ticket_seen',
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('message_id', sa.BigInteger(), nullable=False),
        sa.Column('seen_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['agent_id'], ['agents.id'], **_deferrable()),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], **_deferrable()),
        sa.PrimaryKeyConstraint('agent_id', 'ticket_id'),
    )


def downgrade() -> None:
    op.drop_table('ticket_seen')
