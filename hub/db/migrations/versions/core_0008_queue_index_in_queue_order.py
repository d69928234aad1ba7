"""core: the queue's index is in the queue's own order (priority first, then the longest wait)

`ix_tickets_queue` was (status, priority, queued_at): the queue asks for priority descending
and queued_at ascending, which that index cannot return in order, so every look at the waiting
lane read all waiting tickets and sorted them (2.6 ms of PostgreSQL per look at 2,500 waiting).
Rebuilt as (status, priority DESC, queued_at, id), the lane and `do_take_next` read their first
rows off the index. The counts by status use it as before.

Revision ID: core_0008
Revises: core_0007
Create Date: 2026-12-04 23:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'core_0008'
down_revision: Union[str, Sequence[str], None] = 'core_0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.drop_index('ix_tickets_queue', table_name='tickets')
    op.create_index('ix_tickets_queue', 'tickets', ['status', sa.text('priority DESC'), 'queued_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_tickets_queue', table_name='tickets')
    op.create_index('ix_tickets_queue', 'tickets', ['status', 'priority', 'queued_at'])
