"""files both ways: each agent's signature for email replies

Revision ID: files_0001
Revises: core_0005
Create Date: 2026-12-03 08:00:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'files_0001'
down_revision: Union[str, Sequence[str], None] = 'core_0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('agents') as batch:
        batch.add_column(sa.Column('signature', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('agents') as batch:
        batch.drop_column('signature')
