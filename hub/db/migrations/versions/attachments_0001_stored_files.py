"""attachments: files kept in the database (HUB_ATTACHMENTS=database), in chunks

`stored_files` has one row per file (by SHA-256, with its size); `file_chunks` its bytes, in
pieces of `hub.storage.CHUNK` bytes, so no statement moves a whole file. PostgreSQL keeps the
chunks as they come (`STORAGE EXTERNAL`: no compression attempt, they are mostly images and PDFs).

Revision ID: attachments_0001
Revises: answers_0002
Create Date: 2026-12-03 08:10:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

import hub.db.types

revision: str = 'attachments_0001'
down_revision: Union[str, Sequence[str], None] = 'answers_0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        'stored_files',
        sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('size', sa.BigInteger(), nullable=False),
        sa.Column('created_at', hub.db.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sha256'),
    )
    op.create_table(
        'file_chunks',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint('sha256', 'seq'),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE file_chunks ALTER COLUMN data SET STORAGE EXTERNAL")


def downgrade() -> None:
    op.drop_table('file_chunks')
    op.drop_table('stored_files')
