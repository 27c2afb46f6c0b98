"""Cache each message's token count; index the chat list.

``messages.token_count`` lets the prompt builder skip re-tokenising old messages on long
chats.  ``ix_chats_updated`` serves "recent chats, not in the trash".

Revision ID: 0002
Revises: 0001
Create Date: 2025-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add ``messages.token_count`` (plain ALTER, so triggers and FTS stay) and an index."""
    op.add_column("messages", sa.Column("token_count", sa.Integer(), nullable=True))
    op.create_index("ix_chats_updated", "chats", ["deleted_at", "updated_at"])


def downgrade() -> None:
    """Drop the index and the column (SQLite 3.35+ drops columns in place)."""
    op.drop_index("ix_chats_updated", table_name="chats")
    op.execute("ALTER TABLE messages DROP COLUMN token_count")
