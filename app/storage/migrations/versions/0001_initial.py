"""Initial schema: characters, personas, lorebooks, chats, the message tree and FTS5.

Revision ID: 0001
Revises:
Create Date: 2025-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

FTS_STATEMENTS = (
    "CREATE VIRTUAL TABLE messages_fts USING fts5("
    "content, content='messages', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
    "CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.id, old.content); END",
    "CREATE TRIGGER messages_fts_update AFTER UPDATE OF content ON messages BEGIN "
    "INSERT INTO messages_fts(messages_fts, rowid, content) "
    "VALUES ('delete', old.id, old.content); "
    "INSERT INTO messages_fts(rowid, content) VALUES (new.id, new.content); END",
)


def _stamps(*names: str, nullable: bool = False) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.DateTime(), nullable=nullable) for name in names]


def upgrade() -> None:
    """Create every table, index, the FTS5 index and its triggers."""
    op.create_table(
        "characters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("card", sa.JSON(), nullable=False),
        sa.Column("avatar", sa.LargeBinary(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        *_stamps("created_at", "modified_at"),
        *_stamps("deleted_at", nullable=True),
    )
    op.create_table(
        "personas",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("avatar", sa.LargeBinary(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("description_position", sa.Integer(), nullable=False),
        *_stamps("created_at", "modified_at"),
    )
    op.create_table(
        "lorebooks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column(
            "character_id",
            sa.Integer(),
            sa.ForeignKey("characters.id", ondelete="CASCADE"),
            nullable=True,
        ),
        *_stamps("created_at", "modified_at"),
    )
    op.create_index("ix_lorebooks_character_id", "lorebooks", ["character_id"])
    op.create_table(
        "lorebook_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "lorebook_id",
            sa.Integer(),
            sa.ForeignKey("lorebooks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_lorebook_entries_book", "lorebook_entries", ["lorebook_id", "position"])
    _create_chat_tables()
    _create_messages_table()
    for statement in FTS_STATEMENTS:
        op.execute(statement)


def _create_chat_tables() -> None:
    op.create_table(
        "chats",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column(
            "persona_id",
            sa.Integer(),
            sa.ForeignKey("personas.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column(
            "active_root_id",
            sa.Integer(),
            sa.ForeignKey("messages.id", ondelete="SET NULL", name="fk_chats_active_root"),
            nullable=True,
        ),
        *_stamps("created_at", "updated_at"),
        *_stamps("deleted_at", nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "chat_characters",
        sa.Column(
            "chat_id",
            sa.Integer(),
            sa.ForeignKey("chats.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "character_id",
            sa.Integer(),
            sa.ForeignKey("characters.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_index("ix_chat_characters_character", "chat_characters", ["character_id"])
    op.create_index("ix_chats_active_root", "chats", ["active_root_id"])
    op.create_index("ix_chats_persona", "chats", ["persona_id"])


def _create_messages_table() -> None:
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "chat_id",
            sa.Integer(),
            sa.ForeignKey("chats.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("role", sa.String(), nullable=False),
        sa.Column("speaker", sa.String(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("gen_info", sa.JSON(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column(
            "active_child_id",
            sa.Integer(),
            sa.ForeignKey("messages.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("sibling_index", sa.Integer(), nullable=False),
        sa.Column("st", sa.JSON(), nullable=True),
        sa.CheckConstraint(
            "role IN ('user', 'assistant', 'system', 'narrator')", name="ck_messages_role"
        ),
        sqlite_autoincrement=True,
    )
    # Every foreign-key child column is indexed: SQLite looks them up on each delete.
    op.create_index("ix_messages_siblings", "messages", ["chat_id", "parent_id", "sibling_index"])
    op.create_index("ix_messages_parent", "messages", ["parent_id"])
    op.create_index("ix_messages_active_child", "messages", ["active_child_id"])


def downgrade() -> None:
    """Drop everything (the database is empty afterwards)."""
    for name in ("messages_fts_update", "messages_fts_delete", "messages_fts_insert"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.execute("DROP TABLE IF EXISTS messages_fts")
    for table in (
        "messages",
        "chat_characters",
        "chats",
        "lorebook_entries",
        "lorebooks",
        "personas",
        "characters",
    ):
        op.drop_table(table)
