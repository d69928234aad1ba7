"""answers: topics (what consultations are about), their link to tickets, quick replies

Revision ID: answers_0001
Revises: reports_0001
Create Date: 2026-12-02 21:20:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db.types

revision: str = 'answers_0001'
down_revision: Union[str, Sequence[str], None] = 'reports_0001'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _fk(columns: list[str], target: list[str]) -> sa.ForeignKeyConstraint:
    # Like every other key (core_0002): deferrable on PostgreSQL, immediate on SQLite.
    if op.get_bind().dialect.name == "postgresql":
        return sa.ForeignKeyConstraint(columns, target, deferrable=True, initially="IMMEDIATE")
    return sa.ForeignKeyConstraint(columns, target)


def upgrade() -> None:
    op.create_table(
        'topics',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=60), nullable=False),
        sa.Column('names', hub.db.types.JSONData(), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('created_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_table(
        'ticket_topics',
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('topic_id', sa.Integer(), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=True),
        sa.Column('created_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        _fk(['ticket_id'], ['tickets.id']),
        _fk(['topic_id'], ['topics.id']),
        _fk(['agent_id'], ['agents.id']),
        sa.PrimaryKeyConstraint('ticket_id', 'topic_id'),
    )
    op.create_index('ix_ticket_topics_topic_ticket', 'ticket_topics', ['topic_id', 'ticket_id'], unique=False)
    op.create_table(
        'canned_responses',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('title', sqlmodel.sql.sqltypes.AutoString(length=120), nullable=False),
        sa.Column('body', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('language', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column('shortcut', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=True),
        sa.Column('created_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        _fk(['owner_id'], ['agents.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_canned_responses_owner', 'canned_responses', ['owner_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_canned_responses_owner', table_name='canned_responses')
    op.drop_table('canned_responses')
    op.drop_index('ix_ticket_topics_topic_ticket', table_name='ticket_topics')
    op.drop_table('ticket_topics')
    op.drop_table('topics')
