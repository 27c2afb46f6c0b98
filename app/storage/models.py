"""SQLAlchemy ORM rows.  Only the repositories use these; other layers get domain types.

The schema itself is created by the Alembic migrations in ``migrations/versions``; a test
checks that these declarations and the migrated schema agree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("user", "assistant", "system", "narrator")


def utcnow() -> datetime:
    """Return the current time, aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC in SQLite and hands back aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Convert an aware datetime to naive UTC (naive ones are taken as UTC)."""
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Mark the stored naive UTC value as UTC."""
        return value.replace(tzinfo=UTC) if value is not None else None

    def result_processor(
        self, dialect: Dialect, coltype: object
    ) -> Callable[[Any], datetime | None] | None:
        """Parse SQLite's ISO text with ``fromisoformat`` (C, several times faster than the
        regular expression SQLAlchemy's SQLite ``DATETIME`` uses; long chats load faster)."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: Any) -> datetime | None:
            if value is None:
                return None
            if isinstance(value, str):
                return datetime.fromisoformat(value).replace(tzinfo=UTC)
            assert isinstance(value, datetime)
            return value.replace(tzinfo=UTC)

        return process


class Base(DeclarativeBase):
    """Declarative base of all Parlor tables."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON,
        list[str]: JSON,
    }


class CharacterRow(Base):
    """``characters``: one imported card."""

    __tablename__ = "characters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, nullable=False)
    card: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    avatar: Mapped[bytes | None] = mapped_column(LargeBinary)
    tags: Mapped[list[str]] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    modified_at: Mapped[datetime] = mapped_column(nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column()


class PersonaRow(Base):
    """``personas``: the user's personas."""

    __tablename__ = "personas"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    avatar: Mapped[bytes | None] = mapped_column(LargeBinary)
    is_default: Mapped[bool] = mapped_column(Boolean, nullable=False)
    description_position: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    modified_at: Mapped[datetime] = mapped_column(nullable=False)


class LorebookRow(Base):
    """``lorebooks``: book-level fields; entries are rows of ``lorebook_entries``."""

    __tablename__ = "lorebooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    character_id: Mapped[int | None] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    modified_at: Mapped[datetime] = mapped_column(nullable=False)


class LorebookEntryRow(Base):
    """``lorebook_entries``: one World Info entry, the full object in ``data``."""

    __tablename__ = "lorebook_entries"
    __table_args__ = (Index("ix_lorebook_entries_book", "lorebook_id", "position"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    lorebook_id: Mapped[int] = mapped_column(
        ForeignKey("lorebooks.id", ondelete="CASCADE"), nullable=False
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(nullable=False)


class ChatRow(Base):
    """``chats``: a chat's title, persona, metadata and the head of its active path."""

    __tablename__ = "chats"
    __table_args__ = (
        Index("ix_chats_updated", "deleted_at", "updated_at"),
        Index("ix_chats_active_root", "active_root_id"),
        Index("ix_chats_persona", "persona_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String, nullable=False)
    persona_id: Mapped[int | None] = mapped_column(ForeignKey("personas.id", ondelete="SET NULL"))
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", nullable=False)
    #: :class:`app.storage.types.ChatSettings` as JSON (author's note, overrides).
    settings: Mapped[dict[str, Any]] = mapped_column(
        nullable=False, default=dict, server_default="{}"
    )
    active_root_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL", use_alter=True, name="fk_chats_active_root")
    )
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    updated_at: Mapped[datetime] = mapped_column(nullable=False)
    deleted_at: Mapped[datetime | None] = mapped_column()


class ChatCharacterRow(Base):
    """``chat_characters``: the characters of a chat, in order (several for group chats)."""

    __tablename__ = "chat_characters"
    __table_args__ = (Index("ix_chat_characters_character", "character_id"),)

    chat_id: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    character_id: Mapped[int] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)


class MessageRow(Base):
    """``messages``: one node of a chat's tree; swipes are sibling rows."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(
            "role IN ('user', 'assistant', 'system', 'narrator')", name="ck_messages_role"
        ),
        Index("ix_messages_siblings", "chat_id", "parent_id", "sibling_index"),
        Index("ix_messages_parent", "parent_id"),
        Index("ix_messages_active_child", "active_child_id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), nullable=False)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    role: Mapped[str] = mapped_column(String, nullable=False)
    speaker: Mapped[str] = mapped_column(String, nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    gen_info: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    extra: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    active_child_id: Mapped[int | None] = mapped_column(
        ForeignKey("messages.id", ondelete="SET NULL")
    )
    sibling_index: Mapped[int] = mapped_column(Integer, nullable=False)
    token_count: Mapped[int | None] = mapped_column(Integer)
    #: Import bookkeeping of a SillyTavern message (see ``st_chats``); NULL otherwise.
    st: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))


class GroupRow(Base):
    """``groups``: a group chat's name and settings (reply strategy, prompt mode …)."""

    __tablename__ = "groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String, nullable=False)
    #: :class:`app.storage.group_types.GroupSettings` as JSON, SillyTavern's extra keys too.
    settings: Mapped[dict[str, Any]] = mapped_column(nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)
    modified_at: Mapped[datetime] = mapped_column(nullable=False)


class GroupMemberRow(Base):
    """``group_members``: a group's characters in order, each muted or not."""

    __tablename__ = "group_members"
    __table_args__ = (Index("ix_group_members_character", "character_id"),)

    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    character_id: Mapped[int] = mapped_column(
        ForeignKey("characters.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    muted: Mapped[bool] = mapped_column(Boolean, nullable=False)


class GroupChatRow(Base):
    """``group_chats``: which group a chat belongs to (one-to-one chats have no row)."""

    __tablename__ = "group_chats"
    __table_args__ = (Index("ix_group_chats_group", "group_id"),)

    chat_id: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    group_id: Mapped[int] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), nullable=False
    )


class PreferenceRow(Base):
    """``preferences``: one user preference (default format, default preset) per key."""

    __tablename__ = "preferences"

    key: Mapped[str] = mapped_column(String, primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=False)


class MemoryChunkRow(Base):
    """``memory_chunks``: one embedded chunk of a message, for long-term memory."""

    __tablename__ = "memory_chunks"
    __table_args__ = (
        Index("ix_memory_chunks_chat", "chat_id"),
        Index("ix_memory_chunks_message", "message_id", "chunk_index"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), nullable=False)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), nullable=False
    )
    chunk_index: Mapped[int] = mapped_column(Integer, nullable=False)
    #: A digest of the message text the chunk was cut from (an edit re-embeds).
    digest: Mapped[str] = mapped_column(String, nullable=False)
    #: The embedding model's name and dimension (a model change re-embeds).
    model: Mapped[str] = mapped_column(String, nullable=False)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    #: ``dim`` little-endian float32 values, normalized.
    vector: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class MemorySummaryRow(Base):
    """``memory_summaries``: a summary of a run of messages, or a pinned fact."""

    __tablename__ = "memory_summaries"
    __table_args__ = (
        Index("ix_memory_summaries_chat", "chat_id", "id"),
        {"sqlite_autoincrement": True},  # a replaced summary's id is never given again
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chats.id", ondelete="CASCADE"), nullable=False)
    #: "summary" (of ``message_ids``) or "fact" (the user's, covering no messages).
    kind: Mapped[str] = mapped_column(String, nullable=False)
    message_ids: Mapped[Any] = mapped_column(JSON, nullable=False)
    #: A digest of the summarized messages' texts: a change makes the summary stale.
    digest: Mapped[str] = mapped_column(String, nullable=False)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    pinned: Mapped[bool] = mapped_column(Boolean, nullable=False)
    created_at: Mapped[datetime] = mapped_column(nullable=False)


class MemorySettingsRow(Base):
    """``memory_settings``: a chat's memory switch and settings (no row: the defaults)."""

    __tablename__ = "memory_settings"

    chat_id: Mapped[int] = mapped_column(
        ForeignKey("chats.id", ondelete="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(nullable=False)


def table_of(row: type[Base]) -> Table:
    """Return the Core :class:`Table` of an ORM row class (typed, for Core statements)."""
    table = row.__table__
    assert isinstance(table, Table)
    return table
