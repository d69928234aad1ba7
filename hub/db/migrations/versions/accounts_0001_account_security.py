"""accounts: login throttle counters, password change time, two-factor secrets and recovery codes

Revision ID: accounts_0001
Revises: core_0003
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db.types

revision: str = 'accounts_0001'
down_revision: Union[str, Sequence[str], None] = 'core_0003'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _pg() -> bool:
    # Foreign keys are DEFERRABLE INITIALLY IMMEDIATE on PostgreSQL (see core_0002).
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    op.create_table(
        'login_throttle',
        sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.Column('expires_at', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'recovery_codes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agent_id', sa.Integer(), nullable=False),
        sa.Column('code_hash', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('created_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column('used_at', hub.db.types.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['agent_id'], ['agents.id'],
                                **({'deferrable': True, 'initially': 'IMMEDIATE'} if _pg() else {})),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('code_hash'),
    )
    op.create_index(op.f('ix_recovery_codes_agent_id'), 'recovery_codes', ['agent_id'], unique=False)
    with op.batch_alter_table('agents') as batch:
        batch.add_column(sa.Column('password_changed_at', hub.db.types.UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('totp_secret', sqlmodel.sql.sqltypes.AutoString(length=64),
                                   nullable=False, server_default=''))
        batch.add_column(sa.Column('totp_enabled_at', hub.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agents') as batch:
        batch.drop_column('totp_enabled_at')
        batch.drop_column('totp_secret')
        batch.drop_column('password_changed_at')
    op.drop_index(op.f('ix_recovery_codes_agent_id'), table_name='recovery_codes')
    op.drop_table('recovery_codes')
    op.drop_table('login_throttle')
