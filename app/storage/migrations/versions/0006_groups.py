"""Group chats: groups, their members (ordered, muted or not) and the chats of a group.

Existing tables are not touched: a one-to-one chat has no ``group_chats`` row, and a
group chat's messages keep their speaker in ``messages.speaker`` as every chat does.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create ``groups``, ``group_members`` and ``group_chats``."""
    op.create_table(
        "groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("modified_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "group_members",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("character_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("muted", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["character_id"], ["characters.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("group_id", "character_id"),
    )
    op.create_index("ix_group_members_character", "group_members", ["character_id"])
    op.create_table(
        "group_chats",
        sa.Column("chat_id", sa.Integer(), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["chat_id"], ["chats.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["group_id"], ["groups.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    op.create_index("ix_group_chats_group", "group_chats", ["group_id"])


def downgrade() -> None:
    """Drop the group tables (the chats and their messages stay)."""
    op.drop_index("ix_group_chats_group", table_name="group_chats")
    op.drop_table("group_chats")
    op.drop_index("ix_group_members_character", table_name="group_members")
    op.drop_table("group_members")
    op.drop_table("groups")
