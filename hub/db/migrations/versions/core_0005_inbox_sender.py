"""core: inbox rows know their sender (each citizen's messages in arrival order); outbox rows know when an attempt's outcome is uncertain

`inbox.sender` is the channel plus the sender's first identity (`hub.inbound.sender_key`); a
partial index on the unprocessed rows finds the oldest unprocessed row of a sender. Rows waiting
at upgrade time get their sender from their payload. `outbox.uncertain` marks a row whose last
attempt may have reached the provider unbeknown to us: the next attempt asks the provider first.

Revision ID: core_0005
Revises: reports_0002
Create Date: 2026-12-02 21:30:00
"""
import json
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = 'core_0005'
down_revision: Union[str, Sequence[str], None] = 'reports_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('inbox') as batch:
        batch.add_column(sa.Column('sender', sa.String(length=400), nullable=True))
    with op.batch_alter_table('outbox') as batch:
        batch.add_column(sa.Column('uncertain', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index('ix_inbox_sender_pending', 'inbox', ['sender', 'id'],
                    postgresql_where=sa.text('processed_at IS NULL'), sqlite_where=sa.text('processed_at IS NULL'))
    bind = op.get_bind()
    waiting = bind.execute(sa.text("SELECT id, channel, provider_id, payload FROM inbox WHERE processed_at IS NULL"))
    for row_id, channel, provider_id, payload in waiting.fetchall():
        data = json.loads(payload) if isinstance(payload, str) else payload
        first = (data.get("identities") or [None])[0]
        sender = f"{channel}:{first['kind']}:{first['value']}" if first else f"{channel}:{provider_id}"
        bind.execute(sa.text("UPDATE inbox SET sender = :s WHERE id = :i"), {"s": sender[:400], "i": row_id})


def downgrade() -> None:
    with op.batch_alter_table('outbox') as batch:
        batch.drop_column('uncertain')
    op.drop_index('ix_inbox_sender_pending', table_name='inbox')
    with op.batch_alter_table('inbox') as batch:
        batch.drop_column('sender')
