"""answers: WhatsApp entry points (click-to-chat links for the city's web pages) and the entry
point each consultation came through

Revision ID: answers_0002
Revises: desk_0001
Create Date: 2026-12-03 08:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db.types

revision: str = 'answers_0002'
down_revision: Union[str, Sequence[str], None] = 'desk_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _fk(columns: list[str], target: list[str]) -> sa.ForeignKeyConstraint:
    # Like every other key (core_0002): deferrable on PostgreSQL, immediate on SQLite.
    if op.get_bind().dialect.name == "postgresql":
        return sa.ForeignKeyConstraint(columns, target, deferrable=True, initially="IMMEDIATE")
    return sa.ForeignKeyConstraint(columns, target)


def upgrade() -> None:
    op.create_table(
        'entry_points',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('label', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('prefill', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('prefill_key', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('topic_id', sa.Integer(), nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('created_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        _fk(['topic_id'], ['topics.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('prefill_key'),
    )
    op.create_table(
        'ticket_entry_points',
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('entry_point_id', sa.Integer(), nullable=False),
        sa.Column('created_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        _fk(['ticket_id'], ['tickets.id']),
        _fk(['entry_point_id'], ['entry_points.id']),
        sa.PrimaryKeyConstraint('ticket_id'),
    )
    op.create_index('ix_ticket_entry_points_entry_ticket', 'ticket_entry_points', ['entry_point_id', 'ticket_id'],
                    unique=False)


def downgrade() -> None:
    op.drop_index('ix_ticket_entry_points_entry_ticket', table_name='ticket_entry_points')
    op.drop_table('ticket_entry_points')
    op.drop_table('entry_points')
